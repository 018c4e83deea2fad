// Interoperability through the gateway: Tinfoil's published EHBP client
// (npm `ehbp`, unmodified) pointed at a running `zenalyze dev` — it fetches
// /.well-known/hpke-keys from the gateway, seals, posts to /v1/ai/analyze
// with a publishable key (and the backend's plaintext side data header),
// and opens the sealed answer the gateway relayed from the enclave.
//
// The binary is found as in ehbp-interop.test.js (cargo build -p zenalyze).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { createTransport } from 'ehbp';

const here = dirname(fileURLToPath(import.meta.url));

function findBinary() {
  const candidates = [
    process.env.ZENALYZE_BIN,
    join(process.env.CARGO_TARGET_DIR || '/root/.cache/zenalyze-target', 'debug', 'zenalyze'),
    join(here, '..', '..', '..', '..', 'target', 'debug', 'zenalyze'),
  ].filter(Boolean);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`zenalyze binary not found (tried ${candidates.join(', ')})`);
  return found;
}

let child;
let base;
let publishable;
let dataDir;
const CANARY = 'CANARY-gw-interop-9c2b';

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'zenalyze-gw-interop-'));
  child = spawn(findBinary(), ['dev', '--listen', '127.0.0.1:0', '--data-dir', join(dataDir, 'data'), '--enclaves', '2'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ZENALYZE_LOG_LEVEL: 'trace' },
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  child.logs = () => stderr;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`zenalyze dev did not start within 60 s: ${stderr}`)), 60_000);
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      const api = line.match(/API:\s+(http:\/\/\S+)\/v1/);
      if (api) base = api[1];
      const pk = line.match(/Publishable key:\s+(zk_pub_\S+)/);
      if (pk) publishable = pk[1];
      if (/Development attestation root/.test(line)) { clearTimeout(timer); resolve(); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`zenalyze dev exited with ${code}: ${stderr}`)); });
  });
  assert.ok(base && publishable, 'banner parsed');
});

after(() => {
  if (child && child.exitCode === null) child.kill('SIGTERM');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('the unmodified ehbp client analyzes through the gateway', async () => {
  const transport = await createTransport(base);
  for (let i = 0; i < 4; i++) { // both enclaves of the pool answer
    const body = JSON.stringify({
      prompt: `How was my week? ${CANARY}`,
      inputs: [{ kind: 'text', text: `Monday was awful and I felt hopeless. ${CANARY}` }],
    });
    const res = await transport.post(`${base}/v1/ai/analyze`, body, {
      headers: {
        Authorization: `Bearer ${publishable}`,
        'Content-Type': 'application/json',
        'Zenalyze-Instructions': 'Be brief.',
      },
    });
    assert.equal(res.status, 200);
    const answer = await res.json();
    assert.equal(answer.provider, 'offline');
    assert.ok(answer.output.sentiment.overall.compound < 0);
  }
});

test('sealed enclave errors and gateway problems pass through', async () => {
  const transport = await createTransport(base);
  const res = await transport.post(`${base}/v1/ai/analyze`, JSON.stringify({ prompt: 'p', inputs: [], promt: 'typo' }), {
    headers: { Authorization: `Bearer ${publishable}` },
  });
  assert.equal(res.status, 400);
  const err = await res.json();
  assert.equal(err.error.code, 'invalid_request');
  // Without a key: the gateway's 401 problem (plaintext, not sealed).
  await assert.rejects(() => transport.post(`${base}/v1/ai/analyze`, '{"prompt":"p","inputs":[]}'));
});

test('the gateway logs never contain the plaintext', async () => {
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(child.logs().length > 0);
  assert.ok(!child.logs().includes(CANARY));
});
