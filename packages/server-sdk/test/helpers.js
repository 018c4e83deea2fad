// Test helpers: a real `zenalyze dev` on a free loopback port, a counting
// fetch, a fault-injecting TCP proxy, and envelope sealing with the client
// SDK's format (AES-256-GCM, node:crypto) so tests need no other package.
import { spawn } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../..', import.meta.url));
export const ZENALYZE_BIN =
  process.env.ZENALYZE_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? '/root/.cache/zenalyze-target', 'debug', 'zenalyze');
export const DEV_API_KEY = 'zk_test_' + 'S'.repeat(12) + 'dkTestKey0123456789abcdefABCDEF';
export const ADMIN_TOKEN = 'sdk-test-admin-token-0123456789abcdefghijklmnop';

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `zenalyze dev` on 127.0.0.1:0 and resolves once the banner has named
 * the bound address and /v1/health answers 200 (120 s max). The server binds
 * port 0 itself, so no other process can take the port between a probe and
 * the bind. Rejects at once, with stderr, if the process exits.
 */
export async function startDev() {
  if (!existsSync(ZENALYZE_BIN)) throw new Error(`zenalyze binary not found at ${ZENALYZE_BIN} (cargo build -p zenalyze, or set ZENALYZE_BIN)`);
  const dir = mkdtempSync(path.join(tmpdir(), 'zen-sdk-dev-'));
  let stderr = '';
  let stdout = '';
  const child = spawn(ZENALYZE_BIN, ['dev', '--listen', '127.0.0.1:0', '--data-dir', path.join(dir, 'data')], {
    env: { ...process.env, ZENALYZE_DEV_API_KEY: DEV_API_KEY, ZENALYZE_ADMIN_TOKEN: ADMIN_TOKEN, ZENALYZE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const deadline = Date.now() + 120_000;
  const fail = (why) => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    return new Error(`zenalyze dev ${why} (exit code ${child.exitCode}): ${stderr}`);
  };
  let baseUrl;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw fail('exited');
    baseUrl ??= /API:\s+(http:\/\/\S+)\/v1\s/.exec(stdout)?.[1];
    if (baseUrl) {
      try {
        const r = await fetch(`${baseUrl}/v1/health`, { signal: AbortSignal.timeout(2000) });
        if (r.status === 200) break;
      } catch {
        /* not serving yet */
      }
    }
    if (Date.now() > deadline) throw fail(baseUrl ? 'did not become healthy within 120 s' : 'printed no address within 120 s');
    await sleep(100);
  }
  const publishable = /Publishable key:\s+(\S+)/.exec(stdout)?.[1];
  const devRoot = /attestation root[^:]*:\s+([0-9a-f]{64})/.exec(stdout)?.[1];
  return {
    baseUrl,
    apiKey: DEV_API_KEY,
    adminToken: ADMIN_TOKEN,
    publishableKey: publishable,
    devRootSha256: devRoot,
    dataDir: path.join(dir, 'data'),
    logs: () => stderr,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(10_000).then(() => child.kill('SIGKILL'))]);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Creates a tenant through the admin API and returns its keys. */
export async function createTenant(dev, tier, name = `sdk-${tier}-${Date.now()}`) {
  const r = await fetch(`${dev.baseUrl}/v1/admin/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${dev.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, tier }),
    signal: AbortSignal.timeout(10_000),
  });
  if (r.status !== 201) throw new Error(`create tenant: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}

/** A fetch that counts (and records method + path of) every request. */
export function countingFetch() {
  const calls = [];
  const f = (url, init) => {
    calls.push({ method: init?.method ?? 'GET', url: String(url), body: init?.body });
    return fetch(url, init);
  };
  return { fetch: f, calls };
}

/** Seals bytes into a v1 envelope (SPEC §2) and returns it in standard base64. */
export function sealEnvelope(key, plaintext, aad) {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  if (aad) c.setAAD(aad);
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([Buffer.from([1]), iv, c.getAuthTag(), ct]).toString('base64');
}

/**
 * A TCP proxy in front of `target` (host:port). `plan` is consulted once per
 * incoming connection with its index and returns 'forward', 'drop' (close at
 * once), or `{ status, headers, body }` (answer this HTTP response and close).
 */
export async function faultProxy(targetPort, plan) {
  let n = 0;
  const sockets = new Set();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    const action = plan(n++);
    if (action === 'drop') {
      client.once('data', () => client.destroy());
      return;
    }
    if (action !== 'forward') {
      client.once('data', () => {
        const body = action.body ?? '';
        const head = [`HTTP/1.1 ${action.status} X`, `content-length: ${Buffer.byteLength(body)}`, 'connection: close'];
        for (const [k, v] of Object.entries(action.headers ?? {})) head.push(`${k}: ${v}`);
        client.end(head.join('\r\n') + '\r\n\r\n' + body);
      });
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    get connections() {
      return n;
    },
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
