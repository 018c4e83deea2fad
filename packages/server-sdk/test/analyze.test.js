// Scenario 2 end to end: the client (TS client SDK, sealing) encrypts a
// journal entry, the backend stores it with the server SDK, the client
// attests the enclave and seals an AI request naming the record, the backend
// forwards it with its instructions, and the client opens the sealed answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, pbkdf2Sync, randomBytes } from 'node:crypto';
import { ZenalyzeServer, NotFoundError, InvalidArgumentError } from '../dist/index.js';
import { startDev, sealEnvelope, countingFetch } from './helpers.js';
import { ensureClientSdk } from '../scripts/client-sdk.mjs';

let dev;
let ai;
before(async () => {
  ai = await ensureClientSdk();
  dev = await startDev();
});
after(async () => { await dev?.stop(); });

// Key derivation profile v1 (SPEC §2) for an ASCII e-mail.
function userKey(email, password) {
  const salt = createHash('sha256').update(email.trim().toLowerCase()).digest();
  return pbkdf2Sync(password.normalize('NFC'), salt, 100_000, 32, 'sha256');
}

async function attestedKeyConfig() {
  const nonce = randomBytes(32);
  const r = await fetch(`${dev.baseUrl}/v1/ai/attestation?nonce=${nonce.toString('hex')}`, {
    headers: { authorization: `Bearer ${dev.publishableKey}` },
  });
  assert.equal(r.status, 200, await r.clone().text());
  const { attestation_doc: doc, key_config: kc } = await r.json();
  assert.ok(dev.devRootSha256, 'zenalyze dev prints the development attestation root');
  const verified = await ai.verifyAttestation(new Uint8Array(Buffer.from(doc, 'base64')), {
    trustedRootSha256: dev.devRootSha256, measurements: [], allowDebug: true,
  }, { nowMs: Date.now(), expectedNonce: new Uint8Array(nonce) });
  const config = ai.keyConfigFromAttestation(verified);
  assert.deepEqual(Buffer.from(ai.encodeKeyConfig(config)), Buffer.from(kc, 'base64'));
  return config;
}

test('analyze a stored journal entry end to end; the backend only forwards ciphertext', async () => {
  const zen = new ZenalyzeServer({ apiKey: dev.apiKey, baseUrl: dev.baseUrl });
  const key = userKey('patient@example.com', 'correct horse battery staple');
  const entry = 'Today I felt anxious before the appointment but the walk afterwards helped a lot.';
  const stored = await zen.storeEncrypted({ userId: 'usr_patient', encryptedData: sealEnvelope(key, Buffer.from(entry)) });

  const config = await attestedKeyConfig();
  const request = { prompt: 'Summarize the mood of this entry.', inputs: [{ kind: 'record', record_id: stored.id, key: key.toString('base64') }] };
  const sealed = await ai.sealRequest(config, new TextEncoder().encode(JSON.stringify(request)));

  // What the browser posts to the customer backend: ciphertext only.
  const fromBrowser = { body: Buffer.from(sealed.body).toString('base64'), encapsulatedKey: sealed.encapsulatedKeyHex };
  const { fetch, calls } = countingFetch();
  const backend = new ZenalyzeServer({ apiKey: dev.apiKey, baseUrl: dev.baseUrl, fetch });
  const answer = await backend.analyzeWithAI({
    encryptedData: fromBrowser,
    instructions: 'You are a supportive journaling assistant. Never give medical advice.',
    recordIds: [stored.id],
  });
  assert.equal(calls.length, 1);
  const sent = Buffer.from(calls[0].body);
  assert.ok(!sent.includes(Buffer.from('anxious')) && !sent.includes(key), 'only ciphertext leaves the backend');
  assert.equal(answer.status, 200);
  assert.match(answer.responseNonce, /^[0-9a-f]{64}$/);
  assert.equal(answer.bodyBase64, Buffer.from(answer.body).toString('base64'));
  assert.ok(!Buffer.from(answer.body).includes(Buffer.from('anxious')));

  // Back in the browser: open the sealed answer.
  const opened = JSON.parse(new TextDecoder().decode(await sealed.response.openResponse(answer.responseNonce, Buffer.from(answer.bodyBase64, 'base64'))));
  assert.equal(opened.provider, 'offline');
  assert.ok(opened.output !== undefined);
  assert.ok(!dev.logs().includes('anxious'));
});

test('sealed errors of the enclave are relayed untouched; gateway problems are typed', async () => {
  const zen = new ZenalyzeServer({ apiKey: dev.apiKey, baseUrl: dev.baseUrl });
  const config = await attestedKeyConfig();
  // A record the seal names but the backend did not supply: a sealed 422 the client opens.
  const sealed = await ai.sealRequest(config, new TextEncoder().encode(JSON.stringify({ prompt: 'p', inputs: [{ kind: 'record', record_id: 'rec_missing', key: randomBytes(32).toString('base64') }] })));
  const answer = await zen.analyzeWithAI({ encryptedData: { body: sealed.body, encapsulatedKey: sealed.encapsulatedKeyHex } });
  assert.equal(answer.status, 422);
  const opened = JSON.parse(new TextDecoder().decode(await sealed.response.openResponse(answer.responseNonce, answer.body)));
  assert.equal(opened.error.code, 'record_not_supplied');
  // A record id of nobody: the gateway refuses before the enclave (404 problem).
  await assert.rejects(
    zen.analyzeWithAI({ encryptedData: { body: sealed.body, encapsulatedKey: sealed.encapsulatedKeyHex }, recordIds: ['rec_doesnotexist0000'] }),
    NotFoundError,
  );
  // Line breaks cannot travel in a header: refused locally.
  await assert.rejects(zen.analyzeWithAI({ encryptedData: { body: sealed.body, encapsulatedKey: sealed.encapsulatedKeyHex }, instructions: 'a\nb' }), InvalidArgumentError);
  await assert.rejects(zen.analyzeWithAI({ encryptedData: { body: sealed.body, encapsulatedKey: 'XYZ' } }), InvalidArgumentError);
});
