// The S3 tests' server: s3rver (npm @20minutes/s3rver, which checks SigV4
// header and query signatures; upstream s3rver 3.7 accepts any signature
// of a known key) on loopback, and in front of it a fault proxy on a port
// of its own, which forwards every request unchanged (the Host header too,
// so signatures still hold) unless a fault was armed for it.
//
// usage: node s3rver.cjs JS_DIR DATA_DIR ENV_FILE
// Writes S3_PORT=... and S3_PROXY_PORT=... to ENV_FILE once both listen.
//
// The proxy's control routes (unsigned, only under /__faults):
//   POST /__faults {"match": "substring of the path", "status": 503,
//                   "code": "SlowDown", "count": 2}  answer that, count times
//   POST /__faults {"match": ..., "reset": true, "count": 1}
//                   close the connection without an answer
//   POST /__faults {"match": ..., "cut_after": N, "count": 1}
//                   forward, but break the connection after N body bytes
//   POST /__faults {"match": ..., "delay_ms": N, "count": 5}
//                   forward once the request's body came, N ms later (a
//                   slow bucket: each of the next 5 requests takes N ms more)
//   "match" may be a list of substrings: the path must have each; with
//   "method": "M" a fault is for requests of that method only.
//   GET  /__faults?match=S[&method=M]   {"seen": requests (of method M) whose
//                   path had S, "ranges": their Range headers}
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const [jsDir, dataDir, envFile] = process.argv.slice(2);
const S3rver = require(path.resolve(jsDir, 'node_modules', '@20minutes', 's3rver'));

const faults = [];
const seen = [];

function control(req, res) {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const u = new URL(req.url, 'http://x');
    if (req.method === 'POST') {
      const f = JSON.parse(body);
      faults.push(f);
      res.writeHead(204).end();
      return;
    }
    const m = u.searchParams.get('match') || '';
    const method = u.searchParams.get('method');
    const hits = seen.filter((s) => s.path.includes(m) && (!method || s.method === method));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ seen: hits.length, ranges: hits.map((s) => s.range || '') }));
  });
}

function proxy(upstreamPort) {
  return http.createServer((req, res) => {
    if (req.url.startsWith('/__faults')) return control(req, res);
    seen.push({ path: req.url, method: req.method, range: req.headers.range });
    const hit = (f) =>
      [].concat(f.match).every((m) => req.url.includes(m)) && (!f.method || f.method === req.method);
    const i = faults.findIndex((f) => hit(f) && f.count > 0);
    const f = i >= 0 ? faults[i] : null;
    if (f) f.count--;
    if (f && f.reset) {
      req.socket.destroy();
      return;
    }
    if (f && f.status) {
      req.resume();
      const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${f.code || 'InternalError'}</Code><Message>injected by the test proxy</Message></Error>`;
      res.writeHead(f.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
      res.end(xml);
      return;
    }
    if (f && f.delay_ms) {
      // the body is read first (held here), then forwarded after the delay
      const chunks = [];
      req.on('data', (d) => chunks.push(d));
      req.on('end', () =>
        setTimeout(() => forward(upstreamPort, req, res, null, Buffer.concat(chunks)), f.delay_ms),
      );
      return;
    }
    forward(upstreamPort, req, res, f, null);
  });
}

// Forward req upstream; body: the request's body read already (else piped).
function forward(upstreamPort, req, res, f, body) {
  const up = http.request(
    { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers },
    (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      if (f && f.cut_after !== undefined) {
        let sent = 0;
        ur.on('data', (d) => {
          if (sent + d.length > f.cut_after) {
            res.write(d.subarray(0, f.cut_after - sent));
            res.socket.destroy();
            ur.destroy();
            return;
          }
          sent += d.length;
          res.write(d);
        });
        ur.on('end', () => res.end());
      } else {
        ur.pipe(res);
      }
    },
  );
  up.on('error', () => res.socket && res.socket.destroy());
  if (body) up.end(body);
  else req.pipe(up);
}

async function main() {
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    directory: dataDir,
    silent: true,
    serviceEndpoint: 'localhost', // BUCKET.s3.localhost: virtual-host style
  });
  const { port } = await server.run();
  const p = proxy(port);
  await new Promise((ok) => p.listen(0, '127.0.0.1', ok));
  fs.writeFileSync(envFile + '.tmp', `S3_PORT=${port}\nS3_PROXY_PORT=${p.address().port}\n`);
  fs.renameSync(envFile + '.tmp', envFile);
  // close() waits for open connections, and the proxy's keep-alive ones to
  // s3rver (Node 20's default agent keeps them) may stay for a long time:
  // everything s3rver keeps is on disk per request, so after a second the
  // process goes whatever is still open
  const stop = () => {
    p.close();
    if (p.closeAllConnections) p.closeAllConnections();
    server.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
