// Interoperability: Tinfoil's published EHBP client (npm `ehbp`, an
// independent implementation on @panva/hpke-noble) seals requests to a
// running `zenalyze enclave` process and opens its answers.
//
// The enclave binary is $ZENALYZE_BIN, else
// ${CARGO_TARGET_DIR:-/root/.cache/zenalyze-target}/debug/zenalyze, else
// <repo>/target/debug/zenalyze. Build it first: cargo build -p zenalyze.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { createTransport, Identity, Transport, KeyConfigMismatchError } from 'ehbp';

const here = dirname(fileURLToPath(import.meta.url));

function findBinary() {
  const candidates = [
    process.env.ZENALYZE_BIN,
    join(process.env.CARGO_TARGET_DIR || '/root/.cache/zenalyze-target', 'debug', 'zenalyze'),
    join(here, '..', '..', '..', '..', 'target', 'debug', 'zenalyze'),
  ].filter(Boolean);
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`zenalyze binary not found (tried ${candidates.join(', ')}); run cargo build -p zenalyze`);
  }
  return found;
}

let child;
let base;
let dataDir;
const CANARY = 'CANARY-interop-5d1e';

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'zenalyze-interop-'));
  child = spawn(findBinary(), ['enclave', '--listen', 'tcp:127.0.0.1:0', '--data-dir', join(dataDir, 'data')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  child.logs = () => stderr;
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('enclave did not start within 60 s')), 60_000);
    const rl = createInterface({ input: child.stdout });
    rl.once('line', (line) => { clearTimeout(timer); resolve(JSON.parse(line)); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`enclave exited with ${code}: ${stderr}`)); });
  });
  assert.equal(ready.event, 'listening');
  base = `http://${ready.address.replace(/^tcp:/, '')}`;
});

after(() => {
  if (child && child.exitCode === null) child.kill('SIGTERM');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('the ehbp client seals a request and opens the enclave answer', async () => {
  const transport = await createTransport(base);
  const body = JSON.stringify({
    prompt: `How was my week? ${CANARY}`,
    inputs: [{ kind: 'text', text: `Monday was hard. Tuesday I felt calm and grateful. ${CANARY}` }],
  });
  const res = await transport.post(`${base}/v1/analyze`, body, { headers: { 'Content-Type': 'application/json' } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('ehbp-response-nonce').length, 64);
  const answer = await res.json();
  assert.equal(answer.provider, 'offline');
  assert.equal(typeof answer.model, 'string');
  assert.equal(typeof answer.output, 'object');
});

test('an unknown field gets a sealed 400 the client opens', async () => {
  const transport = await createTransport(base);
  const res = await transport.post(`${base}/v1/analyze`, JSON.stringify({ prompt: 'p', inputs: [], promt: 'typo' }));
  assert.equal(res.status, 400);
  const answer = await res.json();
  assert.equal(answer.error.code, 'invalid_request');
  assert.match(answer.error.message, /promt/);
});

test('a request sealed to a key the enclave does not hold raises KeyConfigMismatchError', async () => {
  const stranger = await Identity.generate();
  const transport = new Transport(stranger, new URL(base).host);
  await assert.rejects(
    transport.post(`${base}/v1/analyze`, JSON.stringify({ prompt: 'p', inputs: [] })),
    (err) => err instanceof KeyConfigMismatchError,
  );
});

test('key config is one RFC 9458 key_config with one suite', async () => {
  const res = await fetch(`${base}/.well-known/hpke-keys`);
  assert.equal(res.headers.get('content-type'), 'application/ohttp-keys');
  const bytes = new Uint8Array(await res.arrayBuffer());
  assert.equal(bytes.length, 41);
  assert.deepEqual([...bytes.slice(1, 3)], [0x00, 0x20]);
  assert.deepEqual([...bytes.slice(35)], [0x00, 0x04, 0x00, 0x01, 0x00, 0x02]);
});

test('the canary reached neither the enclave logs nor its data dir', () => {
  assert.ok(!child.logs().includes(CANARY));
  const walk = (d) => readdirSync(d).flatMap((n) => {
    const p = join(d, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
  for (const f of walk(dataDir)) {
    assert.ok(!readFileSync(f).includes(CANARY), `canary in ${f}`);
  }
});
