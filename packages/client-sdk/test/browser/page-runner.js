// Runs the shared core and ./ai suites in the page and reports each result to Node
// through functions exposed by Playwright (window.__zenalyzeReport /
// window.__zenalyzeDone). Tests run one after another, like node:test.
import * as sdk from '/dist/index.js';
import * as ai from '/dist/ai/index.js';
import { registerCoreSuite } from '/test/shared/core.suite.js';
import { registerAiSuite } from '/test/shared/ai.suite.js';
import { registerAttestationSuite } from '/test/shared/attestation.suite.js';
import { registerEnclaveSuite } from '/test/shared/enclave.suite.js';

const log = document.getElementById('log');
const params = new URLSearchParams(location.search);

async function loadVectors() {
  const allowMissing = params.get('allowMissingVectors') === '1';
  try {
    const res = await fetch('/vectors/v1.json', { cache: 'no-store' });
    if (!res.ok) return { data: null, error: `GET /vectors/v1.json: HTTP ${res.status}`, allowMissing };
    return { data: await res.json(), error: null, allowMissing };
  } catch (err) {
    return { data: null, error: String(err), allowMissing };
  }
}

async function loadHpkeVectors() {
  try {
    const res = await fetch('/vectors/hpke.json', { cache: 'no-store' });
    if (!res.ok) return { data: null, error: `GET /vectors/hpke.json: HTTP ${res.status}` };
    return { data: await res.json(), error: null };
  } catch (err) {
    return { data: null, error: String(err) };
  }
}

async function loadNitroFixtures() {
  try {
    const res = await fetch('/fixtures/nitro/index.json', { cache: 'no-store' });
    if (!res.ok) return { error: `GET /fixtures/nitro/index.json: HTTP ${res.status}` };
    const index = await res.json();
    const docs = {};
    for (const name of Object.keys(index)) {
      const r = await fetch(`/fixtures/nitro/${name}.cose`, { cache: 'no-store' });
      if (!r.ok) return { error: `GET /fixtures/nitro/${name}.cose: HTTP ${r.status}` };
      docs[name] = new Uint8Array(await r.arrayBuffer());
    }
    return { index, docs };
  } catch (err) {
    return { error: String(err) };
  }
}

async function loadEnclave() {
  const res = await fetch('/enclave-info.json', { cache: 'no-store' });
  if (!res.ok) return { error: 'no Rust enclave binary (see the runner output)' };
  return { info: await res.json(), baseUrl: `${location.origin}/enclave` };
}

async function main() {
  const tests = [];
  registerCoreSuite({
    test: (name, fn, opts = {}) => tests.push({ name, fn, skip: opts.skip }),
    sdk,
    vectors: await loadVectors(),
    env: 'browser',
  });
  registerAiSuite({
    test: (name, fn, opts = {}) => tests.push({ name, fn, skip: opts.skip }),
    ai,
    hpkeVectors: await loadHpkeVectors(),
    env: 'browser',
  });
  registerAttestationSuite({
    test: (name, fn, opts = {}) => tests.push({ name, fn, skip: opts.skip }),
    ai,
    fixtures: await loadNitroFixtures(),
  });
  registerEnclaveSuite({
    test: (name, fn, opts = {}) => tests.push({ name, fn, skip: opts.skip }),
    ai,
    enclave: await loadEnclave(),
  });
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const t of tests) {
    const started = performance.now();
    let status = 'pass';
    let error;
    if (t.skip) {
      status = 'skip';
      error = t.skip;
      skipped++;
    } else {
      try {
        await t.fn();
        passed++;
      } catch (err) {
        status = 'fail';
        error = `${err && err.name}: ${err && err.message}\n${(err && err.stack) || ''}`;
        failed++;
      }
    }
    const ms = Math.round(performance.now() - started);
    log.textContent += `${status} ${t.name} (${ms} ms)\n`;
    await window.__zenalyzeReport({ name: t.name, status, error, ms });
  }
  await window.__zenalyzeDone({ passed, failed, skipped, total: tests.length });
}

main().catch((err) => window.__zenalyzeDone({ passed: 0, failed: 1, skipped: 0, total: 0, fatal: String(err && err.stack || err) }));
