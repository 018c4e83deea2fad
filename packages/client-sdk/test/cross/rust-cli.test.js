// Cross-language proof: envelopes made by this SDK open with the Rust CLI
// (`zenalyze envelope decrypt`) and envelopes made by the Rust CLI
// (`zenalyze envelope encrypt`, base64 and --binary) open with this SDK, for
// Unicode credentials and binary data, with and without a context.
//
// The binary is taken from $ZENALYZE_BIN, else $CARGO_TARGET_DIR/debug/zenalyze,
// else /root/.cache/zenalyze-target/debug/zenalyze. Without one the tests are
// skipped LOUDLY (a "SKIPPED:" line on stderr and node:test's skip count).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ZenalyzeEncryption, base64Decode } from '../../dist/index.js';

function findBinary() {
  const candidates = [];
  if (process.env.ZENALYZE_BIN) candidates.push(process.env.ZENALYZE_BIN);
  if (process.env.CARGO_TARGET_DIR) candidates.push(path.join(process.env.CARGO_TARGET_DIR, 'debug', 'zenalyze'));
  candidates.push('/root/.cache/zenalyze-target/debug/zenalyze');
  for (const c of candidates) if (existsSync(c)) return { bin: c, candidates };
  return { bin: null, candidates };
}

const { bin, candidates } = findBinary();
const skip = bin
  ? false
  : `SKIPPED: Rust CLI not found (set ZENALYZE_BIN or build with \`cargo build -p zenalyze\`); looked at ${candidates.join(', ')}`;
if (skip) process.stderr.write(`\n*** ${skip} ***\n\n`);

const users = [
  { label: 'Turkish dotted capital I', email: '  İrem.Çelik@Örnek.COM.tr ', password: 'Şifre-İı-2024!' },
  { label: 'NFD password', email: 'jose@example.org', password: 'Jose\u0301-cafe\u0301-\u212b' },
  { label: 'emoji', email: 'moods😀@example.io', password: '🔐🧠💊 secret' },
  { label: 'CJK', email: '患者.山田@例え.jp', password: '密码パスワード비밀번호' },
];
const contexts = [undefined, 'record-42', 'journal/2024-05-01/écrit ✍️'];

