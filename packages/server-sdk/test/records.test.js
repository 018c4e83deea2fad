import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import {
  ZenalyzeServer, InvalidEnvelopeError, InvalidArgumentError, NotFoundError, AuthenticationError,
  ConfigurationError, ValidationError, ConflictError, ApiError, validateEnvelope,
} from '../dist/index.js';
import { startDev, countingFetch, sealEnvelope } from './helpers.js';

let dev;
before(async () => { dev = await startDev(); });
after(async () => { await dev?.stop(); });

const key = randomBytes(32);
const client = (extra = {}) => new ZenalyzeServer({ apiKey: dev.apiKey, baseUrl: dev.baseUrl, timeoutMs: 10_000, ...extra });

test('store, read, list and delete an encrypted record', async () => {
  const zen = client();
  const env = sealEnvelope(key, Buffer.from('{"entry":"slept badly"}'));
  const stored = await zen.storeEncrypted({ userId: 'usr_read', encryptedData: env, metadata: { kind: 'journal' } });
  assert.match(stored.id, /^rec_/);
  assert.equal(stored.userId, 'usr_read');
  assert.equal(stored.size, Buffer.from(env, 'base64').length);
  assert.equal(stored.replayed, false);
  const got = await zen.getRecord(stored.id);
  assert.deepEqual(got, { id: stored.id, userId: 'usr_read', encryptedData: env, metadata: { kind: 'journal' }, createdAt: stored.createdAt });
  const second = await zen.storeEncrypted({ userId: 'usr_read', encryptedData: sealEnvelope(key, Buffer.from('2')) });
  const page = await zen.listRecords({ userId: 'usr_read', limit: 1 });
  assert.equal(page.records.length, 1);
  assert.equal(page.records[0].id, second.id, 'newest first');
  assert.equal(typeof page.nextCursor, 'string');
  const rest = await zen.listRecords({ userId: 'usr_read', limit: 1, cursor: page.nextCursor });
  assert.equal(rest.records[0].id, stored.id);
  const all = [];
  for await (const r of zen.iterateRecords({ userId: 'usr_read', limit: 1 })) all.push(r.id);
  assert.deepEqual(all, [second.id, stored.id]);
  await zen.deleteRecord(stored.id);
  await assert.rejects(zen.getRecord(stored.id), (e) => e instanceof NotFoundError && e.status === 404 && e.type === 'https://zenalyze.dev/problems/not-found' && /^req_/.test(e.requestId));
  await assert.rejects(zen.deleteRecord(stored.id), NotFoundError);
});

