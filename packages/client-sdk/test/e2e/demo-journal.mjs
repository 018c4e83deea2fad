// End-to-end test of the demo journal that `zenalyze dev` serves at `/`
// (docs/demo-journal.md), in Debian's headless Chromium driven by
// playwright-core:
//   1. sign in; 2. write an entry containing a canary phrase; 3. reload and
//   read it back; 4. analyze; 5. full-page screenshot;
//   6. no request the page sent and no response it received contains the
//   canary in plaintext (every exchange is intercepted with context.route),
//   nor does the server's output or any file of its data directory.
//
// It starts the real binary: $ZENALYZE_BIN, else $CARGO_TARGET_DIR/debug/
// zenalyze, else /root/.cache/zenalyze-target/debug/zenalyze; when none
// exists it runs `cargo build -p zenalyze` first.
// Environment: ZENALYZE_DEMO_SCREENSHOT is where the screenshot goes (default:
// zenalyze-demo-journal.png in the temporary directory, so a test run leaves
// the tree clean; `ZENALYZE_DEMO_SCREENSHOT=docs/demo-journal.png`, relative
// to the repository root, refreshes the docs' picture).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../browser/chromium.mjs';
import { binaryCandidates } from '../node/enclave-process.js';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const repoRoot = path.resolve(pkgDir, '../..');
// A relative ZENALYZE_DEMO_SCREENSHOT is taken from the repository root.
const screenshotPath = process.env.ZENALYZE_DEMO_SCREENSHOT
  ? path.resolve(repoRoot, process.env.ZENALYZE_DEMO_SCREENSHOT)
  : path.join(tmpdir(), 'zenalyze-demo-journal.png');
const STEP_TIMEOUT_MS = 60_000;

let failures = 0;
let n = 0;
function check(ok, name, detail = '') {
  n++;
  if (ok) console.log(`ok ${n} - ${name}`);
  else {
    failures++;
    console.log(`not ok ${n} - ${name}${detail ? `\n  ${String(detail).replace(/\n/g, '\n  ')}` : ''}`);
  }
  return ok;
}

// ---- the canary and every way it could show up -----------------------------

const token = `canary${randomBytes(8).toString('hex')}`;
const canary = `zebra lantern ${token}`;

