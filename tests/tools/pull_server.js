// Test server for `llmchain pull`: prints its port on stdout, then serves
//   /model.gguf  1 MiB of deterministic bytes after the GGUF magic, honouring "Range: bytes=N-"
//   /cut.gguf    the same bytes; without a Range header the connection is cut
//                after the first 300000 bytes (Content-Length announces all)
//   /slow.gguf   the same bytes in 16 KiB pieces over about a second (progress redraws)
//   /page.gguf   HTTP 200 with an HTML page (not GGUF: a login or error page)
//   /error.gguf  HTTP 500
const http = require('http');

const size = 1 << 20;
const body = Buffer.alloc(size);
let s = 12345;
for (let i = 0; i < size; i++) {
  s = (s * 1103515245 + 12345) >>> 0;
  body[i] = s >>> 24;
}
body.write('GGUF', 0, 'latin1');

function sendRange(req, res) {
  const m = /^bytes=(\d+)-$/.exec(req.headers.range || '');
  if (!m) return false;
  const start = Number(m[1]);
  if (start >= size) {
    res.writeHead(416, {'Content-Range': `bytes */${size}`});
    res.end();
    return true;
  }
  res.writeHead(206, {'Content-Length': size - start, 'Content-Range': `bytes ${start}-${size - 1}/${size}`});
  res.end(body.subarray(start));
  return true;
}

const server = http.createServer((req, res) => {
  if (req.url === '/error.gguf') {
    res.writeHead(500, {'Content-Type': 'text/plain'});
    res.end('internal error');
  } else if (req.url === '/model.gguf') {
    if (sendRange(req, res)) return;
    res.writeHead(200, {'Content-Length': size});
    res.end(body);
  } else if (req.url === '/slow.gguf') {
    res.writeHead(200, {'Content-Length': size});
    const piece = 16384;
    let at = 0;
    const next = () => {
      if (at >= size) return res.end();
      res.write(body.subarray(at, at + piece));
      at += piece;
      setTimeout(next, 1000 * piece / size);
    };
    next();
  } else if (req.url === '/page.gguf') {
    res.writeHead(200, {'Content-Type': 'text/html'});
    res.end('<!doctype html><html><body>Sign in to download this file</body></html>\n');
  } else if (req.url === '/cut.gguf') {
    if (sendRange(req, res)) return;
    res.writeHead(200, {'Content-Length': size});
    res.write(body.subarray(0, 300000), () => setTimeout(() => req.socket.destroy(), 50));
  } else {
    res.writeHead(404);
    res.end('not found');
  }
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
