import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyWebhook, signWebhook, WebhookVerificationError } from '../dist/index.js';

// The known-answer vector of the Standard Webhooks reference libraries
// (standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts, "sign function works").
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const TS = 1614265330;
const BODY = '{"test": 2432232314}';
const SIG = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
const at = (s) => () => s * 1000;
const headers = (sig = SIG, ts = String(TS), id = ID) => ({ 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': sig });
const code = (c) => (e) => e instanceof WebhookVerificationError && e.code === c;

test('the Standard Webhooks known-answer vector signs and verifies', () => {
  assert.equal(signWebhook(SECRET, ID, TS, BODY), SIG);
  assert.equal(signWebhook(SECRET, ID, TS, Buffer.from(BODY)), SIG);
  const v = verifyWebhook(BODY, headers(), SECRET, { now: at(TS) });
  assert.deepEqual(v, { id: ID, timestamp: TS, payload: { test: 2432232314 } });
  // Unprefixed secrets, bytes bodies, fetch Headers and mixed-case keys work too.
  verifyWebhook(Buffer.from(BODY), new Headers(headers()), SECRET.slice(6), { now: at(TS) });
  verifyWebhook(BODY, { 'Webhook-Id': ID, 'Webhook-Timestamp': String(TS), 'Webhook-Signature': SIG }, SECRET, { now: at(TS) });
});

test('several signatures: any valid v1 one is enough; other versions are ignored', () => {
  const bogus = 'v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=';
  verifyWebhook(BODY, headers(`${bogus} v2,${SIG.slice(3)} ${SIG}`), SECRET, { now: at(TS) });
  assert.throws(() => verifyWebhook(BODY, headers(`${bogus} v2,${SIG.slice(3)}`), SECRET, { now: at(TS) }), code('invalid_signature'));
});

test('tampering, wrong secret, partial signatures are refused', () => {
  assert.throws(() => verifyWebhook('{"test": 2432232315}', headers(), SECRET, { now: at(TS) }), code('invalid_signature'));
  assert.throws(() => verifyWebhook(BODY, headers(SIG, String(TS), 'msg_other'), SECRET, { now: at(TS) }), code('invalid_signature'));
  assert.throws(() => verifyWebhook(BODY, headers(), 'whsec_' + Buffer.from('another secret').toString('base64'), { now: at(TS) }), code('invalid_signature'));
  assert.throws(() => verifyWebhook(BODY, headers(SIG.slice(0, 8)), SECRET, { now: at(TS) }), code('invalid_signature'));
  assert.throws(() => verifyWebhook(BODY, headers('v1,'), SECRET, { now: at(TS) }), code('invalid_signature'));
  assert.throws(() => verifyWebhook(BODY, headers(SIG.slice(3)), SECRET, { now: at(TS) }), code('invalid_signature'));
});

test('timestamps outside the tolerance (default 5 min, configurable) are refused', () => {
  verifyWebhook(BODY, headers(), SECRET, { now: at(TS + 300) });
  verifyWebhook(BODY, headers(), SECRET, { now: at(TS - 300) });
  assert.throws(() => verifyWebhook(BODY, headers(), SECRET, { now: at(TS + 301) }), code('timestamp_too_old'));
  assert.throws(() => verifyWebhook(BODY, headers(), SECRET, { now: at(TS - 301) }), code('timestamp_too_new'));
  verifyWebhook(BODY, headers(), SECRET, { now: at(TS + 3000), toleranceSeconds: 3600 });
  assert.throws(() => verifyWebhook(BODY, headers(), SECRET, { now: at(TS + 2), toleranceSeconds: 1 }), code('timestamp_too_old'));
  // With the real clock, the 2021 vector is far too old.
  assert.throws(() => verifyWebhook(BODY, headers(), SECRET), code('timestamp_too_old'));
  const now = Math.floor(Date.now() / 1000);
  verifyWebhook(BODY, headers(signWebhook(SECRET, ID, now, BODY), String(now)), SECRET);
});

test('missing headers, bad timestamps, bad secrets and non-JSON bodies are typed errors', () => {
  for (const h of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    const hs = headers();
    delete hs[h];
    assert.throws(() => verifyWebhook(BODY, hs, SECRET, { now: at(TS) }), code('missing_header'));
  }
  for (const ts of ['hello', '-1', '1e9', ' 1614265330', '1614265330.5']) {
    assert.throws(() => verifyWebhook(BODY, headers(SIG, ts), SECRET, { now: at(TS) }), code('invalid_timestamp'));
  }
  for (const s of ['', 'whsec_', 'whsec_***', 42]) assert.throws(() => verifyWebhook(BODY, headers(), s, { now: at(TS) }), code('invalid_secret'));
  const text = 'not json';
  assert.throws(() => verifyWebhook(text, headers(signWebhook(SECRET, ID, TS, text)), SECRET, { now: at(TS) }), code('invalid_payload'));
});
