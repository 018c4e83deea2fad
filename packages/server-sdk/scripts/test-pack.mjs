// Packs the package with `npm pack`, installs the tarball into a fresh
// project in a temporary directory, and checks that it has no runtime
// dependencies, imports, works offline (webhooks, envelope check, redaction),
// is typed for a strict TypeScript project, and exposes only its exports.
// Exits non-zero on any failure. Requires a prior `npm run build`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
const work = mkdtempSync(path.join(tmpdir(), 'zenalyze-server-pack-'));
let passed = 0;
let failed = 0;
function check(name, fn) {
  try {
    fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (err) {
    failed++;
    console.log(`not ok - ${name}\n  ${String(err.stdout ?? '').trim()}\n  ${String(err.stderr ?? '').trim()}\n  ${err.message}`);
  }
}
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

try {
  let tarball;
  check('npm pack produces a tarball with only dist, src, README and package.json', () => {
    const info = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], pkgDir))[0];
    tarball = path.join(work, info.filename);
    if (info.filename !== `zenalyze-server-sdk-${pkg.version}.tgz`) throw new Error(`unexpected name ${info.filename}`);
    const files = info.files.map((f) => f.path);
    for (const required of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/webhooks.d.ts']) {
      if (!files.includes(required)) throw new Error(`missing ${required}`);
    }
    const stray = files.filter((f) => !/^(package\.json|README\.md|dist\/|src\/)/.test(f));
    if (stray.length) throw new Error(`unexpected files: ${stray.join(', ')}`);
  });
  const app = path.join(work, 'app');
  check('a fresh project installs the tarball (zero runtime dependencies, ESM, Node >= 18)', () => {
    mkdirSync(app);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], app);
    const installed = JSON.parse(readFileSync(path.join(app, 'node_modules/@zenalyze/server-sdk/package.json'), 'utf8'));
    if (installed.dependencies && Object.keys(installed.dependencies).length) throw new Error('has runtime dependencies');
    if (installed.type !== 'module') throw new Error('not ESM');
    if (installed.engines?.node !== '>=18') throw new Error('engines');
    const lock = JSON.parse(readFileSync(path.join(app, 'package-lock.json'), 'utf8'));
    const extra = Object.keys(lock.packages).filter((p) => p && p !== 'node_modules/@zenalyze/server-sdk');
    if (extra.length) throw new Error(`installed more than the SDK: ${extra.join(', ')}`);
  });
  check('the installed package imports and works offline', () => {
    writeFileSync(
      path.join(app, 'smoke.mjs'),
      `import { inspect } from 'node:util';
import { ZenalyzeServer, verifyWebhook, signWebhook, validateEnvelope, InvalidEnvelopeError, WebhookVerificationError } from '@zenalyze/server-sdk';
const sig = signWebhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
if (sig !== 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=') throw new Error('webhook vector');
const h = { 'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek', 'webhook-timestamp': '1614265330', 'webhook-signature': sig };
verifyWebhook('{"test": 2432232314}', h, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', { now: () => 1614265330000 });
try { verifyWebhook('{}', h, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', { now: () => 1614265330000 }); throw new Error('no failure'); }
catch (e) { if (!(e instanceof WebhookVerificationError)) throw e; }
if (validateEnvelope('AcptjrfnH1qMHAwLLv84iYQbY7zggPszIErEzho=').size !== 29) throw new Error('envelope');
const key = 'zk_test_' + 'a'.repeat(43);
let sent = 0;
const zen = new ZenalyzeServer({ apiKey: key, baseUrl: 'https://api.example.com', fetch: () => { sent++; throw new Error('no network'); } });
try { await zen.storeEncrypted({ userId: 'u', encryptedData: 'plain text' }); throw new Error('no failure'); }
catch (e) { if (!(e instanceof InvalidEnvelopeError) || sent !== 0) throw e; }
if (inspect(zen).includes(key) || JSON.stringify(zen).includes(key)) throw new Error('key not redacted');
console.log('smoke ok');
`,
    );
    const out = run('node', ['smoke.mjs'], app);
    if (!out.includes('smoke ok')) throw new Error(out);
  });
  check('deep imports outside the exports map are refused', () => {
    writeFileSync(path.join(app, 'deep.mjs'), `import '@zenalyze/server-sdk/dist/client.js';\n`);
    try {
      run('node', ['deep.mjs'], app);
    } catch (err) {
      if (String(err.stderr).includes('ERR_PACKAGE_PATH_NOT_EXPORTED')) return;
      throw err;
    }
    throw new Error('deep import succeeded');
  });
  check('the .d.ts types check in a strict TypeScript project', () => {
    writeFileSync(
      path.join(app, 'typed.ts'),
      `import { ZenalyzeServer, verifyWebhook, RateLimitError, type StoredRecord, type SealedAnswer, type AnalyzeJob, type Usage, type VerifiedWebhook } from '@zenalyze/server-sdk';
export async function demo(zen: ZenalyzeServer, env: string, body: Uint8Array): Promise<string> {
  const rec: StoredRecord = await zen.storeEncrypted({ userId: 'usr_1', encryptedData: env, metadata: { kind: 'journal' } });
  const page = await zen.listRecords({ userId: 'usr_1', limit: 10 });
  const first: string | undefined = page.records[0]?.encryptedData;
  const a: SealedAnswer | AnalyzeJob = await zen.analyzeWithAI({ encryptedData: { body, encapsulatedKey: 'ab' }, recordIds: [rec.id] });
  const c = await zen.encryptMetadata({ keyring: 'encrypt-email', plaintext: 'a@b.c' });
  const batch = await zen.decryptMetadata({ keyring: 'encrypt-email', batch: [{ ciphertext: c.ciphertext }] });
  const u: Usage = await zen.usage({ from: '2026-01-01' });
  const w: VerifiedWebhook<{ type: string }> = verifyWebhook<{ type: string }>('{}', new Headers(), 'whsec_x');
  try { await zen.getRecord(rec.id); } catch (e) { if (e instanceof RateLimitError) return String(e.retryAfterMs); }
  return (first ?? '') + ('status' in a ? a.status : '') + batch.length + u.tier + w.payload.type;
}
`,
    );
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM'], types: [],
          strict: true, noEmit: true, skipLibCheck: false, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true,
          typeRoots: [path.join(pkgDir, 'node_modules/@types')],
        },
        files: ['typed.ts'],
      }),
    );
    run(process.execPath, [path.join(pkgDir, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--types', 'node'], app);
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
