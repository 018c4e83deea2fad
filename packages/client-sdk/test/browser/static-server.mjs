// A tiny static HTTP server on 127.0.0.1 (ephemeral port) for the browser
// tests and the benchmark: serves the built ESM (/dist/), the test files
// (/test/), the bench pages (/bench/) and the cross-language vectors
// (/vectors/v1.json, /vectors/hpke.json) and the Nitro fixtures (/fixtures/nitro/);
// with `enclave`, also /enclave-info.json and a same-origin proxy /enclave/* to it. Nothing outside those roots is reachable.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

// Request headers forwarded to the proxied enclave, and response headers returned.
const PROXY_REQUEST_HEADERS = ['content-type', 'ehbp-encapsulated-key', 'authorization', 'accept'];
const PROXY_RESPONSE_HEADERS = ['content-type', 'ehbp-response-nonce', 'cache-control'];

async function proxy(req, res, target) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const headers = {};
  for (const h of PROXY_REQUEST_HEADERS) if (req.headers[h]) headers[h] = req.headers[h];
  const upstream = await fetch(target, {
    method: req.method,
    headers,
    body: req.method === 'GET' || req.method === 'HEAD' ? undefined : Buffer.concat(chunks),
  });
  const out = { 'cache-control': 'no-store' };
  for (const h of PROXY_RESPONSE_HEADERS) {
    const v = upstream.headers.get(h);
    if (v !== null) out[h] = v;
  }
  res.writeHead(upstream.status, out);
  res.end(Buffer.from(await upstream.arrayBuffer()));
}

export async function startServer({ vectorsPath, hpkeVectorsPath, fixturesDir, index, enclave }) {
  const roots = { dist: 'dist', test: 'test', bench: 'bench' };
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      let file;
      if (url.pathname === '/enclave-info.json') {
        if (!enclave) throw Object.assign(new Error('not found'), { status: 404 });
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify(enclave.info));
        return;
      }
      if (url.pathname.startsWith('/enclave/') && enclave) {
        // Same-origin proxy to the Rust enclave, so the page needs no CORS.
        await proxy(req, res, enclave.baseUrl + url.pathname.slice('/enclave'.length) + url.search);
        return;
      }
      if (url.pathname === '/' || url.pathname === '/index.html') {
        file = path.join(PACKAGE_ROOT, index);
      } else if (url.pathname === '/vectors/v1.json') {
        file = vectorsPath;
      } else if (url.pathname === '/vectors/hpke.json' && hpkeVectorsPath) {
        file = hpkeVectorsPath;
      } else if (url.pathname.startsWith('/fixtures/nitro/') && fixturesDir) {
        const name = url.pathname.slice('/fixtures/nitro/'.length);
        if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith('.')) throw Object.assign(new Error('forbidden'), { status: 403 });
        file = path.join(fixturesDir, name);
      } else {
        const [, top, ...rest] = url.pathname.split('/');
        const root = roots[top];
        if (!root) throw Object.assign(new Error('not found'), { status: 404 });
        const base = path.join(PACKAGE_ROOT, root);
        file = path.normalize(path.join(base, ...rest.map(decodeURIComponent)));
        if (!file.startsWith(base + path.sep)) throw Object.assign(new Error('forbidden'), { status: 403 });
      }
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-store',
      });
      res.end(body);
    } catch (err) {
      const status = err.status ?? (err.code === 'ENOENT' ? 404 : 500);
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(String(status));
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return { server, origin: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}
