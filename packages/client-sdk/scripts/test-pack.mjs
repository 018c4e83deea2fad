// Packs the package with `npm pack`, installs the tarball into a fresh
// project in a temporary directory, and checks that it imports, works, is
// typed without DOM or Node typings, and exposes only its `exports` map.
// Exits non-zero on any failure. Requires a prior `npm run build`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
const work = mkdtempSync(path.join(tmpdir(), 'zenalyze-pack-'));
let passed = 0;
let failed = 0;
function check(name, fn) {
  try {
    fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (err) {
    failed++;
    console.log(`not ok - ${name}\n  ${String(err.stdout ?? "").trim()}\n  ${String(err.stderr ?? "").trim()}\n  ${err.message}`);
  }
}
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

try {
  let tarball;
  check('npm pack produces a tarball with only dist, src, README and package.json', () => {
    const out = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], pkgDir));
    const info = out[0];
    tarball = path.join(work, info.filename);
    if (info.filename !== `zenalyze-client-sdk-${pkg.version}.tgz`) throw new Error(`unexpected name ${info.filename}`);
    const files = info.files.map((f) => f.path);
    for (const required of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts']) {
      if (!files.includes(required)) throw new Error(`missing ${required}`);
    }
    const stray = files.filter((f) => !/^(package\.json|README\.md|dist\/|src\/)/.test(f));
    if (stray.length) throw new Error(`unexpected files: ${stray.join(', ')}`);
  });
  const app = path.join(work, 'app');
  check('a fresh project installs the tarball (no runtime dependencies)', () => {
    run('mkdir', ['-p', app]);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], app);
    const installed = JSON.parse(readFileSync(path.join(app, 'node_modules/@zenalyze/client-sdk/package.json'), 'utf8'));
    if (installed.dependencies && Object.keys(installed.dependencies).length) throw new Error('has runtime dependencies');
    if (installed.sideEffects !== false) throw new Error('sideEffects is not false');
    if (installed.type !== 'module') throw new Error('not ESM');
  });
  check('the installed package imports and round-trips', () => {
    writeFileSync(
      path.join(app, 'smoke.mjs'),
      `import { ZenalyzeEncryption, parseEnvelope, normalizeEmail, ZenalyzeError } from '@zenalyze/client-sdk';
const enc = await ZenalyzeEncryption.create({ email: ' A@B.example ', password: 'pw' });
const blob = await enc.encrypt({ message: 'Sensitive health data' }, { context: 'r1' });
const back = await enc.decrypt(blob, { context: 'r1' });
if (back.message !== 'Sensitive health data') throw new Error('round trip');
if (parseEnvelope(blob).version !== 1) throw new Error('version');
if (normalizeEmail(' A@B.example ') !== 'a@b.example') throw new Error('normalize');
try { await enc.decrypt(blob, { context: 'r2' }); throw new Error('no failure'); }
catch (e) { if (!(e instanceof ZenalyzeError) || e.code !== 'authentication_failed') throw e; }
console.log('smoke ok');
`,
    );
    const out = run('node', ['smoke.mjs'], app);
    if (!out.includes('smoke ok')) throw new Error(out);
  });
  check('the ./ai entry imports and seals/opens an EHBP round trip', () => {
    writeFileSync(
      path.join(app, 'ai.mjs'),
      `import { sealRequest, openRequest, randomResponseNonce, parseKeyConfig, encodeKeyConfig } from '@zenalyze/client-sdk/ai';
const pair = await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']);
const config = parseKeyConfig(encodeKeyConfig({ keyId: 1, publicKey: new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey)) }));
const sealed = await sealRequest(config, new TextEncoder().encode('{"prompt":"hi","inputs":[]}'));
const opened = await openRequest(pair.privateKey, config, sealed.encapsulatedKeyHex, sealed.body);
const nonce = randomResponseNonce();
const body = await opened.response.sealResponse(nonce, new TextEncoder().encode('{"output":"ok"}'));
const hex = [...nonce].map((b) => b.toString(16).padStart(2, '0')).join('');
const answer = new TextDecoder().decode(await sealed.response.openResponse(hex, body));
if (answer !== '{"output":"ok"}') throw new Error(answer);
console.log('ai ok');
`,
    );
    const out = run('node', ['ai.mjs'], app);
    if (!out.includes('ai ok')) throw new Error(out);
  });
  check('deep imports outside the exports map are refused', () => {
    writeFileSync(path.join(app, 'deep.mjs'), `import '@zenalyze/client-sdk/dist/kdf.js';\n`);
    try {
      run('node', ['deep.mjs'], app);
    } catch (err) {
      if (String(err.stderr).includes('ERR_PACKAGE_PATH_NOT_EXPORTED')) return;
      throw err;
    }
    throw new Error('deep import succeeded');
  });
  check('the .d.ts types check in a TypeScript project without DOM or Node typings', () => {
    writeFileSync(
      path.join(app, 'typed.ts'),
      `import { ZenalyzeEncryption, type ZenalyzeErrorCode, type Context, sealV1, deriveKeyV1 } from '@zenalyze/client-sdk';
import { ZenalyzeAI, verifyAttestation, type AiAnswer, type VerifiedAttestation } from '@zenalyze/client-sdk/ai';
export async function demo(email: string, password: string, context: Context): Promise<string> {
  const enc = new ZenalyzeEncryption({ email, password });
  const blob: string = await enc.encrypt({ mood: 3 }, { context });
  const value = await enc.decrypt<{ mood: number }>(blob, { context });
  const n: number = value.mood;
  const bytes: Uint8Array = await enc.decryptBytes(await enc.encryptBytes(new Uint8Array([n])));
  const key = await deriveKeyV1(email, password);
  const env: Uint8Array = await sealV1(key, new Uint8Array(12), bytes);
  const code: ZenalyzeErrorCode = 'too_short';
  return code + env.length;
}
export async function ai(): Promise<string> {
  const client = new ZenalyzeAI({ baseUrl: 'https://x.example', policy: { measurements: [], allowDebug: true } });
  const answer: AiAnswer = await client.analyze({ prompt: 'p', inputs: [{ kind: 'text', text: 't' }] });
  const v: VerifiedAttestation = await verifyAttestation(new Uint8Array(1), { measurements: [] }, { nowMs: 0 });
  return answer.provider + v.moduleId;
}
`,
    );
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022'], types: [],
          strict: true, noEmit: true, skipLibCheck: false,
        },
        files: ['typed.ts'],
      }),
    );
    run(process.execPath, [path.join(pkgDir, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app);
  });
  check('a DOM SubtleCrypto and getRandomValues are accepted by the injection types', () => {
    writeFileSync(
      path.join(app, 'dom.ts'),
      `import { ZenalyzeEncryption, deriveKeyV1, openV1 } from '@zenalyze/client-sdk';
import { ZenalyzeAI } from '@zenalyze/client-sdk/ai';
export async function demo(): Promise<Uint8Array> {
  const enc = new ZenalyzeEncryption({
    email: 'a@b.c', password: 'pw',
    subtle: window.crypto.subtle,
    getRandomValues: (a) => window.crypto.getRandomValues(a),
  });
  const key = await deriveKeyV1('a@b.c', 'pw', { subtle: crypto.subtle });
  const native: CryptoKey = await crypto.subtle.importKey('raw', new Uint8Array(32), 'AES-GCM', false, ['decrypt']);
  await openV1(native, await enc.encryptBytes(new Blob([new Uint8Array(1)])));
  return openV1(key, await enc.encryptBytes(new Uint8Array(1)));
}
export function ai(): ZenalyzeAI {
  return new ZenalyzeAI({
    baseUrl: 'https://x.example',
    policy: { measurements: [] },
    subtle: crypto.subtle,
    getRandomValues: (a) => crypto.getRandomValues(a),
    fetch,
  });
}
`,
    );
    writeFileSync(
      path.join(app, 'tsconfig.dom.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM'], types: [],
          strict: true, noEmit: true, skipLibCheck: false,
        },
        files: ['dom.ts'],
      }),
    );
    run(process.execPath, [path.join(pkgDir, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.dom.json'], app);
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
