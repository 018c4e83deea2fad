// Cross-language end to end: the TypeScript `./ai` client against the Rust
// enclave (`zenalyze enclave`, development attestor, offline analyzer) on a
// loopback port. The client fetches an attestation document with a random
// challenge, verifies it (development root pinned by its fingerprint, debug
// allowed), seals an EHBP request to the attested key config, and opens the
// sealed answer. Skipped LOUDLY when no binary with `enclave` is found.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ZenalyzeAI, AttestationError, sealRequest, parseKeysBody } from '../../dist/ai/index.js';
import { base64Decode } from '../../dist/index.js';
import { binaryCandidates, findEnclaveBinary, startEnclave } from '../node/enclave-process.js';

const bin = findEnclaveBinary();
const skip = bin ? false : `SKIPPED: no zenalyze binary with the \`enclave\` command (looked at ${binaryCandidates().join(', ')})`;
if (skip) process.stderr.write(`\n*** ${skip} ***\n\n`);

let enclave;
let info;

before(async () => {
  if (skip) return;
  enclave = await startEnclave(bin);
  info = enclave.info;
});

after(() => enclave?.stop());

const baseUrl = () => enclave.baseUrl;
const devPolicy = () => ({ trustedRootSha256: info.dev_root_sha256, measurements: [], allowDebug: true });
const client = (overrides = {}) =>
  new ZenalyzeAI({ baseUrl: baseUrl(), attestationPath: '/attestation', analyzePath: '/v1/analyze', policy: devPolicy(), ...overrides });

test('TS ./ai client ⇄ Rust enclave: attest, seal, analyze, open', { skip }, async () => {
  assert.match(info.dev_root_sha256 ?? '', /^[0-9a-f]{64}$/);
  const ai = client();
  const { keyConfig, attestation } = await ai.attest();
  assert.equal(keyConfig.keyId, info.key_id);
  assert.equal(attestation.measurements.kind, 'debug');
  assert.equal(attestation.moduleId, info.enclave_id);
  assert.equal(attestation.nonceChecked, true);
  const answer = await ai.analyze({
    prompt: 'Summarize my week',
    inputs: [
      { kind: 'text', text: 'Monday: slept 4 hours, felt anxious. Tuesday: walked in the park, felt calmer. 😊' },
      { kind: 'json', value: { mood: [2, 3, 4], note: 'İyi hissediyorum' } },
    ],
  });
  assert.equal(typeof answer.provider, 'string');
  assert.equal(typeof answer.model, 'string');
  assert.ok(answer.output !== undefined && answer.output !== null, 'has output');
});

test('TS ./ai client refuses the Rust enclave under a wrong pin or a production policy', { skip }, async () => {
  const wrongRoot = client({ policy: { ...devPolicy(), trustedRootSha256: '00'.repeat(32) } });
  await assert.rejects(wrongRoot.attest(), (e) => e instanceof AttestationError && e.check === 'untrusted_root');
  const production = client({
    policy: { trustedRootSha256: info.dev_root_sha256, measurements: [{ pcr0: '11'.repeat(48), pcr1: '22'.repeat(48), pcr2: '33'.repeat(48), pcr8: '44'.repeat(48) }] },
  });
  await assert.rejects(production.attest(), (e) => e instanceof AttestationError && e.check === 'debug_not_allowed');
});

test('the Rust enclave refuses a TS request sealed to a stale key (422 key-config) and a tampered body (400)', { skip }, async () => {
  const res = await fetch(`${baseUrl()}/attestation?nonce=${'ab'.repeat(32)}`);
  const served = parseKeysBody(base64Decode((await res.json()).key_config));
  const pair = await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']);
  const stale = { keyId: served.keyId, publicKey: new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey)) };
  const body = new TextEncoder().encode(JSON.stringify({ prompt: 'x', inputs: [] }));
  const s1 = await sealRequest(stale, body);
  const r1 = await fetch(`${baseUrl()}/v1/analyze`, { method: 'POST', headers: { 'Ehbp-Encapsulated-Key': s1.encapsulatedKeyHex }, body: s1.body });
  assert.equal(r1.status, 422);
  assert.equal((await r1.json()).type, 'urn:ietf:params:ehbp:error:key-config');
  const s2 = await sealRequest(served, body);
  const tampered = s2.body.slice();
  tampered[tampered.length - 1] ^= 1;
  const r2 = await fetch(`${baseUrl()}/v1/analyze`, { method: 'POST', headers: { 'Ehbp-Encapsulated-Key': s2.encapsulatedKeyHex }, body: tampered });
  assert.equal(r2.status === 400 || r2.status === 422, true, `status ${r2.status}`);
  assert.equal(r2.headers.get('ehbp-response-nonce'), null, 'no sealed answer for a refused request');
});

test('unknown fields in the sealed body come back as a sealed error answer', { skip }, async () => {
  const ai = client();
  await assert.rejects(
    ai.analyze({ prompt: 'x', inputs: [], temperature: 2 }),
    (e) => e.code === 'ai_request_failed' && e.status === 400,
  );
});

test('a 422 key-config answer makes the client attest again and retry once', { skip }, async () => {
  let attestations = 0;
  let posts = 0;
  const wrapped = async (url, init) => {
    if (init.method === 'GET') attestations++;
    if (init.method === 'POST') {
      posts++;
      if (posts === 1) {
        // Corrupt the first chunk: no current key opens it, as after a key rotation.
        const body = new Uint8Array(init.body.slice(0));
        body[10] ^= 0xff;
        return fetch(url, { ...init, body });
      }
    }
    return fetch(url, init);
  };
  const ai = client({ fetch: wrapped });
  const answer = await ai.analyze({ prompt: 'How was my sleep?', inputs: [{ kind: 'text', text: 'Slept 7 hours.' }] });
  assert.equal(typeof answer.output === 'undefined', false);
  assert.equal(posts, 2, 'one retry');
  assert.equal(attestations, 2, 'attested again before the retry');
  // Twice in a row is an error, not a loop.
  let n = 0;
  const alwaysStale = async (url, init) => {
    if (init.method === 'POST') {
      n++;
      const body = new Uint8Array(init.body.slice(0));
      body[10] ^= 0xff;
      return fetch(url, { ...init, body });
    }
    return fetch(url, init);
  };
  await assert.rejects(client({ fetch: alwaysStale }).analyze({ prompt: 'x', inputs: [] }), (e) => e.code === 'ai_request_failed' && e.status === 422);
  assert.equal(n, 2);
});