/** Base64 fragments that any base64 text containing `text` must contain, at each of the 3 alignments. */
function base64Cores(text) {
  const bytes = Buffer.from(text, 'utf8');
  const cores = [];
  for (let k = 0; k < 3; k++) {
    const b64 = Buffer.concat([Buffer.alloc(k, 0x41), bytes]).toString('base64');
    const core = b64.slice(k === 0 ? 0 : 4, b64.length - 4);
    cores.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return cores.filter((c) => c.length >= 8);
}

const needles = [...new Set([
  canary,
  token,
  encodeURIComponent(canary),
  canary.replace(/ /g, '+'),
  Buffer.from(token, 'utf8').toString('hex'),
  ...base64Cores(canary),
  ...base64Cores(token),
])];

/** The forms of the canary found in `data` (bytes or text), case-insensitively. */
function leaks(data) {
  if (data === undefined || data === null) return [];
  const text = (Buffer.isBuffer(data) ? data.toString('latin1') : String(data)).toLowerCase();
  return needles.filter((s) => text.includes(s.toLowerCase()));
}

// The detector must see the canary where it is: plain, in base64, in a URL.
check(leaks(`xx ${canary} yy`).length > 0, 'detector: finds the plain canary');
check(leaks(Buffer.from(`{"t":"${canary}!"}`).toString('base64')).length > 0, 'detector: finds the canary in base64');
check(leaks(`?q=${encodeURIComponent(`a ${canary}`)}`).length > 0, 'detector: finds the URL-encoded canary');
check(leaks('nothing to see here').length === 0, 'detector: no false positive');

// ---- the zenalyze binary ---------------------------------------------------

function findBinary() {
  return binaryCandidates().find((c) => existsSync(c)) ?? null;
}

let bin = findBinary();
if (!bin) {
  console.error('demo-journal: no zenalyze binary found; running `cargo build -p zenalyze`');
  const built = spawnSync('cargo', ['build', '-p', 'zenalyze'], { cwd: repoRoot, stdio: 'inherit' });
  if (built.status !== 0) {
    console.error('demo-journal: `cargo build -p zenalyze` failed');
    process.exit(1);
  }
  bin = findBinary();
  if (!bin) {
    console.error(`demo-journal: the build put no binary at ${binaryCandidates().join(', ')}`);
    process.exit(1);
  }
}

const tmp = mkdtempSync(path.join(tmpdir(), 'zenalyze-demo-e2e-'));
const dataDir = path.join(tmp, 'data');
const server = spawn(bin, ['dev', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
  stdio: ['ignore', 'pipe', 'pipe'],
  env: { ...process.env, ZENALYZE_LOG_LEVEL: 'info' },
});
const output = { stdout: [], stderr: [] };
server.stdout.on('data', (c) => output.stdout.push(c));
server.stderr.on('data', (c) => output.stderr.push(c));
const exited = new Promise((resolve) => server.once('exit', (code, signal) => resolve({ code, signal })));

async function waitForBanner() {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const text = Buffer.concat(output.stdout).toString('utf8');
    const demo = /Demo journal: (http:\/\/[^\s/]+)\//.exec(text);
    const root = /Development attestation root \(pin it with allow_debug\): ([0-9a-f]{64})/.exec(text);
    if (demo && root) return { base: demo[1], root: root[1] };
    if (server.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `zenalyze dev did not print "Demo journal: http://…/" (binary ${bin}; rebuild it with \`cargo build -p zenalyze\` if it predates the demo)\n` +
      `stdout:\n${Buffer.concat(output.stdout).toString('utf8')}\nstderr:\n${Buffer.concat(output.stderr).toString('utf8').slice(-4000)}`,
  );
}

async function stopServer() {
  if (server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 30_000);
  const result = await exited;
  clearTimeout(timer);
  return result;
}

/** Every file under `dir` as [path, bytes]. */
function filesUnder(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(p));
    else if (entry.isFile()) out.push([p, readFileSync(p)]);
  }
  return out;
}

// ---- the browser -------------------------------------------------------------

