// Attestation verification tests on the real AWS Nitro documents of
// ../shared/fixtures/nitro (not copied into the repo). Runs under node:test
// and in Chromium.
//
//   registerAttestationSuite({ test, ai, fixtures })
//     fixtures: { error } | { index, docs: { name: Uint8Array } }

import { assert, fromHex } from './assert.js';

function prodPolicy(index, overrides = {}) {
  const p = index['prod-2022-10-13'].pcrs;
  return { measurements: [{ pcr0: p['0'], pcr1: p['1'], pcr2: p['2'], pcr8: p['8'] }], ...overrides };
}

export function registerAttestationSuite({ test, ai, fixtures }) {
  const skip = fixtures.error ? `SKIPPED: attestation fixtures not found (${fixtures.error})` : undefined;
  const t = (name, fn) => test(`attestation: ${name}`, fn, { skip });
  const index = fixtures.index;
  const docs = fixtures.docs;
  const at = (name, deltaMs = 1000) => index[name].timestamp_ms + deltaMs;

  t('the production document verifies inside its window with its PCRs', async () => {
    const name = 'prod-2022-10-13';
    const v = await ai.verifyAttestation(docs[name], prodPolicy(index), { nowMs: at(name), expectedNonce: fromHex(index[name].nonce_hex) });
    assert.equal(v.moduleId, index[name].module_id);
    assert.equal(v.timestampMs, index[name].timestamp_ms);
    assert.equal(v.rootSha256, ai.AWS_NITRO_ROOT_G1_SHA256);
    assert.deepEqual(v.measurements, { kind: 'matched', set: 0 });
    assert.equal(v.nonceChecked, true);
    assert.equal(v.publicKey, null);
    assert.equal(new Date(v.leafNotAfter * 1000).toISOString().slice(0, 19), index[name].leaf_not_after.slice(0, 19));
    // A second allowed set (rolling deploy) that matches is found by index.
    const other = { pcr0: 'aa'.repeat(48), pcr1: 'bb'.repeat(48), pcr2: 'cc'.repeat(48), pcr8: 'dd'.repeat(48) };
    const two = prodPolicy(index);
    two.measurements.unshift(other);
    assert.deepEqual((await ai.verifyAttestation(docs[name], two, { nowMs: at(name) })).measurements, { kind: 'matched', set: 1 });
  });

  t('the production document is refused outside its window, stale, or from the future', async () => {
    const name = 'prod-2022-10-13';
    const notAfter = Date.parse(index[name].leaf_not_after);
    const notBefore = Date.parse(index[name].leaf_not_before);
    const policy = prodPolicy(index, { maxAgeMs: 10 * 3600 * 1000 });
    await assert.rejectsWithCode(ai.verifyAttestation(docs[name], policy, { nowMs: notAfter + 2000 }), 'attestation_failed', ai.AttestationError, 'after the leaf window');
    await assert.rejectsWithCode(ai.verifyAttestation(docs[name], policy, { nowMs: notBefore - 2000 }), 'attestation_failed', ai.AttestationError, 'before the leaf window');
    const stale = await assert.rejectsWithCode(ai.verifyAttestation(docs[name], prodPolicy(index), { nowMs: at(name, 10 * 60 * 1000) }), 'attestation_failed');
    assert.equal(stale.check, 'stale');
    // The leaf became valid 3 s before the timestamp: stay inside it, with a 1 s skew allowance.
    const future = await assert.rejectsWithCode(ai.verifyAttestation(docs[name], prodPolicy(index, { maxFutureSkewMs: 1000 }), { nowMs: at(name, -2000) }), 'attestation_failed');
    assert.equal(future.check, 'from_the_future');
    const now = new Date('2026-01-01T00:00:00Z').getTime();
    await assert.rejectsWithCode(ai.verifyAttestation(docs[name], prodPolicy(index), { nowMs: now }), 'attestation_failed', undefined, 'today');
  });

  t('any changed PCR, nonce or root pin is refused', async () => {
    const name = 'prod-2022-10-13';
    for (const k of ['pcr0', 'pcr1', 'pcr2', 'pcr8']) {
      const policy = prodPolicy(index);
      const hex = policy.measurements[0][k];
      policy.measurements[0][k] = (hex[0] === '0' ? '1' : '0') + hex.slice(1);
      const err = await assert.rejectsWithCode(ai.verifyAttestation(docs[name], policy, { nowMs: at(name) }), 'attestation_failed', undefined, k);
      assert.equal(err.check, 'pcr_mismatch');
    }
    const nonce = fromHex(index[name].nonce_hex);
    nonce[0] ^= 1;
    const e1 = await assert.rejectsWithCode(ai.verifyAttestation(docs[name], prodPolicy(index), { nowMs: at(name), expectedNonce: nonce }), 'attestation_failed');
    assert.equal(e1.check, 'nonce_mismatch');
    const e2 = await assert.rejectsWithCode(ai.verifyAttestation(docs[name], prodPolicy(index, { trustedRootSha256: '00'.repeat(32) }), { nowMs: at(name) }), 'attestation_failed');
    assert.equal(e2.check, 'untrusted_root');
    await assert.rejectsWithCode(ai.verifyAttestation(docs[name], { measurements: [] }, { nowMs: at(name) }), 'invalid_policy', undefined, 'empty policy accepts nothing');
  });

  t('a changed byte anywhere in the document is refused', async () => {
    const name = 'prod-2022-10-13';
    const doc = docs[name];
    // Every 97th byte plus the last 96 (the signature) and the first bytes.
    const positions = new Set([0, 1, 2, 3, 10, 20, doc.length - 1, doc.length - 50, doc.length - 96]);
    for (let i = 0; i < doc.length; i += 97) positions.add(i);
    for (const pos of positions) {
      const bad = doc.slice();
      bad[pos] ^= 0x01;
      await assert.rejectsWithCode(ai.verifyAttestation(bad, prodPolicy(index), { nowMs: at(name) }), 'attestation_failed', undefined, `byte ${pos}`);
    }
    // Every truncation and random multi-byte corruptions: always a typed refusal, never another error.
    for (let len = 0; len < doc.length; len += 37) {
      await assert.rejectsWithCode(ai.verifyAttestation(doc.subarray(0, len), prodPolicy(index), { nowMs: at(name) }), 'attestation_failed', ai.AttestationError, `truncated to ${len}`);
    }
    for (let n = 0; n < 200; n++) {
      const bad = doc.slice();
      const rnd = new Uint32Array(4);
      crypto.getRandomValues(rnd);
      for (let k = 0; k < 3; k++) bad[rnd[k] % bad.length] = rnd[3] >>> (8 * k);
      if (bad.every((b, i) => b === doc[i])) continue;
      await assert.rejectsWithCode(ai.verifyAttestation(bad, prodPolicy(index), { nowMs: at(name) }), 'attestation_failed', ai.AttestationError, `random corruption ${n}`);
    }
  });

  t('debug documents: refused by a production policy, accepted only with allowDebug', async () => {
    for (const name of ['debug-2022-10-12', 'debug-2023-09-18']) {
      const err = await assert.rejectsWithCode(ai.verifyAttestation(docs[name], prodPolicy(index), { nowMs: at(name) }), 'attestation_failed', undefined, name);
      assert.equal(err.check, 'debug_not_allowed');
      const v = await ai.verifyAttestation(docs[name], { measurements: [], allowDebug: true }, { nowMs: at(name) });
      assert.deepEqual(v.measurements, { kind: 'debug' });
      assert.equal(v.moduleId, index[name].module_id);
      assert.equal(v.publicKey !== null, index[name].has_public_key, 'public_key presence');
      if (index[name].has_nonce) {
        const ok = await ai.verifyAttestation(docs[name], { measurements: [], allowDebug: true }, { nowMs: at(name), expectedNonce: fromHex(index[name].nonce_hex) });
        assert.equal(ok.nonceChecked, true);
      } else {
        const missing = await assert.rejectsWithCode(ai.verifyAttestation(docs[name], { measurements: [], allowDebug: true }, { nowMs: at(name), expectedNonce: new Uint8Array([1]) }), 'attestation_failed');
        assert.equal(missing.check, 'nonce_missing');
      }
    }
  });

  t('a document without a key config gives no key config', async () => {
    const name = 'prod-2022-10-13';
    const v = await ai.verifyAttestation(docs[name], prodPolicy(index), { nowMs: at(name) });
    assert.throwsWithCode(() => ai.keyConfigFromAttestation(v), 'attestation_failed');
  });

  t('ZenalyzeAI checks the challenge: a replayed genuine document is refused', async () => {
    const name = 'prod-2022-10-13';
    let b64 = '';
    const bytes = docs[name];
    for (let i = 0; i < bytes.length; i += 0x8000) b64 += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    const body = new TextEncoder().encode(JSON.stringify({ attestation_doc: btoa(b64), key_config: btoa('x') }));
    let requested;
    const fetch = async (url) => {
      requested = url;
      return { status: 200, headers: { get: () => null }, arrayBuffer: async () => body.buffer };
    };
    const client = new ai.ZenalyzeAI({ baseUrl: 'https://gw.example/', policy: prodPolicy(index), fetch, now: () => at(name) });
    const err = await assert.rejectsWithCode(client.attest(), 'attestation_failed', ai.AttestationError);
    assert.equal(err.check, 'nonce_mismatch');
    assert.ok(/^https:\/\/gw\.example\/v1\/ai\/attestation\?nonce=[0-9a-f]{64}$/.test(requested), requested);
  });
}