const work = mkdtempSync(path.join(tmpdir(), 'zenalyze-cross-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
let seq = 0;
const tmp = (name) => path.join(work, `${++seq}-${name}`);

function cli(args, { password, input, passwordFile } = {}) {
  const env = { ...process.env };
  delete env.ZENALYZE_PASSWORD;
  if (password !== undefined && !passwordFile) env.ZENALYZE_PASSWORD = password;
  const full = passwordFile ? [...args, '--password-file', passwordFile] : args;
  const r = spawnSync(bin, full, { env, input, maxBuffer: 64 << 20, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr?.toString('utf8') ?? '', error: r.error };
}

function ctxArgs(context) {
  return context === undefined ? [] : ['--context', context];
}

function payloads() {
  return [
    ['binary 0..255', Uint8Array.from({ length: 256 }, (_, i) => i)],
    ['random 100 KiB', new Uint8Array(randomBytes(100 * 1024))],
    ['empty', new Uint8Array(0)],
  ];
}

for (const user of users) {
  for (const context of contexts) {
    const label = `${user.label}, context ${context === undefined ? 'none' : JSON.stringify(context)}`;

    test(`TS → Rust (${label})`, { skip }, async () => {
      const enc = new ZenalyzeEncryption({ email: user.email, password: user.password });
      for (const [name, data] of payloads()) {
        const envPath = tmp('env.txt');
        const outPath = tmp('plain.bin');
        writeFileSync(envPath, await enc.encryptBytes(data, { context }));
        const r = cli(['envelope', 'decrypt', '--email', user.email, ...ctxArgs(context), '--in', envPath, '--out', outPath], { password: user.password });
        assert.equal(r.status, 0, `${name}: rust decrypt failed: ${r.stderr}`);
        assert.deepEqual(new Uint8Array(readFileSync(outPath)), data, `${name}: plaintext`);
      }
      // Raw binary envelope through stdin/stdout.
      const data = new Uint8Array(randomBytes(777));
      const binary = base64Decode(await enc.encryptBytes(data, { context }));
      const r = cli(['envelope', 'decrypt', '--email', user.email, ...ctxArgs(context)], { password: user.password, input: binary });
      assert.equal(r.status, 0, `binary stdin: ${r.stderr}`);
      assert.deepEqual(new Uint8Array(r.stdout), data);
      // The JSON API's plaintext is the UTF-8 JSON.
      const value = { note: 'Tired 😴 — 日本 — İ', mood: 2, tags: ['sleep'] };
      const jr = cli(['envelope', 'decrypt', '--email', user.email, ...ctxArgs(context)], {
        password: user.password,
        input: Buffer.from(await enc.encrypt(value, { context })),
      });
      assert.equal(jr.status, 0, `json: ${jr.stderr}`);
      assert.equal(jr.stdout.toString('utf8'), JSON.stringify(value));
    });

    test(`Rust → TS (${label})`, { skip }, async () => {
      const enc = new ZenalyzeEncryption({ email: user.email, password: user.password });
      for (const [name, data] of payloads()) {
        const inPath = tmp('plain.bin');
        writeFileSync(inPath, data);
        const r = cli(['envelope', 'encrypt', '--email', user.email, ...ctxArgs(context), '--in', inPath], { password: user.password });
        assert.equal(r.status, 0, `${name}: rust encrypt failed: ${r.stderr}`);
        const text = r.stdout.toString('ascii');
        assert.ok(/^[A-Za-z0-9+/]*={0,2}\n?$/.test(text), `${name}: one base64 line`);
        const line = text.replace(/\n$/, '');
        assert.deepEqual(await enc.decryptBytes(line, { context }), data, `${name}: base64 plaintext`);

        const binPath = tmp('env.bin');
        const rb = cli(['envelope', 'encrypt', '--email', user.email, ...ctxArgs(context), '--in', inPath, '--out', binPath, '--binary'], { password: user.password });
        assert.equal(rb.status, 0, `${name}: rust encrypt --binary failed: ${rb.stderr}`);
        const raw = new Uint8Array(readFileSync(binPath));
        assert.equal(raw[0], 1, 'version byte');
        assert.equal(raw.length, 29 + data.length, 'binary envelope length');
        assert.deepEqual(await enc.decryptBytes(raw, { context }), data, `${name}: binary plaintext`);
      }
      // JSON written by Rust opens with decrypt().
      const value = { from: 'rust', ok: true, text: '患者 İ 😀' };
      const rj = cli(['envelope', 'encrypt', '--email', user.email, ...ctxArgs(context)], {
        password: user.password,
        input: Buffer.from(JSON.stringify(value), 'utf8'),
      });
      assert.equal(rj.status, 0, rj.stderr);
      assert.deepEqual(await enc.decrypt(rj.stdout.toString('ascii').trim(), { context }), value);
    });
  }
}

test('password from --password-file and wrong context/password fail on both sides', { skip }, async () => {
  const user = users[0];
  const enc = new ZenalyzeEncryption({ email: user.email, password: user.password });
  const pwFile = tmp('pw.txt');
  writeFileSync(pwFile, `${user.password}\n`);
  const data = new Uint8Array(randomBytes(64));
  const blob = await enc.encryptBytes(data, { context: 'r1' });

  const ok = cli(['envelope', 'decrypt', '--email', user.email, '--context', 'r1'], { passwordFile: pwFile, input: Buffer.from(blob) });
  assert.equal(ok.status, 0, ok.stderr);
  assert.deepEqual(new Uint8Array(ok.stdout), data);

  const wrongCtx = cli(['envelope', 'decrypt', '--email', user.email, '--context', 'r2'], { password: user.password, input: Buffer.from(blob) });
  assert.notEqual(wrongCtx.status, 0, 'rust must refuse a wrong context');
  assert.equal(wrongCtx.stdout.length, 0, 'nothing on stdout on failure');
  const noCtx = cli(['envelope', 'decrypt', '--email', user.email], { password: user.password, input: Buffer.from(blob) });
  assert.notEqual(noCtx.status, 0, 'rust must refuse a missing context');
  const wrongPw = cli(['envelope', 'decrypt', '--email', user.email, '--context', 'r1'], { password: `${user.password}x`, input: Buffer.from(blob) });
  assert.notEqual(wrongPw.status, 0, 'rust must refuse a wrong password');

  const fromRust = cli(['envelope', 'encrypt', '--email', user.email, '--context', 'r1'], { password: user.password, input: Buffer.from(data) });
  assert.equal(fromRust.status, 0, fromRust.stderr);
  const line = fromRust.stdout.toString('ascii').trim();
  await assert.rejects(enc.decryptBytes(line, { context: 'r2' }), (e) => e.code === 'authentication_failed');
  await assert.rejects(enc.decryptBytes(line), (e) => e.code === 'authentication_failed');
  const other = new ZenalyzeEncryption({ email: user.email, password: `${user.password}x` });
  await assert.rejects(other.decryptBytes(line, { context: 'r1' }), (e) => e.code === 'authentication_failed');
  assert.deepEqual(await enc.decryptBytes(line, { context: 'r1' }), data);
});
