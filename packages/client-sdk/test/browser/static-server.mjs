// A tiny static HTTP server on 127.0.0.1 (ephemeral port) for the browser
// tests and the benchmark: serves the built ESM (/dist/), the test files
// (/test/), the bench pages (/bench/) and the cross-language vectors
// (/vectors/v1.json, /vectors/hpke.json) and the Nitro fixtures (/fixtures/nitro/). Nothing outside those roots is reachable.
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

export async function startServer({ vectorsPath, hpkeVectorsPath, fixturesDir, index }) {
  const roots = { dist: 'dist', test: 'test', bench: 'bench' };
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      let file;
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
