#pragma once
// The small chat page served at "/" (disable with --no-ui). Streams from
// /v1/chat/completions; the API key, if any, is typed into the page.
namespace llmchain::server {

inline constexpr const char* kUiPage = R"HTML(<!doctype html>
<html><head><meta charset="utf-8"><title>llmchain</title>
<style>body{font-family:sans-serif;max-width:48rem;margin:2rem auto}#log{white-space:pre-wrap;border:1px solid #ccc;
padding:1rem;min-height:12rem}textarea{width:100%;height:4rem}</style></head>
<body><h1>llmchain</h1><div id="log"></div>
<p><textarea id="msg" placeholder="Say something"></textarea></p>
<p><input id="key" placeholder="API key (optional)"> <button id="send">Send</button></p>
<script>
const log = document.getElementById('log'), msgs = [];
document.getElementById('send').onclick = async () => {
  const text = document.getElementById('msg').value; if (!text) return;
  msgs.push({role: 'user', content: text}); log.textContent += '\nyou: ' + text + '\nassistant: ';
  const headers = {'Content-Type': 'application/json'}, key = document.getElementById('key').value;
  if (key) headers['Authorization'] = 'Bearer ' + key;
  const res = await fetch('/v1/chat/completions', {method: 'POST', headers,
    body: JSON.stringify({messages: msgs, stream: true})});
  if (!res.ok) { log.textContent += '[error ' + res.status + '] ' + await res.text(); return; }
  const reader = res.body.getReader(), dec = new TextDecoder(); let buf = '', reply = '';
  for (;;) {
    const {done, value} = await reader.read(); if (done) break;
    buf += dec.decode(value, {stream: true}); let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 2);
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      const c = JSON.parse(line.slice(6)).choices?.[0]?.delta?.content || '';
      reply += c; log.textContent += c;
    }
  }
  msgs.push({role: 'assistant', content: reply});
};
</script></body></html>
)HTML";

}  // namespace llmchain::server
