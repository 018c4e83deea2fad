// Node-only cross-checks against an independent implementation (node:crypto's
// OpenSSL-backed PBKDF2 and AES-GCM, and Buffer's base64), so the SDK is
// checked by something other than itself even where no vector covers a case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash, pbkdf2Sync, randomBytes } from 'node:crypto';
import * as sdk from '../../dist/index.js';
import { base64DecodePure, base64EncodePure } from '../../dist/base64.js';
import { utf8DecodePure, utf8EncodePure } from '../../dist/utf8.js';

function referenceEnvelope(email, password, iv, plaintext, aad) {
  const normalized = email.trim().normalize('NFC').toLowerCase();
  const salt = createHash('sha256').update(Buffer.from(normalized, 'utf8')).digest();
  const key = pbkdf2Sync(Buffer.from(password.normalize('NFC'), 'utf8'), salt, 100000, 32, 'sha256');
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  if (aad) cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([1]), iv, cipher.getAuthTag(), ct]).toString('base64');
}

const credentials = [
  ['İnci.Öztürk@Example.com.tr', 'şifre-İ-ı-123'],
  ['  Jose\u0301@Example.COM ', 'pa\u0073\u0301s word'],
  ['患者@例え.jp', '密码🔐パスワード'],
  ['emoji😀@x.io', '😀😃😄'],
  ['plain@example.org', ''],
];

test('sealV1 equals an independent node:crypto implementation (Unicode credentials, AAD, sizes)', async () => {
  for (const [email, password] of credentials) {
    const key = await sdk.deriveKeyV1(email, password);
    for (const size of [0, 1, 31, 1000]) {
      for (const aad of [undefined, Buffer.from('record-7', 'utf8'), randomBytes(5)]) {
        const iv = randomBytes(12);
        const plaintext = randomBytes(size);
        const ours = sdk.encodeEnvelope(await sdk.sealV1(key, new Uint8Array(iv), new Uint8Array(plaintext), aad && new Uint8Array(aad)));
        assert.equal(ours, referenceEnvelope(email, password, iv, plaintext, aad), `${email} size ${size}`);
      }
    }
  }
});

test('base64 encoders and strict decoder agree with Buffer on valid input', () => {
  for (let n = 0; n < 300; n++) {
    const bytes = new Uint8Array(randomBytes(n));
    const expected = Buffer.from(bytes).toString('base64');
    assert.equal(sdk.base64Encode(bytes), expected);
    assert.equal(base64EncodePure(bytes), expected);
    assert.deepEqual(base64DecodePure(expected), bytes);
    assert.deepEqual(sdk.base64Decode(expected), bytes);
  }
});

test('pure base64 decoder rejects what the strict decoder rejects', () => {
  for (const s of ['A', 'AA=A', 'AAAA\n', 'AA-_', 'AB==', 'AAB=', 'AAA\u0100', '=AAA', 'AA==AAAA']) {
    assert.throws(() => base64DecodePure(s), (e) => e.code === 'invalid_base64', s);
  }
});

test('pure UTF-8 codec agrees with TextEncoder/TextDecoder (fatal)', () => {
  const te = new TextEncoder();
  const td = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const samples = ['', 'a', '\ufeffbom', 'é€😀日本', 'a\ud800b', '\udfff', 'x\ud83d', '\u{10ffff}'];
  for (const s of samples) {
    assert.deepEqual(utf8EncodePure(s), te.encode(s), JSON.stringify(s));
    assert.equal(utf8DecodePure(te.encode(s)), td.decode(te.encode(s)));
  }
  // Random byte strings: accept/reject exactly like the fatal TextDecoder.
  for (let i = 0; i < 3000; i++) {
    const bytes = new Uint8Array(randomBytes(1 + (i % 7)));
    let expected;
    try {
      expected = td.decode(bytes);
    } catch {
      expected = undefined;
    }
    assert.equal(utf8DecodePure(bytes), expected, Buffer.from(bytes).toString('hex'));
  }
});

test('Uint8Arrays from another realm (vm context, as under jsdom) and Buffers are accepted', async () => {
  const { runInNewContext } = await import('node:vm');
  const foreign = runInNewContext('new Uint8Array([104, 105, 33])');
  assert.equal(foreign instanceof Uint8Array, false, 'really from another realm');
  const enc = new sdk.ZenalyzeEncryption({ email: 'realm@example.org', password: 'pw' });
  const blob = await enc.encryptBytes(foreign, { context: runInNewContext('new Uint8Array([1])') });
  assert.deepEqual(await enc.decryptBytes(blob, { context: new Uint8Array([1]) }), new Uint8Array([104, 105, 33]));
  const binary = runInNewContext('(b) => { const u = new Uint8Array(b.length); u.set(b); return u; }')(sdk.base64Decode(blob));
  assert.deepEqual(await enc.decryptBytes(binary, { context: Buffer.from([1]) }), new Uint8Array([104, 105, 33]));
  assert.deepEqual(await enc.decryptBytes(Buffer.from(sdk.base64Decode(blob)), { context: new Uint8Array([1]) }), new Uint8Array([104, 105, 33]));
});
