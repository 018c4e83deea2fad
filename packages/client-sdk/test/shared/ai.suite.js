// Tests of the `./ai` entry (HPKE + EHBP). Like core.suite.js, this one file
// runs under node:test and inside headless Chromium.
//
//   registerAiSuite({ test, ai, hpkeVectors, env })

import { assert, fromHex, toHex } from './assert.js';

const te = new TextEncoder();

function randomBytes(n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

async function serverKey(subtle) {
  const pair = await subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']);
  const publicKey = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
  return { privateKey: pair.privateKey, config: { keyId: 7, publicKey } };
}

export function registerAiSuite({ test, ai, hpkeVectors }) {
  const subtle = globalThis.crypto.subtle;

  test('ai: HPKE RFC 9180 vectors file is present', () => {
    if (hpkeVectors.data === null) throw new Error(`HPKE vectors not available: ${hpkeVectors.error}`);
    assert.ok(hpkeVectors.data.vectors.length > 0);
  });

  for (const [i, v] of (hpkeVectors.data?.vectors ?? []).entries()) {
    test(`ai: RFC 9180 vector ${i} (mode ${v.mode}, suite ${v.kem_id}/${v.kdf_id}/${v.aead_id}): sender and receiver`, async () => {
      assert.equal(v.mode, 0);
      assert.equal(v.kem_id, ai.KEM_ID);
      assert.equal(v.kdf_id, ai.KDF_ID);
      assert.equal(v.aead_id, ai.AEAD_ID);
      const info = fromHex(v.info);
      const ephemeral = { privateKey: await ai.importX25519PrivateKey(subtle, fromHex(v.skEm)), publicKeyRaw: fromHex(v.pkEm) };
      const { enc, context } = await ai.setupBaseS(subtle, fromHex(v.pkRm), info, ephemeral);
      assert.equal(toHex(enc), v.enc, 'enc');
      const skR = await ai.importX25519PrivateKey(subtle, fromHex(v.skRm));
      const receiver = await ai.setupBaseR(subtle, enc, skR, fromHex(v.pkRm), info);
      for (const [n, e] of v.encryptions.entries()) {
        assert.equal(toHex(await context.seal(fromHex(e.pt), fromHex(e.aad))), e.ct, `ciphertext ${n}`);
        assert.equal(toHex(await receiver.open(fromHex(e.ct), fromHex(e.aad))), e.pt, `plaintext ${n}`);
      }
      for (const x of v.exports) {
        assert.equal(toHex(await context.export(fromHex(x.exporter_context), x.L)), x.exported_value, `sender export ${x.exporter_context}`);
        assert.equal(toHex(await receiver.export(fromHex(x.exporter_context), x.L)), x.exported_value, `receiver export ${x.exporter_context}`);
      }
      await assert.rejectsWithCode(receiver.open(fromHex(v.encryptions[0].ct), fromHex(v.encryptions[0].aad)), 'authentication_failed', undefined, 'replayed chunk at a later sequence number');
    });
  }

  test('ai: key config encode/parse (raw and ohttp-keys list) and refusals', () => {
    const publicKey = randomBytes(32);
    const raw = ai.encodeKeyConfig({ keyId: 3, publicKey });
    assert.equal(raw.length, ai.KEY_CONFIG_LEN);
    assert.equal(toHex(raw.subarray(0, 3)), '030020');
    assert.equal(toHex(raw.subarray(35)), '000400010002');
    const parsed = ai.parseKeyConfig(raw);
    assert.equal(parsed.keyId, 3);
    assert.bytesEqual(parsed.publicKey, publicKey);
    const list = new Uint8Array(2 + raw.length);
    list[1] = raw.length;
    list.set(raw, 2);
    assert.bytesEqual(ai.parseKeysBody(list).publicKey, publicKey, 'list form');
    assert.bytesEqual(ai.parseKeysBody(raw).publicKey, publicKey, 'raw form');
    const otherKem = raw.slice();
    otherKem[2] = 0x21;
    assert.throwsWithCode(() => ai.parseKeyConfig(otherKem), 'unsupported_suite');
    const otherAead = raw.slice();
    otherAead[40] = 0x01;
    assert.throwsWithCode(() => ai.parseKeyConfig(otherAead), 'unsupported_suite');
    assert.throwsWithCode(() => ai.parseKeyConfig(raw.subarray(0, 20)), 'invalid_key_config');
    assert.throwsWithCode(() => ai.parseKeyConfig(new Uint8Array([...raw, 0])), 'invalid_key_config', undefined, 'trailing byte');
    const badLen = raw.slice();
    badLen[36] = 3;
    assert.throwsWithCode(() => ai.parseKeyConfig(badLen), 'invalid_key_config');
    assert.throwsWithCode(() => ai.parseKeysBody(new Uint8Array([0])), 'invalid_key_config');
    assert.throwsWithCode(() => ai.parseKeysBody(list.subarray(0, 20)), 'invalid_key_config');
  });

  test('ai: framing round trip, empty frames skipped, truncation and oversize refused', () => {
    const a = te.encode('abc');
    const body = ai.frame([a, new Uint8Array(0), te.encode('de')]);
    assert.equal(toHex(body.subarray(0, 4)), '00000003');
    const frames = ai.unframe(body, 16);
    assert.equal(frames.length, 2);
    assert.bytesEqual(frames[0], a);
    assert.throwsWithCode(() => ai.unframe(body.subarray(0, body.length - 1), 16), 'framing_truncated');
    assert.throwsWithCode(() => ai.unframe(new Uint8Array([...body, 0, 0]), 16), 'framing_truncated');
    assert.throwsWithCode(() => ai.unframe(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]), 1024), 'chunk_too_large');
  });

  test('ai: EHBP request and response round trip (multi-chunk, sizes around the chunk boundary)', async () => {
    const server = await serverKey(subtle);
    for (const [size, chunkSize] of [[1, 16], [16, 16], [17, 16], [1000, 64], [200000, 65536]]) {
      const plaintext = randomBytes(size);
      const sealed = await ai.sealRequest(server.config, plaintext, { chunkSize });
      assert.ok(/^[0-9a-f]{64}$/.test(sealed.encapsulatedKeyHex), 'lowercase hex encapsulated key');
      assert.equal(ai.unframe(sealed.body).length, Math.ceil(size / chunkSize), 'one frame per chunk');
      const opened = await ai.openRequest(server.privateKey, server.config, sealed.encapsulatedKeyHex, sealed.body);
      assert.bytesEqual(opened.plaintext, plaintext, `request ${size}/${chunkSize}`);
      const answer = te.encode(JSON.stringify({ provider: 'offline', model: 'analyzer', output: `ok ${size}` }).repeat(Math.ceil(size / 50)));
      const nonce = ai.randomResponseNonce();
      const responseBody = await opened.response.sealResponse(nonce, answer, chunkSize);
      assert.bytesEqual(await sealed.response.openResponse(toHex(nonce), responseBody), answer, 'response');
      const otherNonce = nonce.slice();
      otherNonce[0] ^= 1;
      await assert.rejectsWithCode(sealed.response.openResponse(toHex(otherNonce), responseBody), 'authentication_failed', undefined, 'wrong response nonce');
    }
  });

  test('ai: EHBP refuses tampering, reordering, wrong keys and malformed headers', async () => {
    const server = await serverKey(subtle);
    const other = await serverKey(subtle);
    const plaintext = te.encode('{"prompt":"Summarize my week","inputs":[{"kind":"text","text":"Slept badly"}]}');
    const sealed = await ai.sealRequest(server.config, plaintext, { chunkSize: 16 });
    const frames = ai.unframe(sealed.body);
    const flipped = sealed.body.slice();
    flipped[10] ^= 1;
    await assert.rejectsWithCode(ai.openRequest(server.privateKey, server.config, sealed.encapsulatedKeyHex, flipped), 'authentication_failed', undefined, 'flipped bit');
    const swapped = ai.frame([frames[1], frames[0], ...frames.slice(2)]);
    await assert.rejectsWithCode(ai.openRequest(server.privateKey, server.config, sealed.encapsulatedKeyHex, swapped), 'authentication_failed', undefined, 'reordered chunks');
    await assert.rejectsWithCode(ai.openRequest(other.privateKey, other.config, sealed.encapsulatedKeyHex, sealed.body), 'authentication_failed', undefined, 'other key');
    await assert.rejectsWithCode(ai.openRequest(server.privateKey, server.config, sealed.encapsulatedKeyHex.toUpperCase(), sealed.body), 'invalid_encapsulated_key');
    await assert.rejectsWithCode(ai.openRequest(server.privateKey, server.config, sealed.encapsulatedKeyHex, new Uint8Array(0)), 'framing_truncated');
    await assert.rejectsWithCode(ai.sealRequest(server.config, new Uint8Array(0)), 'invalid_input');
    await assert.rejectsWithCode(sealed.response.openResponse('zz', new Uint8Array(0)), 'invalid_response_nonce');
    await assert.rejectsWithCode(sealed.response.openResponse('AB'.repeat(32), new Uint8Array(0)), 'invalid_response_nonce', undefined, 'uppercase hex');
    // Dropping the last chunk of a response is detected only by the caller's
    // JSON parse (EHBP has no end marker); a truncated frame is refused:
    const opened = await ai.openRequest(server.privateKey, server.config, sealed.encapsulatedKeyHex, sealed.body);
    const nonce = ai.randomResponseNonce();
    const body = await opened.response.sealResponse(nonce, te.encode('x'.repeat(40)), 16);
    await assert.rejectsWithCode(sealed.response.openResponse(toHex(nonce), body.subarray(0, body.length - 1)), 'framing_truncated');
  });

  test('ai: a fresh ephemeral key per request', async () => {
    const server = await serverKey(subtle);
    const a = await ai.sealRequest(server.config, te.encode('same'));
    const b = await ai.sealRequest(server.config, te.encode('same'));
    assert.notEqual(a.encapsulatedKeyHex, b.encapsulatedKeyHex);
    assert.notEqual(toHex(a.body), toHex(b.body));
  });

  test('ai: ZenalyzeAI reports attestation transport failures without content', async () => {
    const policy = { measurements: [], allowDebug: true };
    const answer = (status, text) => async () => ({ status, headers: { get: () => null }, arrayBuffer: async () => te.encode(text).buffer });
    const down = new ai.ZenalyzeAI({ baseUrl: 'https://gw.example', policy, fetch: answer(503, 'unavailable') });
    const e1 = await assert.rejectsWithCode(down.attest(), 'ai_request_failed', ai.AiRequestError);
    assert.equal(e1.status, 503);
    const junk = new ai.ZenalyzeAI({ baseUrl: 'https://gw.example', policy, fetch: answer(200, '{"attestation_doc":1}') });
    await assert.rejectsWithCode(junk.attest(), 'ai_request_failed', ai.AiRequestError);
    const notB64 = new ai.ZenalyzeAI({ baseUrl: 'https://gw.example', policy, fetch: answer(200, '{"attestation_doc":"@@","key_config":"AA=="}') });
    await assert.rejectsWithCode(notB64.attest(), 'ai_request_failed', ai.AiRequestError);
    const garbage = new ai.ZenalyzeAI({ baseUrl: 'https://gw.example', policy, fetch: answer(200, '{"attestation_doc":"AAAA","key_config":"AA=="}') });
    await assert.rejectsWithCode(garbage.attest(), 'attestation_failed', ai.AttestationError);
    await assert.rejectsWithCode(down.analyze({ prompt: 1, inputs: [] }), 'invalid_input');
    assert.throwsWithCode(() => new ai.ZenalyzeAI({ baseUrl: 'x' }), 'invalid_input');
  });
}
