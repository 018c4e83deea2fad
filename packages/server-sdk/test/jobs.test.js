// Asynchronous AI jobs end to end: a webhook secret, a callback to a local
// receiver verified with verifyWebhook, the sealed result fetched with
// getAnalysisJob and opened by the client that sealed the request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { ZenalyzeServer, verifyWebhook, WebhookVerificationError, NotFoundError } from '../dist/index.js';
import { startDev, sealEnvelope } from './helpers.js';
import { ensureClientSdk } from '../scripts/client-sdk.mjs';

let dev;
let ai;
before(async () => {
  ai = await ensureClientSdk();
  dev = await startDev();
});
after(async () => { await dev?.stop(); });

test('callback job: Standard Webhooks notification verified, sealed result opened by the client', async () => {
  const zen = new ZenalyzeServer({ apiKey: dev.apiKey, baseUrl: dev.baseUrl });
  const secret = await zen.rotateWebhookSecret();
  assert.match(secret, /^whsec_[A-Za-z0-9+/]+=*$/);

  const received = [];
  let notify;
  const got = new Promise((r) => { notify = r; });
  const receiver = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      try {
        const v = verifyWebhook(raw, req.headers, secret);
        received.push(v);
        res.writeHead(204).end();
        notify();
      } catch (e) {
        received.push(e);
        res.writeHead(e instanceof WebhookVerificationError ? 400 : 500).end();
      }
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  try {
    const keyBytes = await fetch(`${dev.baseUrl}/.well-known/hpke-keys`).then((r) => r.arrayBuffer());
    const config = ai.parseKeysBody(new Uint8Array(keyBytes));
    const sealed = await ai.sealRequest(config, new TextEncoder().encode(JSON.stringify({ prompt: 'mood?', inputs: [{ kind: 'text', text: 'A calm and happy day at the lake.' }] })));
    const job = await zen.analyzeWithAI({
      encryptedData: { body: sealed.body, encapsulatedKey: sealed.encapsulatedKeyHex },
      instructions: 'Be brief.',
      callbackUrl: `http://127.0.0.1:${receiver.address().port}/hooks/zenalyze`,
    });
    assert.equal(job.status, 202);
    assert.match(job.jobId, /^job_/);
    await Promise.race([got, new Promise((_, rej) => setTimeout(() => rej(new Error('no webhook within 20 s')), 20_000))]);
    const hook = received[0];
    assert.ok(!(hook instanceof Error), String(hook));
    assert.equal(hook.payload.type, 'ai.job.completed');
    assert.equal(hook.payload.data.job_id, job.jobId);
    assert.ok(!JSON.stringify(hook.payload).includes('lake'), 'the notification carries no content');

    const done = await zen.getAnalysisJob(job.jobId);
    assert.equal(done.status, 'succeeded');
    assert.equal(done.result.status, 200);
    const opened = JSON.parse(new TextDecoder().decode(await sealed.response.openResponse(done.result.responseNonce, done.result.body)));
    assert.equal(opened.provider, 'offline');

    // A rotated secret no longer verifies the old signatures.
    const newer = await zen.rotateWebhookSecret();
    assert.notEqual(newer, secret);
    await assert.rejects(zen.getAnalysisJob('job_doesnotexist000'), NotFoundError);
  } finally {
    receiver.close();
  }
});

test('Prefer: respond-async without a callback is polled with getAnalysisJob', async () => {
  const zen = new ZenalyzeServer({ apiKey: dev.apiKey, baseUrl: dev.baseUrl });
  const key = randomBytes(32);
  const rec = await zen.storeEncrypted({ userId: 'usr_jobs', encryptedData: sealEnvelope(key, Buffer.from('Worried about exams, slept little.')) });
  const config = ai.parseKeysBody(new Uint8Array(await fetch(`${dev.baseUrl}/.well-known/hpke-keys`).then((r) => r.arrayBuffer())));
  const sealed = await ai.sealRequest(config, new TextEncoder().encode(JSON.stringify({ prompt: 'mood?', inputs: [{ kind: 'record', record_id: rec.id, key: key.toString('base64') }] })));
  const job = await zen.analyzeWithAI({ encryptedData: { body: sealed.body, encapsulatedKey: sealed.encapsulatedKeyHex }, recordIds: [rec.id], async: true });
  assert.equal(job.status, 202);
  let j;
  for (let i = 0; i < 100; i++) {
    j = await zen.getAnalysisJob(job.jobId);
    if (j.status !== 'pending') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(j.status, 'succeeded');
  const opened = JSON.parse(new TextDecoder().decode(await sealed.response.openResponse(j.result.responseNonce, j.result.body)));
  assert.equal(opened.provider, 'offline');
});