test('plaintext and malformed envelopes are refused locally and nothing is sent', async () => {
  const { fetch, calls } = countingFetch();
  const zen = client({ fetch });
  const good = sealEnvelope(key, Buffer.from('xy')); // 31 bytes: ends with '=='
  assert.ok(good.endsWith('=='));
  let urlSafe;
  do urlSafe = sealEnvelope(key, Buffer.from('xy')); while (!/[+/]/.test(urlSafe));
  const cases = [
    ['{"entry":"I feel hopeless"}', 'invalid_base64'],
    ['I feel hopeless today', 'invalid_base64'],
    [Buffer.from('I feel hopeless today, really hopeless').toString('base64'), 'unsupported_version'],
    [good.replace(/=+$/, ''), 'invalid_base64'],
    [urlSafe.replace(/\+/g, '-').replace(/\//g, '_'), 'invalid_base64'],
    [good.slice(0, 4) + '\n' + good.slice(4, -1), 'invalid_base64'],
    [` ${good}`, 'invalid_base64'],
    ['', 'too_short'],
    [Buffer.from([1, 2, 3]).toString('base64'), 'too_short'],
    [Buffer.concat([Buffer.from([2]), randomBytes(40)]).toString('base64'), 'unsupported_version'],
    ['AR==', 'invalid_base64'],
  ];
  for (const [data, code] of cases) {
    await assert.rejects(zen.storeEncrypted({ userId: 'u1', encryptedData: data }), (e) => {
      assert.ok(e instanceof InvalidEnvelopeError, `${e}`);
      assert.equal(e.code, code);
      assert.ok(!e.message.includes('hopeless'));
      return true;
    });
  }
  await assert.rejects(zen.storeEncrypted({ userId: 'u1', encryptedData: { entry: 'x' } }), InvalidEnvelopeError);
  await assert.rejects(zen.storeEncrypted({ userId: 'alice@example.com', encryptedData: good }), InvalidArgumentError);
  assert.equal(calls.length, 0, 'no request may leave the backend');
  // The same local rules as the gateway: the 29-byte minimum is accepted.
  const min = Buffer.concat([Buffer.from([1]), randomBytes(28)]).toString('base64');
  assert.deepEqual(validateEnvelope(min), { version: 1, size: 29 });
  await zen.storeEncrypted({ userId: 'u1', encryptedData: min });
  assert.equal(calls.length, 1);
});

test('the local check agrees with the gateway on the cross-language negative vectors', async () => {
  const { readFileSync } = await import('node:fs');
  const { REPO } = await import('./helpers.js');
  const doc = JSON.parse(readFileSync(`${REPO}/test-vectors/v1.json`, 'utf8'));
  const structural = doc.negative.filter((c) => c.error !== 'authentication_failed');
  assert.ok(structural.length > 0);
  for (const c of structural) {
    assert.throws(() => validateEnvelope(c.envelope_b64), (e) => e instanceof InvalidEnvelopeError && e.code === c.error, c.name);
    const r = await fetch(`${dev.baseUrl}/v1/records`, {
      method: 'POST',
      headers: { authorization: `Bearer ${dev.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: 'u2', envelope: c.envelope_b64 }),
    });
    const p = await r.json();
    assert.equal(r.status, 422, c.name);
    assert.equal(p.code, c.error, c.name);
  }
  for (const c of doc.positive) assert.equal(validateEnvelope(c.envelope_b64).version, 1);
});

test('retried creates are not duplicated (idempotency key) and a reused key with another body conflicts', async () => {
  const zen = client();
  const env = sealEnvelope(key, Buffer.from('idem'));
  const a = await zen.storeEncrypted({ userId: 'usr_idem', encryptedData: env, idempotencyKey: 'idem-test-1' });
  const b = await zen.storeEncrypted({ userId: 'usr_idem', encryptedData: env, idempotencyKey: 'idem-test-1' });
  assert.equal(a.id, b.id);
  assert.equal(b.replayed, true);
  assert.equal((await zen.listRecords({ userId: 'usr_idem' })).records.length, 1);
  await assert.rejects(
    zen.storeEncrypted({ userId: 'usr_idem', encryptedData: sealEnvelope(key, Buffer.from('other')), idempotencyKey: 'idem-test-1' }),
    (e) => e instanceof ConflictError && e.status === 422 && e.slug === 'idempotency-key-reused',
  );
  // Without a key the SDK generates a fresh one per call: two calls, two records.
  const { fetch, calls } = countingFetch();
  const z2 = client({ fetch });
  await z2.storeEncrypted({ userId: 'usr_idem2', encryptedData: env });
  await z2.storeEncrypted({ userId: 'usr_idem2', encryptedData: env });
  assert.equal((await zen.listRecords({ userId: 'usr_idem2' })).records.length, 2);
  assert.equal(calls.length, 2);
});

test('API problems become typed errors without echoing data or the key', async () => {
  const bad = new ZenalyzeServer({ apiKey: 'zk_test_' + 'x'.repeat(43), baseUrl: dev.baseUrl });
  await assert.rejects(bad.listRecords({ userId: 'u' }), (e) => {
    assert.ok(e instanceof AuthenticationError && e instanceof ApiError);
    assert.equal(e.status, 401);
    assert.equal(e.slug, 'unauthorized');
    assert.ok(!JSON.stringify({ ...e, m: e.message, s: e.stack }).includes('xxxxxxxx'));
    return true;
  });
  const zen = client();
  const canary = 'CANARYmetadata';
  await assert.rejects(
    zen.storeEncrypted({ userId: 'u3', encryptedData: sealEnvelope(key, Buffer.from('m')), metadata: { 'bad key!': canary } }),
    (e) => e instanceof ValidationError && e.status === 422 && !e.message.includes(canary),
  );
  await assert.rejects(zen.getRecord('rec_doesnotexist'), NotFoundError);
  assert.ok(!dev.logs().includes(canary));
});

test('the API key is redacted from inspect, JSON and string forms; options are validated', () => {
  const zen = client();
  for (const s of [inspect(zen), JSON.stringify(zen), String(zen), inspect(zen, { showHidden: true, depth: 5 })]) {
    assert.ok(!s.includes(dev.apiKey), s);
    assert.ok(s.includes('[REDACTED]'));
  }
  assert.throws(() => new ZenalyzeServer({ apiKey: 'zk_pub_abc' }), ConfigurationError);
  assert.throws(() => new ZenalyzeServer({ apiKey: dev.apiKey, baseUrl: 'http://api.example.com' }), ConfigurationError);
  assert.throws(() => new ZenalyzeServer({ apiKey: dev.apiKey, timeoutMs: 0 }), ConfigurationError);
  assert.throws(() => new ZenalyzeServer({ apiKey: 'not a key' }), (e) => e instanceof ConfigurationError && !e.message.includes('not a key'));
  assert.equal(new ZenalyzeServer({ apiKey: dev.apiKey, baseUrl: 'https://api.example.com/' }).baseUrl, 'https://api.example.com');
});
