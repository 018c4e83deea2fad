// End to end against the Rust enclave (development attestor, offline
// analyzer): attestation verified in this runtime, EHBP request sealed here
// and opened by Rust, answer sealed by Rust and opened here. Used by the
// browser runner through a same-origin proxy.
//
//   registerEnclaveSuite({ test, ai, enclave: { info, baseUrl } | { error } })

import { assert } from './assert.js';

export function registerEnclaveSuite({ test, ai, enclave }) {
  const skip = enclave.error ? `SKIPPED: ${enclave.error}` : undefined;
  const t = (name, fn) => test(`enclave e2e: ${name}`, fn, { skip });
  const client = (policy) =>
    new ai.ZenalyzeAI({
      baseUrl: enclave.baseUrl,
      attestationPath: '/attestation',
      analyzePath: '/v1/analyze',
      policy: policy ?? { trustedRootSha256: enclave.info.dev_root_sha256, measurements: [], allowDebug: true },
    });

  t('attest, seal, analyze and open against the Rust enclave', async () => {
    const c = client();
    const { keyConfig, attestation } = await c.attest();
    assert.equal(keyConfig.keyId, enclave.info.key_id);
    assert.equal(attestation.moduleId, enclave.info.enclave_id);
    assert.equal(attestation.nonceChecked, true);
    assert.equal(attestation.measurements.kind, 'debug');
    const answer = await c.analyze({
      prompt: 'What patterns do you see?',
      inputs: [{ kind: 'text', text: 'Mon: anxious, slept 5h. Tue: calmer after a walk. 日本語 İ 😀' }],
    });
    assert.equal(typeof answer.provider, 'string');
    assert.equal(typeof answer.model, 'string');
    assert.ok(answer.output !== undefined && answer.output !== null);
  });

  t('a wrong root pin and a production policy are refused', async () => {
    const wrong = await assert.rejectsWithCode(client({ trustedRootSha256: 'ff'.repeat(32), measurements: [], allowDebug: true }).attest(), 'attestation_failed');
    assert.equal(wrong.check, 'untrusted_root');
    const prod = await assert.rejectsWithCode(
      client({ trustedRootSha256: enclave.info.dev_root_sha256, measurements: [{ pcr0: '01'.repeat(48), pcr1: '02'.repeat(48), pcr2: '03'.repeat(48), pcr8: '04'.repeat(48) }] }).attest(),
      'attestation_failed',
    );
    assert.equal(prod.check, 'debug_not_allowed');
  });
}
