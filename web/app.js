// llmchain playground: chat (streamed from /v1/chat/completions) and chains (/chains/*).
// Every string that comes from a model or the server is put into the page with textContent
// (never innerHTML), so model output such as <script> or <img onerror> shows as text.
'use strict';

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = 'llmchain.apiKey';

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

// ---- Safe markdown: fenced code blocks, inline code, bold, italics, headings, lists, paragraphs.
function renderInline(parent, text) {
  const re = /(`[^`\n]+`|\*\*[^*\n]+\*\*|\*[^*\n]+\*)/g;
  let last = 0, m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
    const t = m[0];
    if (t.startsWith('`')) parent.appendChild(el('code', '', t.slice(1, -1)));
    else if (t.startsWith('**')) parent.appendChild(el('strong', '', t.slice(2, -2)));
    else parent.appendChild(el('em', '', t.slice(1, -1)));
    last = m.index + t.length;
  }
  if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
}

function renderMarkdown(text) {
  const root = el('div', 'md');
  const lines = String(text).split('\n');
  let para = [], list = null;
  const flushPara = () => {
    if (para.length) { const p = el('p'); renderInline(p, para.join('\n')); root.appendChild(p); para = []; }
  };
  const flushList = () => { if (list) { root.appendChild(list); list = null; } };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = line.match(/^\s*```\s*([\w+-]*)\s*$/);
    if (fence) {
      flushPara(); flushList();
      const code = [];
      for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]); i++) code.push(lines[i]);
      const pre = el('pre'), c = el('code', '', code.join('\n'));
      if (fence[1]) c.dataset.lang = fence[1];
      pre.appendChild(c); root.appendChild(pre);
      continue;
    }
    const h = line.match(/^(#{1,4})\s+(.*)$/);
    const li = line.match(/^\s*(?:[-*]|\d+\.)\s+(.*)$/);
    if (h) { flushPara(); flushList(); const e = el('h' + Math.min(6, h[1].length + 2)); renderInline(e, h[2]); root.appendChild(e); }
    else if (li) { flushPara(); if (!list) list = el(/^\s*\d/.test(line) ? 'ol' : 'ul'); const e = el('li'); renderInline(e, li[1]); list.appendChild(e); }
    else if (line.trim() === '') { flushPara(); flushList(); }
    else { flushList(); para.push(line); }
  }
  flushPara(); flushList();
  return root;
}

// ---- API key and fetch.
function apiKey() { return sessionStorage.getItem(KEY_STORAGE) || ''; }

function askKey() {
  return new Promise((resolve) => {
    const d = $('key-dialog');
    $('key-input').value = apiKey();
    d.addEventListener('close', () => {
      if (d.returnValue === 'ok' && $('key-input').value) sessionStorage.setItem(KEY_STORAGE, $('key-input').value);
      resolve(d.returnValue === 'ok');
    }, {once: true});
    d.showModal();
  });
}

async function api(path, options = {}, retried = false) {
  const headers = Object.assign({}, options.headers || {});
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const key = apiKey();
  if (key) headers['Authorization'] = 'Bearer ' + key;
  const res = await fetch(path, Object.assign({}, options, {headers}));
  if (res.status === 401 && !retried && await askKey()) return api(path, options, true);
  return res;
}

async function errorText(res) {
  const t = await res.text();
  try { return 'HTTP ' + res.status + ': ' + JSON.parse(t).error.message; } catch (e) { return 'HTTP ' + res.status + ': ' + t; }
}

// Yields {event, data} for each SSE event of a fetch Response.
async function* sseEvents(res) {
  const reader = res.body.getReader(), dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    buf += dec.decode(value, {stream: true});
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i); buf = buf.slice(i + 2);
      let event = 'message'; const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) yield {event, data: data.join('\n')};
    }
  }
}

// ---- Chat.
const chat = {history: [], controller: null};

function addMessage(role, text) {
  const m = el('div', 'msg ' + role);
  m.appendChild(el('div', 'role', role));
  const body = el('div', 'body');
  if (role === 'user') body.textContent = text; else body.appendChild(renderMarkdown(text || ''));
  m.appendChild(body);
  const stats = el('div', 'stats');
  m.appendChild(stats);
  $('messages').appendChild(m);
  $('messages').scrollTop = $('messages').scrollHeight;
  return {m, body, stats};
}

function chatRequest() {
  const msgs = [];
  const system = $('set-system').value.trim();
  if (system) msgs.push({role: 'system', content: system});
  const req = {messages: msgs.concat(chat.history), stream: true, stream_options: {include_usage: true}};
  const num = (id, parse) => { const v = $(id).value.trim(); return v === '' ? undefined : parse(v); };
  const t = num('set-temperature', parseFloat), p = num('set-top-p', parseFloat);
  const mt = num('set-max-tokens', (v) => parseInt(v, 10)), seed = num('set-seed', (v) => parseInt(v, 10));
  if (t !== undefined) req.temperature = t;
  if (p !== undefined) req.top_p = p;
  if (mt !== undefined) req.max_tokens = mt;
  if (seed !== undefined) req.seed = seed;
  const schema = $('set-schema').value.trim();
  $('schema-error').hidden = true;
  if (schema) {
    try {
      req.response_format = {type: 'json_schema', json_schema: {name: 'answer', schema: JSON.parse(schema)}};
    } catch (e) {
      $('schema-error').textContent = 'JSON schema is not valid JSON: ' + e.message;
      $('schema-error').hidden = false;
      return null;
    }
  }
  return req;
}

async function sendChat(text) {
  chat.history.push({role: 'user', content: text});
  const req = chatRequest();
  if (!req) { chat.history.pop(); return; }
  addMessage('user', text);
  const view = addMessage('assistant', '');
  view.m.classList.add('streaming');
  const controller = new AbortController();
  chat.controller = controller;
  $('send').disabled = true; $('stop').disabled = false; $('chat-status').textContent = 'generating…';
  const t0 = performance.now();
  let first = null, reply = '', pieces = 0, usage = null, stopped = false, failed = '';
  try {
    const res = await api('/v1/chat/completions', {method: 'POST', body: JSON.stringify(req), signal: controller.signal});
    if (!res.ok) { failed = await errorText(res); }
    else {
      for await (const ev of sseEvents(res)) {
        if (ev.data === '[DONE]') break;
        const j = JSON.parse(ev.data);
        if (j.error) { failed = j.error.message; break; }
        if (j.usage) usage = j.usage;
        const c = j.choices && j.choices[0] && j.choices[0].delta && j.choices[0].delta.content;
        if (c) {
          if (first === null) first = performance.now();
          reply += c; pieces++;
          view.body.replaceChildren(renderMarkdown(reply));
          $('messages').scrollTop = $('messages').scrollHeight;
        }
      }
    }
  } catch (e) {
    if (e.name === 'AbortError') stopped = true; else failed = String(e.message || e);
  }
  const t1 = performance.now();
  view.m.classList.remove('streaming');
  chat.controller = null;
  $('send').disabled = false; $('stop').disabled = true;
  if (failed) { view.body.replaceChildren(el('p', 'error', failed)); chat.history.pop(); $('chat-status').textContent = ''; return; }
  chat.history.push({role: 'assistant', content: reply});
  const tokens = usage ? usage.completion_tokens : pieces;
  const genS = first === null ? 0 : (t1 - first) / 1000;
  const parts = [];
  if (first !== null) parts.push('first token ' + Math.round(first - t0) + ' ms');
  parts.push(tokens + ' tokens');
  if (genS > 0 && tokens > 1) parts.push(((tokens - 1) / genS).toFixed(1) + ' tokens/s');
  if (stopped) parts.push('stopped');
  view.stats.textContent = parts.join(' · ');
  view.m.dataset.done = stopped ? 'stopped' : 'done';
  $('chat-status').textContent = stopped ? 'stopped' : '';
}

function stopChat() { if (chat.controller) chat.controller.abort(); }

// ---- Chains.
const chains = {current: null, schema: null, controller: null};

function fieldFor(name, prop, required) {
  const label = el('label', '', name + (required ? ' *' : ''));
  const type = prop && prop.type;
  let input;
  if (type === 'number' || type === 'integer') { input = el('input'); input.type = 'number'; }
  else if (type === 'boolean') { input = el('input'); input.type = 'checkbox'; input.style.width = 'auto'; }
  else { input = el('textarea'); input.rows = type === 'object' || type === 'array' ? 4 : 2; }
  input.name = name;
  input.dataset.type = type || 'string';
  if (prop && prop.description) input.placeholder = prop.description;
  if (prop && prop.default !== undefined) input.value = typeof prop.default === 'string' ? prop.default : JSON.stringify(prop.default);
  label.appendChild(input);
  return label;
}

async function selectChain(info, button) {
  for (const b of document.querySelectorAll('#chain-list button')) b.classList.toggle('active', b === button);
  chains.current = info.name;
  $('chain-detail').hidden = false;
  $('chain-name').textContent = info.name;
  $('chain-description').textContent = info.description || '';
  $('chain-output').textContent = ''; $('chain-parsed-wrap').hidden = true;
  const fields = $('chain-fields');
  fields.replaceChildren();
  const res = await api('/chains/' + encodeURIComponent(info.name) + '/input_schema');
  const schema = res.ok ? await res.json() : {};
  chains.schema = schema;
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const names = Object.keys(props).length ? Object.keys(props) : (info.input_variables || []);
  if (!names.length) fields.appendChild(fieldFor('input', {type: 'object', description: 'input as JSON'}, true));
  for (const n of names) fields.appendChild(fieldFor(n, props[n] || {type: 'string'}, required.has(n)));
}

function chainInput() {
  const inputs = $('chain-fields').querySelectorAll('input, textarea');
  const schemaless = !Object.keys((chains.schema && chains.schema.properties) || {}).length && inputs.length === 1 && inputs[0].name === 'input';
  const read = (i) => {
    const t = i.dataset.type;
    if (t === 'boolean') return i.checked;
    if (t === 'number' || t === 'integer') return i.value === '' ? undefined : Number(i.value);
    if (t === 'object' || t === 'array') { try { return JSON.parse(i.value); } catch (e) { return i.value; } }
    return i.value;
  };
  if (schemaless) return read(inputs[0]);
  const out = {};
  for (const i of inputs) { const v = read(i); if (v !== undefined) out[i.name] = v; }
  return out;
}

function chainConfig() {
  const s = $('chain-session').value.trim();
  return s ? {configurable: {session_id: s}} : {};
}

function showChainOutput(output) {
  $('chain-output').textContent = typeof output === 'string' ? output : JSON.stringify(output, null, 2);
  let parsed = null;
  if (output !== null && typeof output === 'object') parsed = output;
  else if (typeof output === 'string') { try { const p = JSON.parse(output); if (p && typeof p === 'object') parsed = p; } catch (e) { /* plain text */ } }
  $('chain-parsed-wrap').hidden = parsed === null;
  if (parsed !== null) $('chain-parsed').textContent = JSON.stringify(parsed, null, 2);
}

function chainBusy(busy, status) {
  $('chain-invoke').disabled = busy; $('chain-stream').disabled = busy; $('chain-stop').disabled = !busy;
  $('chain-status').textContent = status || '';
}

async function runChain(stream) {
  const name = chains.current;
  if (!name) return;
  const body = JSON.stringify({input: chainInput(), config: chainConfig()});
  const controller = new AbortController();
  chains.controller = controller;
  $('chain-output').textContent = ''; $('chain-parsed-wrap').hidden = true;
  chainBusy(true, stream ? 'streaming…' : 'running…');
  const t0 = performance.now();
  let status = '';
  try {
    const res = await api('/chains/' + encodeURIComponent(name) + (stream ? '/stream' : '/invoke'),
                          {method: 'POST', body, signal: controller.signal});
    if (!res.ok) { $('chain-output').textContent = await errorText(res); status = 'error'; }
    else if (!stream) { showChainOutput((await res.json()).output); }
    else {
      // LangServe's stream: text pieces add up; JSON chains stream the value parsed so far;
      // list parsers stream one-item lists. "end" carries nothing: the last state is the output.
      let text = '', value, failed = false;
      for await (const ev of sseEvents(res)) {
        if (ev.event === 'data') {
          const d = JSON.parse(ev.data);
          if (typeof d === 'string') { text += d; value = text; $('chain-output').textContent = text; }
          else if (Array.isArray(d) && Array.isArray(value)) { value = value.concat(d); showChainOutput(value); }
          else if (d && typeof d === 'object' && value && typeof value === 'object' && !Array.isArray(value)) {
            // Chains with several outputs stream {"key": piece} (pieces add up per key); JSON
            // chains stream the whole value parsed so far (it replaces the last one).
            const merged = {...value};
            for (const [k, v] of Object.entries(d)) {
              const old = merged[k];
              merged[k] = typeof old === 'string' && typeof v === 'string' && !v.startsWith(old) ? old + v : v;
            }
            value = merged; showChainOutput(value);
          } else { value = d; showChainOutput(value); }
        } else if (ev.event === 'end') {
          if (value !== undefined) showChainOutput(value);
        } else if (ev.event === 'error') {
          const d = JSON.parse(ev.data);
          $('chain-output').textContent = text + '\n[error] ' + (d.message || (d.error && d.error.message));
          failed = true;
        }
      }
      if (failed) status = 'error';
      else if (value !== undefined) showChainOutput(value);
    }
  } catch (e) {
    status = e.name === 'AbortError' ? 'stopped' : 'error: ' + e.message;
  }
  chains.controller = null;
  chainBusy(false, status || ((performance.now() - t0) / 1000).toFixed(2) + ' s');
}

async function loadChains(select) {
  const list = $('chain-list');
  list.replaceChildren();
  const res = await api('/chains');
  if (!res.ok) { list.appendChild(el('li', 'error', await errorText(res))); return; }
  const data = (await res.json()).data || [];
  $('chains-empty').hidden = data.length > 0;
  for (const c of data) {
    const li = el('li'), b = el('button', '', c.name);
    b.type = 'button'; b.title = c.description || ''; b.dataset.chain = c.name;
    b.addEventListener('click', () => selectChain(c, b));
    li.appendChild(b); list.appendChild(li);
    if (c.name === select) selectChain(c, b);
  }
}

// ---- Wiring.
function showTab(button) {
  for (const t of document.querySelectorAll('.tab')) {
    t.classList.toggle('active', t === button);
    $(t.dataset.panel).hidden = t !== button;
  }
  if (button.id === 'tab-chains') loadChains();
}

async function loadModel() {
  const res = await api('/v1/models');
  if (res.ok) { const d = (await res.json()).data; if (d && d[0]) $('model').textContent = d[0].id; }
}

function init() {
  for (const t of document.querySelectorAll('.tab')) t.addEventListener('click', () => showTab(t));
  $('chat-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('chat-input').value.trim();
    if (!text || chat.controller) return;
    $('chat-input').value = '';
    sendChat(text);
  });
  $('chat-input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); $('chat-form').requestSubmit(); }
  });
  $('stop').addEventListener('click', stopChat);
  $('clear').addEventListener('click', () => { stopChat(); chat.history = []; $('messages').replaceChildren(); });
  $('chain-form').addEventListener('submit', (e) => { e.preventDefault(); runChain(false); });
  $('chain-stream').addEventListener('click', () => runChain(true));
  $('chain-stop').addEventListener('click', () => { if (chains.controller) chains.controller.abort(); });
  $('key-button').addEventListener('click', () => askKey());
  loadModel();
  // /chains/{name}/playground sends here with ?chain=NAME: open the chains tab on it.
  const wanted = new URLSearchParams(window.location.search).get('chain');
  if (wanted) {
    for (const t of document.querySelectorAll('.tab')) {
      t.classList.toggle('active', t.id === 'tab-chains');
      $(t.dataset.panel).hidden = t.id !== 'tab-chains';
    }
    loadChains(wanted);
  }
}

window.llmchain = {renderMarkdown, sseEvents};
document.addEventListener('DOMContentLoaded', init);
