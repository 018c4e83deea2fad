import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { ZenalyzeServer, NetworkError, TimeoutError, ServiceUnavailableError, RateLimitError, parseRetryAfter } from '../dist/index.js';
import { startDev, faultProxy, sealEnvelope, countingFetch, freePort } from './helpers.js';

let dev;
before(async () => { dev = await startDev(); });
after(async () => { await dev?.stop(); });

const key = randomBytes(32);
const targetPort = () => Number(new URL(dev.baseUrl).port);
const via = (proxy, extra = {}) =>
  new ZenalyzeServer({ apiKey: dev.apiKey, baseUrl: `http://127.0.0.1:${proxy.port}`, timeoutMs: 5000, retryBaseDelayMs: 20, ...extra });

test('a dropped connection is retried and a retried create is stored once', async () => {
  const proxy = await faultProxy(targetPort(), (i) => (i === 0 ? 'drop' : 'forward'));
  try {
    const zen = via(proxy);
    const stored = await zen.storeEncrypted({ userId: 'usr_drop', encryptedData: sealEnvelope(key, Buffer.from('a')) });
    assert.ok(proxy.connections >= 2);
    const direct = new ZenalyzeServer({ apiKey: dev.apiKey, baseUrl: dev.baseUrl });
    const page = await direct.listRecords({ userId: 'usr_drop' });
    assert.deepEqual(page.records.map((r) => r.id), [stored.id]);
  } finally {
    await proxy.close();
  }
});

test('a create whose answer was lost is retried with the same Idempotency-Key: no duplicate', async () => {
  // Forward the first request to the gateway but cut the connection before
  // the answer reaches the SDK; the retry must replay, not create again.
  let n = 0;
  const server = net.createServer((client) => {
    const i = n++;
    const up = net.connect(targetPort(), '127.0.0.1');
    client.on('error', () => {});
    up.on('error', () => client.destroy());
    client.pipe(up);
    if (i === 0) up.once('data', () => { client.destroy(); up.destroy(); });
    else up.pipe(client);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    const zen = via({ port: server.address().port });
    const stored = await zen.storeEncrypted({ userId: 'usr_lost', encryptedData: sealEnvelope(key, Buffer.from('b')) });
    assert.equal(stored.replayed, true, 'the second attempt got the replayed first answer');
    const page = await new ZenalyzeServer({ apiKey: dev.apiKey, baseUrl: dev.baseUrl }).listRecords({ userId: 'usr_lost' });
    assert.equal(page.records.length, 1);
    assert.equal(n, 2);
  } finally {
    server.close();
  }
});

test('503 with Retry-After is honoured, then the request goes through', async () => {
  const proxy = await faultProxy(targetPort(), (i) =>
    i === 0 ? { status: 503, headers: { 'retry-after': '1', 'content-type': 'application/problem+json' }, body: '{"type":"https://zenalyze.dev/problems/unavailable","title":"Service unavailable","status":503}' } : 'forward');
  try {
    const zen = via(proxy);
    const t0 = Date.now();
    const page = await zen.listRecords({ userId: 'usr_none' });
    const waited = Date.now() - t0;
    assert.deepEqual(page.records, []);
    assert.ok(waited >= 950, `waited only ${waited} ms`);
  } finally {
    await proxy.close();
  }
});

test('429 is retried after Retry-After; exhausted retries give a typed RateLimitError', async () => {
  const body = '{"type":"https://zenalyze.dev/problems/rate-limited","title":"Rate limited","status":429,"request_id":"req_x"}';
  const p1 = await faultProxy(targetPort(), (i) => (i === 0 ? { status: 429, headers: { 'retry-after': '0' }, body } : 'forward'));
  try {
    await via(p1).listRecords({ userId: 'u' });
    assert.equal(p1.connections, 2);
  } finally {
    await p1.close();
  }
  const p2 = await faultProxy(targetPort(), () => ({ status: 429, headers: { 'retry-after': '0' }, body }));
  try {
    await assert.rejects(via(p2, { maxRetries: 2 }).listRecords({ userId: 'u' }), (e) => e instanceof RateLimitError && e.retryAfterMs === 0 && e.requestId === 'req_x');
    assert.equal(p2.connections, 3);
  } finally {
    await p2.close();
  }
  // A Retry-After longer than maxRetryDelayMs (e.g. a used-up daily quota) is not waited for.
  const p3 = await faultProxy(targetPort(), () => ({ status: 429, headers: { 'retry-after': '3600' }, body }));
  try {
    await assert.rejects(via(p3).listRecords({ userId: 'u' }), (e) => e instanceof RateLimitError && e.retryAfterMs === 3_600_000);
    assert.equal(p3.connections, 1);
  } finally {
    await p3.close();
  }
});

test('unsafe requests are not retried after a network error or a 503', async () => {
  const timeout503 = { status: 503, headers: {}, body: '{"type":"https://zenalyze.dev/problems/timeout","title":"Request timed out","status":503}' };
  const proxy = await faultProxy(targetPort(), () => timeout503);
  const sealed = { body: Buffer.from([0, 0, 0, 1, 7]), encapsulatedKey: 'ab'.repeat(32) };
  try {
    await assert.rejects(via(proxy).analyzeWithAI({ encryptedData: sealed }), (e) => e instanceof ServiceUnavailableError && e.slug === 'timeout');
    assert.equal(proxy.connections, 1, 'an analyze that may have run is sent once');
    await assert.rejects(via(proxy, { maxRetries: 3 }).listRecords({ userId: 'u' }), ServiceUnavailableError);
    assert.equal(proxy.connections, 1 + 4, 'a read is retried');
  } finally {
    await proxy.close();
  }
  // 503 `unavailable` guarantees nothing ran: even an analyze is retried.
  const p2 = await faultProxy(targetPort(), (i) =>
    i === 0 ? { status: 503, headers: { 'retry-after': '0' }, body: '{"type":"https://zenalyze.dev/problems/unavailable","title":"Service unavailable","status":503}' } : timeout503);
  try {
    await assert.rejects(via(p2).analyzeWithAI({ encryptedData: sealed }), (e) => e instanceof ServiceUnavailableError && e.slug === 'timeout');
    assert.equal(p2.connections, 2);
  } finally {
    await p2.close();
  }
});

test('connection refused gives a NetworkError after the retries; a silent server a TimeoutError', async () => {
  const port = await freePort();
  const { fetch, calls } = countingFetch();
  const zen = new ZenalyzeServer({ apiKey: dev.apiKey, baseUrl: `http://127.0.0.1:${port}`, retryBaseDelayMs: 10, maxRetries: 2, fetch });
  await assert.rejects(zen.getRecord('rec_x'), (e) => e instanceof NetworkError && e.attempts === 3 && !e.message.includes(dev.apiKey));
  assert.equal(calls.length, 3);
  const silent = net.createServer((s) => s.on('error', () => {}));
  await new Promise((r) => silent.listen(0, '127.0.0.1', r));
  try {
    const z = new ZenalyzeServer({ apiKey: dev.apiKey, baseUrl: `http://127.0.0.1:${silent.address().port}`, timeoutMs: 200, maxRetries: 1, retryBaseDelayMs: 10 });
    const t0 = Date.now();
    await assert.rejects(z.listRecords({ userId: 'u' }), (e) => e instanceof TimeoutError && e.attempts === 2);
    assert.ok(Date.now() - t0 < 3000);
  } finally {
    silent.close();
    silent.unref();
  }
});

test('Retry-After parsing: seconds and HTTP dates', () => {
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6_000);
  assert.equal(parseRetryAfter(new Date(1_000).toUTCString(), 4_000), 0);
});
