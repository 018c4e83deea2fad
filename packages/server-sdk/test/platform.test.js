// Platform keyrings (KMS), usage and real rate limits against zenalyze dev.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ZenalyzeServer, RateLimitError, ValidationError, ApiError, InvalidArgumentError } from '../dist/index.js';
import { startDev, createTenant, sealEnvelope, countingFetch } from './helpers.js';
import { randomBytes } from 'node:crypto';

let dev;
before(async () => { dev = await startDev(); });
after(async () => { await dev?.stop(); });

test('encrypt, decrypt, rewrap and blind-index metadata with the dev keyrings', async () => {
  const zen = new ZenalyzeServer({ apiKey: dev.apiKey, baseUrl: dev.baseUrl });
  const c = await zen.encryptMetadata({ keyring: 'encrypt-email', plaintext: 'alice@example.com', context: 'usr_alice' });
  assert.match(c.ciphertext, /^zen:v\d+:/);
  assert.ok(c.keyVersion >= 1);
  const p = await zen.decryptMetadata({ keyring: 'encrypt-email', ciphertext: c.ciphertext, context: 'usr_alice' });
  assert.equal(p.text, 'alice@example.com');
  await assert.rejects(zen.decryptMetadata({ keyring: 'encrypt-email', ciphertext: c.ciphertext, context: 'usr_bob' }), ApiError);
  const r = await zen.rewrap({ keyring: 'encrypt-email', ciphertext: c.ciphertext, context: 'usr_alice' });
  assert.match(r.ciphertext, /^zen:v\d+:/);
  const batch = await zen.encryptMetadata({ keyring: 'encrypt-username', batch: [{ plaintext: 'alice', reference: 'a' }, { plaintext: new Uint8Array([1, 2, 3]), reference: 'b' }] });
  assert.deepEqual(batch.map((b) => b.reference), ['a', 'b']);
  const back = await zen.decryptMetadata({ keyring: 'encrypt-username', batch: [...batch.map((b) => ({ ciphertext: b.ciphertext })), { ciphertext: 'zen:v1:AAAA' }] });
  assert.equal(Buffer.from(back[0].plaintext).toString(), 'alice');
  assert.deepEqual([...back[1].plaintext], [1, 2, 3]);
  assert.ok(back[2].error instanceof ApiError, 'per-item problem');
  const i1 = await zen.blindIndex({ keyring: 'encrypt-email', value: 'alice@example.com' });
  const i2 = await zen.blindIndex({ keyring: 'encrypt-email', value: 'alice@example.com' });
  assert.equal(i1, i2);
  assert.match(i1, /^[0-9a-f]{32}$/);
  assert.equal((await zen.blindIndex({ keyring: 'encrypt-email', value: 'alice@example.com', bits: 64 })).length, 16);
  await assert.rejects(zen.blindIndex({ keyring: 'Bad Name', value: 'x' }), InvalidArgumentError);
  await assert.rejects(zen.encryptMetadata({ keyring: 'no-such-keyring', plaintext: 'x' }), ApiError);
});

test('usage reports the tier, the quota and the per-day counts', async () => {
  const zen = new ZenalyzeServer({ apiKey: dev.apiKey, baseUrl: dev.baseUrl });
  await zen.listRecords({ userId: 'usr_usage' });
  const today = new Date().toISOString().slice(0, 10);
  const u = await zen.usage({ from: today, to: today });
  assert.equal(u.tier, 'enterprise');
  assert.equal(u.days.length, 1);
  assert.equal(u.days[0].date, today);
  assert.ok((u.days[0].operations.records_list ?? 0) >= 1);
  assert.equal(u.quota.limit, null);
  await assert.rejects(zen.usage({ from: '2026-13-45' }), ValidationError);
  await assert.rejects(zen.usage({ from: 'yesterday' }), InvalidArgumentError);
});

test('a real Free-tier tenant: bursts get 429 with Retry-After, retried by the SDK; typed error when retries are off', async () => {
  const tenant = await createTenant(dev, 'free');
  const env = sealEnvelope(randomBytes(32), Buffer.from('x'));
  // Without retries, a burst beyond 10/s surfaces as a typed RateLimitError.
  const strict = new ZenalyzeServer({ apiKey: tenant.secret_key, baseUrl: dev.baseUrl, maxRetries: 0 });
  const results = await Promise.allSettled(Array.from({ length: 25 }, () => strict.listRecords({ userId: 'usr_free' })));
  const refused = results.filter((r) => r.status === 'rejected');
  assert.ok(refused.length > 0, 'the burst limit refused some requests');
  for (const r of refused) {
    assert.ok(r.reason instanceof RateLimitError, String(r.reason));
    assert.equal(r.reason.status, 429);
    assert.equal(r.reason.slug, 'rate-limited');
    assert.ok(r.reason.retryAfterMs >= 1000);
  }
  // With retries (default), every request of a burst eventually succeeds, honouring Retry-After.
  await new Promise((r) => setTimeout(r, 1500));
  const { fetch, calls } = countingFetch();
  const patient = new ZenalyzeServer({ apiKey: tenant.secret_key, baseUrl: dev.baseUrl, maxRetries: 5, fetch });
  const stored = await Promise.all(Array.from({ length: 14 }, (_, i) => patient.storeEncrypted({ userId: 'usr_free', encryptedData: env, idempotencyKey: `free-${i}` })));
  assert.equal(new Set(stored.map((s) => s.id)).size, 14);
  assert.ok(calls.length > 14, `some requests were retried (${calls.length} calls)`);
  const u = await patient.usage();
  assert.equal(u.tier, 'free');
  assert.equal(u.quota.limit, 100);
  assert.ok(u.quota.used >= 14 + 10);
  // The daily quota: exhaust it; the SDK does not wait hours for Retry-After.
  await new Promise((r) => setTimeout(r, 1200));
  const slow = new ZenalyzeServer({ apiKey: tenant.secret_key, baseUrl: dev.baseUrl, maxRetries: 8, retryBaseDelayMs: 50 });
  let quotaError;
  for (let i = 0; i < 120 && !quotaError; i++) {
    try {
      await slow.listRecords({ userId: 'usr_free', limit: 1 });
    } catch (e) {
      if (e instanceof RateLimitError && e.slug === 'quota-exceeded') quotaError = e;
      else throw e;
    }
  }
  assert.ok(quotaError, 'the Free quota (100/day) was reached');
  assert.ok(quotaError.retryAfterMs > 20_000, 'Retry-After points to the next UTC day');
});