const exchanges = []; // every request the page sent, with the response it got
const seenByPage = []; // every request the page reports (to prove nothing bypassed the interception)
const pageErrors = [];
let browser;
let exitCode = 1;
try {
  const { base, root } = await waitForBanner();
  console.log(`# zenalyze dev at ${base} (${bin})`);
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  await context.route('**/*', async (route) => {
    const req = route.request();
    const record = {
      method: req.method(),
      url: req.url(),
      requestHeaders: await req.allHeaders(),
      requestBody: req.postDataBuffer() ?? Buffer.alloc(0),
    };
    exchanges.push(record);
    try {
      const response = await route.fetch();
      record.status = response.status();
      record.responseHeaders = response.headers();
      record.responseBody = await response.body();
      await route.fulfill({ response, body: record.responseBody });
    } catch (err) {
      record.error = String(err);
      await route.abort().catch(() => {});
    }
  });
  const page = await context.newPage();
  page.on('request', (r) => seenByPage.push(`${r.method()} ${r.url()}`));
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(`console.error: ${msg.text()}`);
  });
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  const byId = (id) => page.getByTestId(id);
  const ready = () => page.waitForSelector('body[data-ready="true"]');
  const idle = () => page.waitForFunction(() => document.body.dataset.busy === undefined);

  async function signIn(password = 'correct horse battery staple') {
    await byId('email').fill('Alex.Demo@Example.com');
    await byId('password').fill(password);
    await byId('sign-in').click();
    await byId('journal').waitFor({ state: 'visible' });
    await idle();
  }

  // 1. Sign in.
  await page.goto(`${base}/`);
  await ready();
  await signIn();
  const userId = (await byId('user-id').textContent()) ?? '';
  check(/^u_[0-9a-f]{32}$/.test(userId), 'sign in: the page derived a user id from the email', userId);
  check((await byId('entry').count()) === 0, 'sign in: a fresh journal is empty');

  // 2. Write an entry with the canary, and an ordinary one.
  const secretText = `Today's secret phrase is ${canary}. I slept badly and felt anxious about the deadline at work.`;
  const otherText = 'A long walk by the river with my sister in the evening. I felt calm and grateful afterwards.';
  for (const text of [secretText, otherText]) {
    await byId('entry-text').fill(text);
    await byId('save-entry').click();
    await idle();
  }
  check((await byId('status').textContent())?.startsWith('Saved'), 'write: the page reports the entry saved', await byId('status').textContent());
  check((await byId('entry').count()) === 2, 'write: both entries are listed');

  // 3. Reload (the key is gone with the tab's memory), sign in again, read the entry back.
  await page.reload();
  await ready();
  check(!(await byId('journal').isVisible()), 'reload: the journal is locked until the password is entered again');
  await signIn();
  check((await byId('entry').count()) === 2, 'reload: both entries are listed again');
  const secretRow = byId('entry').filter({ hasText: token });
  check((await secretRow.count()) === 1, 'reload: the canary entry decrypts in the list');
  await secretRow.getByTestId('read-entry').click();
  await byId('reader').waitFor({ state: 'visible' });
  await idle();
  const readBack = (await byId('reader-text').textContent()) ?? '';
  check(readBack === secretText, 'read: the entry reads back exactly', readBack);

  // 4. Analyze.
  await byId('analyze').click();
  await byId('analysis').waitFor({ state: 'visible' });
  await idle();
  const analysis = (await byId('analysis').textContent()) ?? '';
  const status = (await byId('status').textContent()) ?? '';
  check(status.startsWith('Analysed 2 entries'), 'analyze: the page reports the analysis', status);
  check((await byId('analysis-mood').textContent())?.length > 0, 'analyze: a mood is shown');
  check(/2 entries/.test(analysis), 'analyze: both entries were analysed', analysis.slice(0, 400));
  check(/offline/.test(analysis), 'analyze: the offline analyzer answered');
  const enclaveRoot = await byId('who-enclave').getAttribute('data-root-sha256');
  check(enclaveRoot === root, 'analyze: the verified attestation ends in the development root zenalyze dev printed', `${enclaveRoot} vs ${root}`);
  check(/PCR0 0{16}/.test((await byId('enclave-pcr0').textContent()) ?? ''), 'analyze: the attestation summary shows PCR0 (debug: zero)');
  check((await byId('who-backend').textContent())?.startsWith('Envelopes only'), 'who saw what: the backend handled envelopes');

  // The plaintext is on the page (the detector sees it there) …
  check(leaks(await page.content()).length > 0, 'the canary is on the page itself (decrypted in the browser)');

  // 5. Screenshot (a stale file from an earlier run must not pass the check).
  rmSync(screenshotPath, { force: true });
  await page.screenshot({ path: screenshotPath, fullPage: true });
  check(existsSync(screenshotPath) && statSync(screenshotPath).size > 10_000, `screenshot written to ${screenshotPath}`);

  // Same email, another password: another key; the envelopes do not open.
  await byId('sign-out').click();
  await signIn('not the password');
  check((await byId('user-id').textContent()) === userId, 'wrong password: same user id (derived from the email only)');
  check(
    (await byId('entry').count()) === 2 && (await page.locator('[data-testid="entry"] .locked').count()) === 2 && (await page.locator('[data-testid="read-entry"]:disabled').count()) === 2,
    'wrong password: both entries are listed but neither decrypts',
  );

  await context.close();

  // 6. … but in no request or response.
  const key = (e) => `${e.method} ${e.url}`;
  const intercepted = new Set(exchanges.map(key));
  const bypassed = seenByPage.filter((r) => !intercepted.has(r));
  check(bypassed.length === 0, 'every request of the page went through the interception', bypassed.join('\n'));
  check(exchanges.every((e) => e.responseBody !== undefined), 'every intercepted request got a response', exchanges.filter((e) => e.error).map((e) => `${key(e)}: ${e.error}`).join('\n'));
  const find = (method, re) => exchanges.filter((e) => e.method === method && re.test(new URL(e.url).pathname));
  const stores = find('POST', /^\/demo\/api\/entries$/);
  check(stores.length === 2 && stores.every((e) => e.status === 201), 'traffic: two entries stored (201)');
  const envelopesOk = stores.every((e) => {
    try {
      const body = JSON.parse(e.requestBody.toString('utf8'));
      const bytes = Buffer.from(body.envelope, 'base64');
      return Object.keys(body).sort().join() === 'envelope,user_id' && body.user_id === userId && bytes[0] === 1 && bytes.length > 29 + 40;
    } catch {
      return false;
    }
  });
  check(envelopesOk, 'traffic: the page sent {user_id, envelope} with v1 envelopes only');
  check(find('GET', /^\/demo\/api\/entries\/rec_/).some((e) => e.status === 200), 'traffic: the entry was read back through the backend');
  check(find('GET', /^\/v1\/ai\/attestation$/).some((e) => e.status === 200), 'traffic: the enclave was attested');
  const sealed = find('POST', /^\/v1\/ai\/analyze$/);
  check(
    sealed.length === 1 && sealed[0].status === 200 && /^[0-9a-f]{64}$/.test(sealed[0].requestHeaders['ehbp-encapsulated-key'] ?? '') && Boolean(sealed[0].responseHeaders['ehbp-response-nonce']),
    'traffic: one sealed AI request (EHBP), answered sealed',
  );
  const leaked = [];
  for (const e of exchanges) {
    const parts = {
      url: e.url,
      'request headers': JSON.stringify(e.requestHeaders),
      'request body': e.requestBody,
      'response headers': JSON.stringify(e.responseHeaders ?? {}),
      'response body': e.responseBody,
    };
    for (const [where, data] of Object.entries(parts)) {
      const found = leaks(data);
      if (found.length > 0) leaked.push(`${key(e)} ${where}: ${found.join(', ')}`);
    }
  }
  check(exchanges.length >= 20, `traffic: ${exchanges.length} exchanges intercepted`);
  check(leaked.length === 0, 'no request or response carries the canary in plaintext (raw, URL-encoded, hex or base64)', leaked.join('\n'));
  check(pageErrors.length === 0, 'no page errors or console errors (CSP violations included)', pageErrors.join('\n'));
} catch (err) {
  check(false, 'the scenario ran to the end', err?.stack ?? String(err));
} finally {
  await browser?.close().catch(() => {});
  const { code, signal } = await stopServer();
  check(code === 0 || signal === 'SIGTERM', 'zenalyze dev stopped cleanly', `code ${code}, signal ${signal}`);
  const out = Buffer.concat([...output.stdout, ...output.stderr]);
  check(leaks(out).length === 0, "the canary is not in zenalyze dev's stdout or stderr", leaks(out).join(', '));
  if (existsSync(dataDir)) {
    const files = filesUnder(dataDir);
    const dirty = files.filter(([, bytes]) => leaks(bytes).length > 0).map(([p]) => path.relative(dataDir, p));
    check(files.some(([p]) => p.endsWith('.db')), `the data directory holds the store (${files.length} files scanned)`);
    check(dirty.length === 0, 'the canary is in no file of the data directory', dirty.join('\n'));
  } else {
    check(false, 'the data directory exists');
  }
  rmSync(tmp, { recursive: true, force: true });
  console.log(`# ${n - failures} passed, ${failures} failed`);
  exitCode = failures === 0 ? 0 : 1;
}
process.exit(exitCode);
