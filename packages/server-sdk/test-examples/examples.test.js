// Runs the framework examples (examples/express, examples/hono,
// examples/axum) against a real `zenalyze dev` and drives their journal
// routes as the browser would: encrypted entries, plaintext refused, per-user
// scoping, and an AI request sealed by the client SDK, forwarded, opened.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, pbkdf2Sync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ZenalyzeServer } from '../dist/index.js';
import { REPO, startDev, sealEnvelope } from '../test/helpers.js';
import { ensureClientSdk } from '../scripts/client-sdk.mjs';

let dev;
let ai;
before(async () => {
  ai = await ensureClientSdk();
  dev = await startDev();
});
after(async () => { await dev?.stop(); });

const ALICE = 'tok-alice-0123456789';
const BOB = 'tok-bob-0123456789';

function userKey(email, password) {
  const salt = createHash('sha256').update(email.trim().toLowerCase()).digest();
  return pbkdf2Sync(password, salt, 100_000, 32, 'sha256');
}

async function keyConfig() {
  const nonce = randomBytes(32);
  const r = await fetch(`${dev.baseUrl}/v1/ai/attestation?nonce=${nonce.toString('hex')}`, { headers: { authorization: `Bearer ${dev.publishableKey}` } });
  const { attestation_doc: doc } = await r.json();
  const verified = await ai.verifyAttestation(new Uint8Array(Buffer.from(doc, 'base64')), { trustedRootSha256: dev.devRootSha256, measurements: [], allowDebug: true }, { nowMs: Date.now(), expectedNonce: new Uint8Array(nonce) });
  return ai.keyConfigFromAttestation(verified);
}

/** The browser's side of the journal, against a backend at `base`. */
async function journey(base) {
  const call = async (method, p, token, body) => {
    const r = await fetch(`${base}${p}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : undefined };
  };
  const key = userKey('alice@example.com', 'alice password');
  const entry = 'I slept badly and felt low, but talking to my sister helped.';

  assert.equal((await call('GET', '/journal')).status, 401);
  const created = await call('POST', '/journal', ALICE, { encryptedData: sealEnvelope(key, Buffer.from(entry)) });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const plain = await call('POST', '/journal', ALICE, { encryptedData: entry });
  assert.equal(plain.status, 422);
  assert.equal(plain.json.code, 'invalid_base64');
  const list = await call('GET', '/journal', ALICE);
  assert.equal(list.status, 200);
  assert.deepEqual(list.json.entries.map((e) => e.id), [created.json.id], 'the plaintext was never stored');
  const one = await call('GET', `/journal/${created.json.id}`, ALICE);
  assert.equal(one.status, 200);
  assert.equal(one.json.encryptedData, list.json.entries[0].encryptedData);
  assert.equal((await call('GET', `/journal/${created.json.id}`, BOB)).status, 404, "another user's entry");
  assert.deepEqual((await call('GET', '/journal', BOB)).json.entries, []);

  const config = await keyConfig();
  const sealed = await ai.sealRequest(config, new TextEncoder().encode(JSON.stringify({
    prompt: 'How was my mood?', inputs: [{ kind: 'record', record_id: created.json.id, key: key.toString('base64') }],
  })));
  const sealedRequest = { body: Buffer.from(sealed.body).toString('base64'), encapsulatedKey: sealed.encapsulatedKeyHex };
  assert.equal((await call('POST', '/journal/analyze', BOB, { sealedRequest, recordIds: [created.json.id] })).status, 404);
  const analyzed = await call('POST', '/journal/analyze', ALICE, { sealedRequest, recordIds: [created.json.id] });
  assert.equal(analyzed.status, 200, JSON.stringify(analyzed.json));
  assert.equal(analyzed.json.status, 200);
  const answer = JSON.parse(new TextDecoder().decode(await sealed.response.openResponse(analyzed.json.responseNonce, Buffer.from(analyzed.json.body, 'base64'))));
  assert.equal(answer.provider, 'offline');
  assert.ok(answer.output !== undefined);
}

function npmInstall(dir) {
  if (!existsSync(path.join(dir, 'node_modules'))) {
    execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  }
}

// Distinct users per example: they share one gateway tenant.
const sessionsFor = (mod, tag) => {
  const s = new mod.Sessions();
  s.create(ALICE, `usr_alice_${tag}`);
  s.create(BOB, `usr_bob_${tag}`);
  return s;
};

test('examples/express', async () => {
  const dir = path.join(REPO, 'examples/express');
  npmInstall(dir);
  const mod = await import(pathToFileURL(path.join(dir, 'app.js')).href);
  const app = mod.createApp({ zenalyze: new ZenalyzeServer({ apiKey: dev.apiKey, baseUrl: dev.baseUrl }), sessions: sessionsFor(mod, 'express') });
  const server = await new Promise((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)); });
  try {
    await journey(`http://127.0.0.1:${server.address().port}`);
  } finally {
    server.closeAllConnections?.();
    await new Promise((r) => server.close(r));
  }
});

test('examples/hono', async () => {
  const dir = path.join(REPO, 'examples/hono');
  npmInstall(dir);
  const mod = await import(pathToFileURL(path.join(dir, 'app.js')).href);
  const { serve } = await import(pathToFileURL(path.join(dir, 'node_modules/@hono/node-server/dist/index.mjs')).href);
  const app = mod.createApp({ zenalyze: new ZenalyzeServer({ apiKey: dev.apiKey, baseUrl: dev.baseUrl }), sessions: sessionsFor(mod, 'hono') });
  const server = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  try {
    await journey(`http://127.0.0.1:${server.address().port}`);
  } finally {
    server.closeAllConnections?.();
    await new Promise((r) => server.close(r));
  }
});

test('examples/axum', { timeout: 900_000 }, async () => {
  const dir = path.join(REPO, 'examples/axum');
  execFileSync('cargo', ['build', '--quiet', '--manifest-path', path.join(dir, 'Cargo.toml')], { stdio: ['ignore', 'inherit', 'inherit'] });
  const meta = JSON.parse(execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps', '--manifest-path', path.join(dir, 'Cargo.toml')], { encoding: 'utf8' }));
  const bin = path.join(meta.target_directory, 'debug', 'zenalyze-example-axum');
  const child = spawn(bin, [], {
    env: { ...process.env, ZENALYZE_API_KEY: dev.apiKey, ZENALYZE_BASE_URL: dev.baseUrl, LISTEN: '127.0.0.1:0', DEMO_SESSIONS: `${ALICE}=usr_alice_axum,${BOB}=usr_bob_axum` },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  try {
    // The example binds LISTEN itself and prints the bound address.
    const deadline = Date.now() + 20_000;
    let base;
    for (;;) {
      base ??= /journal backend on (http:\/\/\S+)/.exec(stdout)?.[1];
      if (base) {
        try {
          const r = await fetch(`${base}/journal`, { signal: AbortSignal.timeout(1000) });
          if (r.status === 401) break;
        } catch { /* not up yet */ }
      }
      if (child.exitCode !== null) throw new Error(`the axum example exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error('the axum example did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    await journey(base);
  } finally {
    child.kill('SIGTERM');
  }
});
