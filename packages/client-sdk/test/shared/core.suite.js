// The core test suite of @zenalyze/client-sdk. The SAME file runs under
// `node --test` (test/node/core.test.js) and inside headless Chromium
// (test/browser/), through a tiny harness:
//
//   registerCoreSuite({ test, sdk, vectors, env })
//     test(name, fn, { skip }?)  registers an async test
//     sdk      the module namespace of the built package (dist/index.js)
//     vectors  { data, error } : the parsed test-vectors/v1.json or why it is missing
//     env      'node' | 'browser'

import { assert, fromHex, toHex } from './assert.js';

const te = new TextEncoder();

function randomBytes(n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

function plaintextOf(vector) {
  if (typeof vector.plaintext_hex === 'string') return fromHex(vector.plaintext_hex);
  const gen = vector.plaintext_generator;
  if (gen && gen.kind === 'counter_mod_251' && Number.isInteger(gen.length)) {
    const out = new Uint8Array(gen.length);
    for (let i = 0; i < out.length; i++) out[i] = i % 251;
    return out;
  }
  throw new Error(`vector ${vector.name}: no plaintext_hex and no known plaintext_generator`);
}

function aadOf(vector) {
  return vector.aad_hex === null || vector.aad_hex === undefined ? undefined : fromHex(vector.aad_hex);
}

// A SubtleCrypto wrapper that records calls; `overrides` replace methods.
function spySubtle(base, overrides = {}) {
  const calls = [];
  const wrap = (name) => (...args) => {
    calls.push({ name, args });
    return overrides[name] ? overrides[name](...args) : base[name](...args);
  };
  const subtle = {
    digest: wrap('digest'),
    importKey: wrap('importKey'),
    deriveKey: wrap('deriveKey'),
    deriveBits: wrap('deriveBits'),
    encrypt: wrap('encrypt'),
    decrypt: wrap('decrypt'),
    exportKey: wrap('exportKey'),
  };
  return { subtle, calls };
}

const EMAIL = 'patient.one@example.org';
const PASSWORD = 'correct horse battery staple';

export function registerCoreSuite({ test, sdk, vectors, env }) {
  const subtle = globalThis.crypto.subtle;
  const {
    ZenalyzeEncryption,
    ZenalyzeError,
    normalizeEmail,
    normalizePassword,
    saltV1,
    deriveKeyV1,
    sealV1,
    openV1,
    parseEnvelope,
    base64Encode,
    base64Decode,
    utf8Encode,
    utf8DecodeStrict,
    EnvelopeTooShortError,
    UnsupportedVersionError,
    InvalidBase64Error,
    AuthenticationFailedError,
  } = sdk;

  // One derivation shared by many tests (PBKDF2 is deliberately slow).
  let sharedKey;
  const key = async () => (sharedKey ??= await deriveKeyV1(EMAIL, PASSWORD));

  // ---------------------------------------------------------------- vectors
  const vectorSkip =
    vectors.data === null && vectors.allowMissing
      ? `SKIPPED LOUDLY: test vectors not available (${vectors.error}); set by ZENALYZE_ALLOW_MISSING_VECTORS`
      : undefined;

  test('vectors: file is present and well-formed', async () => {
    if (vectors.data === null) throw new Error(`test vectors not available: ${vectors.error}`);
    const v = vectors.data;
    assert.equal(v.schema, 'zenalyze/envelope-v1-vectors@1', 'schema id');
    assert.ok(Array.isArray(v.positive) && v.positive.length > 0, 'positive vectors');
    assert.ok(Array.isArray(v.negative) && v.negative.length > 0, 'negative vectors');
    if (v.kdf) {
      if (v.kdf.iterations !== undefined) assert.equal(v.kdf.iterations, sdk.KDF_V1_ITERATIONS, 'kdf iterations');
    }
  }, { skip: vectorSkip });

  const positive = vectors.data?.positive ?? [];
  const negative = vectors.data?.negative ?? [];

  for (const vector of positive) {
    test(`vector+ ${vector.name}: normalization, salt and key`, async () => {
      assert.equal(normalizeEmail(vector.email), vector.normalized_email, 'normalized email');
      assert.equal(toHex(await saltV1(vector.email)), vector.salt_hex.toLowerCase(), 'salt');
      // Test-only: run the SDK's own derivation with a subtle that forces an
      // extractable key, so key_hex can be compared byte for byte.
      const forced = {
        digest: (...a) => subtle.digest(...a),
        importKey: (...a) => subtle.importKey(...a),
        deriveKey: (alg, base, type, _extractable, usages) => subtle.deriveKey(alg, base, type, true, usages),
        encrypt: (...a) => subtle.encrypt(...a),
        decrypt: (...a) => subtle.decrypt(...a),
      };
      const extractable = await deriveKeyV1(vector.email, vector.password, { subtle: forced });
      const raw = new Uint8Array(await subtle.exportKey('raw', extractable));
      assert.equal(toHex(raw), vector.key_hex.toLowerCase(), 'derived key');
    });

    test(`vector+ ${vector.name}: seal with the given IV gives the exact envelope, and it opens`, async () => {
      const k = await deriveKeyV1(vector.email, vector.password);
      assert.equal(k.extractable, false, 'derived key is non-extractable');
      const plaintext = plaintextOf(vector);
      const aad = aadOf(vector);
      const sealed = await sealV1(k, fromHex(vector.iv_hex), plaintext, aad);
      assert.equal(base64Encode(sealed), vector.envelope_b64, 'envelope');
      assert.bytesEqual(await openV1(k, vector.envelope_b64, aad), plaintext, 'opened plaintext');
      // The key given as key_hex opens it too (independent of the KDF).
      const imported = await subtle.importKey('raw', fromHex(vector.key_hex), 'AES-GCM', false, ['encrypt', 'decrypt']);
      assert.bytesEqual(await openV1(imported, base64Decode(vector.envelope_b64), aad), plaintext, 'opened with key_hex');
      const parsed = parseEnvelope(vector.envelope_b64);
      assert.equal(toHex(parsed.iv), vector.iv_hex.toLowerCase(), 'parsed IV');
      assert.equal(parsed.ciphertext.length, plaintext.length, 'ciphertext length');
    });

    test(`vector+ ${vector.name}: ZenalyzeEncryption.decryptBytes opens it; encryptBytes round-trips`, async () => {
      const enc = new ZenalyzeEncryption({ email: vector.email, password: vector.password });
      const aad = aadOf(vector);
      const plaintext = plaintextOf(vector);
      assert.bytesEqual(await enc.decryptBytes(vector.envelope_b64, { context: aad }), plaintext, 'decryptBytes');
      const again = await enc.encryptBytes(plaintext, { context: aad });
      assert.notEqual(again, vector.envelope_b64, 'a fresh random IV gives a different envelope');
      assert.bytesEqual(await enc.decryptBytes(again, { context: aad }), plaintext, 'round trip');
    });
  }

  for (const vector of negative) {
    test(`vector- ${vector.name}: rejected with ${vector.error}`, async () => {
      const aad = aadOf(vector);
      const k = await deriveKeyV1(vector.email, vector.password);
      const err = await assert.rejectsWithCode(openV1(k, vector.envelope_b64, aad), vector.error, ZenalyzeError, 'openV1');
      const enc = new ZenalyzeEncryption({ email: vector.email, password: vector.password });
      await assert.rejectsWithCode(enc.decryptBytes(vector.envelope_b64, { context: aad }), vector.error, ZenalyzeError, 'decryptBytes');
      await assert.rejectsWithCode(enc.decrypt(vector.envelope_b64, { context: aad }), vector.error, ZenalyzeError, 'decrypt');
      if (vector.error !== 'authentication_failed') {
        assert.throwsWithCode(() => parseEnvelope(vector.envelope_b64), vector.error, ZenalyzeError, 'parseEnvelope');
      } else {
        parseEnvelope(vector.envelope_b64); // structurally fine; only the key check fails
      }
      assert.ok(!String(err.message).includes(vector.password), 'error message does not contain the password');
    });
  }

  // ----------------------------------------------------------- normalization
  test('normalizeEmail: trim, NFC, locale-independent lowercase', () => {
    assert.equal(normalizeEmail('  Patient.One@Example.ORG \n'), 'patient.one@example.org');
    assert.equal(normalizeEmail('\u00a0\ufeffa@b.c\u2003'), 'a@b.c', 'JS whitespace incl. NBSP, BOM, em space');
    // Turkish dotted capital I: default (not Turkish) case mapping → i + U+0307.
    assert.equal(normalizeEmail('İ@x.tr'), 'i\u0307@x.tr');
    assert.equal(normalizeEmail('I@x.tr'), 'i@x.tr');
    // NFD input is composed first: e + U+0301 → é.
    assert.equal(normalizeEmail('Jose\u0301@Example.com'), 'jos\u00e9@example.com');
    assert.equal(normalizeEmail('ÅNGSTRÖM@例え.jp'), 'ångström@例え.jp');
    assert.equal(normalizeEmail('ΣΟΦΙΑ@x.gr'), 'σοφια@x.gr');
    assert.throwsWithCode(() => normalizeEmail(42), 'invalid_input');
  });

  test('normalizePassword: NFC only, no trim, no case change', () => {
    assert.equal(normalizePassword(' Pa\u0301ss '), ' P\u00e1ss ');
    assert.equal(normalizePassword('\u212b'), '\u00c5', 'Angstrom sign → Å');
  });

  test('saltV1 = SHA-256(UTF-8(normalized email))', async () => {
    const expected = new Uint8Array(await subtle.digest('SHA-256', te.encode('patient.one@example.org')));
    assert.bytesEqual(await saltV1('  PATIENT.one@example.org '), expected);
  });

  test('equivalent credentials derive the same key; different ones do not', async () => {
    const plaintext = te.encode('same key?');
    const iv = new Uint8Array(12).fill(7);
    const ref = base64Encode(await sealV1(await key(), iv, plaintext));
    const same = await deriveKeyV1('  Patient.One@EXAMPLE.org\t', PASSWORD);
    assert.equal(base64Encode(await sealV1(same, iv, plaintext)), ref, 'email variants');
    const nfdPw = 'Pa\u0073\u0301word';
    const nfcPw = 'Pa\u015bword';
    const a = await deriveKeyV1(EMAIL, nfdPw);
    const b = await deriveKeyV1(EMAIL, nfcPw);
    assert.equal(base64Encode(await sealV1(a, iv, plaintext)), base64Encode(await sealV1(b, iv, plaintext)), 'NFD vs NFC password');
    const other = await deriveKeyV1(EMAIL, PASSWORD + ' ');
    assert.notEqual(base64Encode(await sealV1(other, iv, plaintext)), ref, 'password is not trimmed');
  });

  // ------------------------------------------------------------------ base64
  test('base64: platform and pure encoders agree with each other and round-trip', () => {
    for (let n = 0; n < 80; n++) {
      const bytes = randomBytes(n);
      const s = base64Encode(bytes);
      assert.equal(s.length, Math.ceil(n / 3) * 4, 'padded length');
      assert.bytesEqual(base64Decode(s), bytes, `round trip ${n}`);
    }
    assert.equal(base64Encode(te.encode('foobar')), 'Zm9vYmFy');
    assert.equal(base64Encode(te.encode('fooba')), 'Zm9vYmE=');
    assert.equal(base64Encode(te.encode('foob')), 'Zm9vYg==');
    assert.equal(base64Encode(new Uint8Array([0xfb, 0xff, 0xbf])), '+/+/');
  });

  test('base64: strict decoding rejects malformed input', () => {
    const bad = [
      'A', 'AA', 'AAA', 'AAAAA', // length
      'AA=A', 'A===', '====', '=AAA', 'AA==AAAA', 'AAA=AAAA', // padding placement
      'AAAA\n', 'AA AA A', ' AAAAAAA', 'AAAA\tAAA', 'AAAA\r\nAAAA', // whitespace
      'AA-_', 'AA_A', 'AA.A', 'AA*=', // other alphabets / junk
      'AB==', 'AAB=', 'QR==', // non-zero trailing bits
      'AAA\u0100', '\u00c1AAA', 'AA\u00e9=', // non-ASCII
      'Zm9vYg', 'Zm9vYg=', // missing padding
    ];
    for (const s of bad) {
      assert.throwsWithCode(() => base64Decode(s), 'invalid_base64', InvalidBase64Error, `decode ${JSON.stringify(s)}`);
    }
    assert.bytesEqual(base64Decode(''), new Uint8Array(0));
    assert.bytesEqual(base64Decode('QQ=='), new Uint8Array([0x41]));
    assert.bytesEqual(base64Decode('QUE='), new Uint8Array([0x41, 0x41]));
  });

  test('utf8: encoder and strict decoder', () => {
    const samples = ['', 'ascii', 'é', '€', '😀', '日本語テキスト', 'İstanbul', '\u0000', 'a\ud800b', '\udc00', 'x\ud83d'];
    for (const s of samples) {
      assert.bytesEqual(utf8Encode(s), te.encode(s), `encode ${JSON.stringify(s)}`);
      assert.equal(utf8DecodeStrict(te.encode(s)), te.encode(s).length ? new TextDecoder().decode(te.encode(s)) : '', 'decode');
    }
    const invalid = [[0x80], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xff]];
    for (const b of invalid) {
      assert.equal(utf8DecodeStrict(new Uint8Array(b)), undefined, `reject ${toHex(new Uint8Array(b))}`);
    }
  });

  // --------------------------------------------------------------- envelope
  test('sealV1 layout: 0x01 ‖ IV ‖ tag ‖ ciphertext, reordered from WebCrypto output', async () => {
    const k = await key();
    const iv = Uint8Array.from({ length: 12 }, (_, i) => i + 1);
    const plaintext = te.encode('layout check');
    const aad = te.encode('record-42');
    const env = await sealV1(k, iv, plaintext, aad);
    assert.equal(env.length, 29 + plaintext.length, 'length');
    assert.equal(env[0], 1, 'version');
    assert.bytesEqual(env.subarray(1, 13), iv, 'IV');
    const webcrypto = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, k, plaintext));
    assert.bytesEqual(env.subarray(13, 29), webcrypto.subarray(plaintext.length), 'tag');
    assert.bytesEqual(env.subarray(29), webcrypto.subarray(0, plaintext.length), 'ciphertext');
    const parsed = parseEnvelope(env);
    assert.equal(parsed.version, 1);
    assert.bytesEqual(parsed.tag, webcrypto.subarray(plaintext.length));
  });

  test('sealV1 rejects a wrong-size IV', async () => {
    await assert.rejectsWithCode(sealV1(await key(), new Uint8Array(16), te.encode('x')), 'invalid_input');
  });

  test('empty plaintext gives a 29-byte envelope that opens', async () => {
    const enc = new ZenalyzeEncryption({ email: EMAIL, password: PASSWORD });
    const blob = await enc.encryptBytes(new Uint8Array(0));
    assert.equal(base64Decode(blob).length, 29);
    assert.bytesEqual(await enc.decryptBytes(blob), new Uint8Array(0));
  });

  test('parseEnvelope: sizes and version without a key', () => {
    assert.throwsWithCode(() => parseEnvelope(new Uint8Array(28).fill(1)), 'too_short', EnvelopeTooShortError);
    assert.throwsWithCode(() => parseEnvelope(new Uint8Array(0)), 'too_short', EnvelopeTooShortError);
    assert.throwsWithCode(() => parseEnvelope(''), 'too_short', EnvelopeTooShortError);
    // The version is checked before the length (as in Rust and the vectors).
    assert.throwsWithCode(() => parseEnvelope(new Uint8Array([2, 0, 0])), 'unsupported_version', UnsupportedVersionError);
    const v2 = new Uint8Array(40);
    v2[0] = 2;
    const err = assert.throwsWithCode(() => parseEnvelope(v2), 'unsupported_version', UnsupportedVersionError);
    assert.equal(err.version, 2);
    const v0 = new Uint8Array(29);
    assert.throwsWithCode(() => parseEnvelope(base64Encode(v0)), 'unsupported_version', UnsupportedVersionError);
    const ok = new Uint8Array(29);
    ok[0] = 1;
    assert.equal(parseEnvelope(ok).ciphertext.length, 0);
    assert.throwsWithCode(() => parseEnvelope('AQ=\n'), 'invalid_base64', InvalidBase64Error);
  });

  // -------------------------------------------------------------- round trips
  test('JSON round trips', async () => {
    const enc = new ZenalyzeEncryption({ email: EMAIL, password: PASSWORD });
    const values = [
      { message: 'Sensitive health data' },
      { mood: 3, tags: ['anxious', 'tired'], note: 'Slept 4h 😴 — 日本語 — İ', nested: { a: [1, 2, { b: null }] } },
      [1, 'two', false, null],
      'just a string',
      0,
      -12.5e-3,
      true,
      null,
      { emptyString: '', emptyArray: [], emptyObject: {} },
    ];
    for (const value of values) {
      const blob = await enc.encrypt(value);
      assert.ok(/^[A-Za-z0-9+/]+={0,2}$/.test(blob) && blob.length % 4 === 0, 'standard padded base64');
      assert.deepEqual(await enc.decrypt(blob), value, 'decrypted value');
      assert.bytesEqual(await enc.decryptBytes(blob), te.encode(JSON.stringify(value)), 'plaintext is the UTF-8 JSON');
    }
  });

  test('encrypt rejects values without a JSON form', async () => {
    const enc = new ZenalyzeEncryption({ email: EMAIL, password: PASSWORD });
    await assert.rejectsWithCode(enc.encrypt(undefined), 'invalid_input');
    await assert.rejectsWithCode(enc.encrypt(() => 1), 'invalid_input');
    await assert.rejectsWithCode(enc.encrypt({ n: 10n }), 'invalid_input');
    const cyclic = {};
    cyclic.self = cyclic;
    await assert.rejectsWithCode(enc.encrypt(cyclic), 'invalid_input');
  });

  test('bytes round trips (0 B … 1 MiB), binary envelope input too', async () => {
    const enc = new ZenalyzeEncryption({ email: EMAIL, password: PASSWORD });
    for (const n of [0, 1, 15, 16, 17, 4096, 65537, 1 << 20]) {
      const data = randomBytes(n);
      const blob = await enc.encryptBytes(data, { context: `file-${n}` });
      assert.equal(base64Decode(blob).length, 29 + n);
      assert.bytesEqual(await enc.decryptBytes(blob, { context: `file-${n}` }), data, `base64 ${n}`);
      const binary = base64Decode(blob);
      const before = binary.slice();
      assert.bytesEqual(await enc.decryptBytes(binary, { context: `file-${n}` }), data, `binary ${n}`);
      assert.bytesEqual(binary, before, 'a caller-owned binary envelope is not modified');
    }
  });

  test('Blob round trip', async () => {
    assert.ok(typeof Blob === 'function', 'Blob exists in this runtime');
    const enc = new ZenalyzeEncryption({ email: EMAIL, password: PASSWORD });
    const data = randomBytes(3000);
    const blob = new Blob([data.subarray(0, 1000), data.subarray(1000)], { type: 'application/pdf' });
    const envelope = await enc.encryptBytes(blob, { context: 'doc-1' });
    assert.bytesEqual(await enc.decryptBytes(envelope, { context: 'doc-1' }), data);
    await assert.rejectsWithCode(enc.encryptBytes('not bytes'), 'invalid_input');
    await assert.rejectsWithCode(enc.encryptBytes(null), 'invalid_input');
  });

  test('decrypt of non-JSON plaintext fails without quoting it', async () => {
    const enc = new ZenalyzeEncryption({ email: EMAIL, password: PASSWORD });
    const secret = 'SECRET-DIAGNOSIS-xyz not json';
    const blob = await enc.encryptBytes(te.encode(secret));
    const err = await assert.rejectsWithCode(enc.decrypt(blob), 'invalid_payload');
    assert.ok(!err.message.includes('SECRET') && !err.message.includes('xyz'), 'message does not leak plaintext');
    const nonUtf8 = await enc.encryptBytes(new Uint8Array([0x7b, 0xff, 0x7d]));
    await assert.rejectsWithCode(enc.decrypt(nonUtf8), 'invalid_payload');
  });

  // ----------------------------------------------------------------- contexts
  test('context: string, its UTF-8 bytes, wrong and missing context', async () => {
    const enc = new ZenalyzeEncryption({ email: EMAIL, password: PASSWORD });
    const ctx = 'record:42/ünïcødé';
    const blob = await enc.encrypt({ mood: 'ok' }, { context: ctx });
    assert.deepEqual(await enc.decrypt(blob, { context: ctx }), { mood: 'ok' });
    assert.deepEqual(await enc.decrypt(blob, { context: te.encode(ctx) }), { mood: 'ok' }, 'bytes context equals string context');
    await assert.rejectsWithCode(enc.decrypt(blob, { context: 'record:43/ünïcødé' }), 'authentication_failed', AuthenticationFailedError);
    await assert.rejectsWithCode(enc.decrypt(blob), 'authentication_failed', AuthenticationFailedError, 'missing context');
    const noCtx = await enc.encrypt({ mood: 'ok' });
    await assert.rejectsWithCode(enc.decrypt(noCtx, { context: ctx }), 'authentication_failed', AuthenticationFailedError, 'unexpected context');
    assert.deepEqual(await enc.decrypt(noCtx, { context: '' }), { mood: 'ok' }, 'empty context is no context');
    const binCtx = new Uint8Array([0, 255, 1, 254]);
    const b2 = await enc.encryptBytes(te.encode('x'), { context: binCtx });
    assert.bytesEqual(await enc.decryptBytes(b2, { context: binCtx }), te.encode('x'));
    await assert.rejectsWithCode(enc.decryptBytes(b2, { context: new Uint8Array([0, 255, 1, 253]) }), 'authentication_failed');
    await assert.rejectsWithCode(enc.encrypt({}, { context: 12 }), 'invalid_input');
  });

  test('wrong password or email fails authentication', async () => {
    const enc = new ZenalyzeEncryption({ email: EMAIL, password: PASSWORD });
    const blob = await enc.encrypt({ secret: 1 });
    const wrongPw = new ZenalyzeEncryption({ email: EMAIL, password: PASSWORD.toUpperCase() });
    await assert.rejectsWithCode(wrongPw.decrypt(blob), 'authentication_failed', AuthenticationFailedError);
    const wrongEmail = new ZenalyzeEncryption({ email: 'patient.two@example.org', password: PASSWORD });
    await assert.rejectsWithCode(wrongEmail.decrypt(blob), 'authentication_failed', AuthenticationFailedError);
    const sameUser = new ZenalyzeEncryption({ email: ' PATIENT.ONE@example.org', password: PASSWORD });
    assert.deepEqual(await sameUser.decrypt(blob), { secret: 1 });
  });

  // ------------------------------------------------------------------ tamper
  test('tampering with any region is rejected with the right code', async () => {
    const enc = new ZenalyzeEncryption({ email: EMAIL, password: PASSWORD });
    const blob = await enc.encryptBytes(te.encode('tamper-evident data, 33 bytes....'), { context: 'r1' });
    const env = base64Decode(blob);
    const regions = [
      ['IV', 1, 13],
      ['tag', 13, 29],
      ['ciphertext', 29, env.length],
    ];
    for (const [region, from, to] of regions) {
      for (const pos of [from, Math.floor((from + to) / 2), to - 1]) {
        for (const bit of [0x01, 0x80]) {
          const t = env.slice();
          t[pos] ^= bit;
          await assert.rejectsWithCode(enc.decryptBytes(base64Encode(t), { context: 'r1' }), 'authentication_failed', AuthenticationFailedError, `${region} byte ${pos} bit ${bit}`);
        }
      }
    }
    for (const version of [0x00, 0x02, 0x81, 0xff]) {
      const t = env.slice();
      t[0] = version;
      await assert.rejectsWithCode(enc.decryptBytes(t, { context: 'r1' }), 'unsupported_version', UnsupportedVersionError, `version ${version}`);
    }
    await assert.rejectsWithCode(enc.decryptBytes(env.subarray(0, 28), { context: 'r1' }), 'too_short', EnvelopeTooShortError);
    await assert.rejectsWithCode(enc.decryptBytes(env.subarray(0, env.length - 1), { context: 'r1' }), 'authentication_failed', AuthenticationFailedError, 'truncated ciphertext');
    const longer = new Uint8Array(env.length + 1);
    longer.set(env);
    await assert.rejectsWithCode(enc.decryptBytes(longer, { context: 'r1' }), 'authentication_failed', AuthenticationFailedError, 'appended byte');
    await assert.rejectsWithCode(enc.decryptBytes(blob + '\n', { context: 'r1' }), 'invalid_base64', InvalidBase64Error, 'trailing newline');
    await assert.rejectsWithCode(enc.decryptBytes(blob.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''), { context: 'r1' }), 'invalid_base64', InvalidBase64Error, 'base64url');
    assert.bytesEqual(await enc.decryptBytes(blob, { context: 'r1' }), te.encode('tamper-evident data, 33 bytes....'), 'original still opens');
  });

  // ------------------------------------------------------------------- keys
  test('derived key is a non-extractable AES-GCM key for encrypt/decrypt only', async () => {
    const k = await key();
    assert.equal(k.extractable, false, 'extractable');
    assert.equal(k.type, 'secret');
    assert.equal(k.algorithm.name, 'AES-GCM');
    assert.equal(k.algorithm.length, 256);
    assert.deepEqual([...k.usages].sort(), ['decrypt', 'encrypt']);
    await assert.rejects(subtle.exportKey('raw', k), 'exportKey must fail');
    await assert.rejects(subtle.exportKey('jwk', k), 'exportKey jwk must fail');
  });

  test('ZenalyzeEncryption derives lazily, once, with extractable=false', async () => {
    const { subtle: spy, calls } = spySubtle(subtle);
    const enc = new ZenalyzeEncryption({ email: EMAIL, password: PASSWORD, subtle: spy });
    assert.equal(calls.length, 0, 'constructor does not touch crypto');
    const [a, b] = await Promise.all([enc.encrypt({ n: 1 }), enc.encrypt({ n: 2 })]);
    const derives = calls.filter((c) => c.name === 'deriveKey');
    assert.equal(derives.length, 1, 'one derivation for concurrent calls');
    assert.equal(derives[0].args[0].iterations, 100000, 'iterations');
    assert.equal(derives[0].args[0].hash, 'SHA-256', 'hash');
    assert.equal(derives[0].args[3], false, 'extractable=false');
    const imports = calls.filter((c) => c.name === 'importKey');
    assert.ok(imports.every((c) => c.args[3] === false), 'every importKey is non-extractable');
    assert.deepEqual(await enc.decrypt(a), { n: 1 });
    assert.deepEqual(await enc.decrypt(b), { n: 2 });
    assert.equal(calls.filter((c) => c.name === 'deriveKey').length, 1, 'still one derivation');
    assert.equal(calls.filter((c) => c.name === 'encrypt').length, 2);
  });

  test('a failed derivation is final: the password is not kept for a retry', async () => {
    let calls = 0;
    const { subtle: failing } = spySubtle(subtle, {
      deriveKey: () => {
        calls++;
        return Promise.reject(new Error('platform failure'));
      },
    });
    const enc = new ZenalyzeEncryption({ email: EMAIL, password: PASSWORD, subtle: failing });
    await assert.rejects(enc.encrypt(1), 'first use fails');
    await assert.rejects(enc.encrypt(1), 'later uses fail too');
    assert.equal(calls, 1, 'derivation was attempted once: the credentials were dropped when it started');
    await assert.rejects(ZenalyzeEncryption.create({ email: EMAIL, password: PASSWORD, subtle: failing }), 'create() surfaces the failure');
  });

  test('ZenalyzeEncryption.create derives eagerly', async () => {
    const { subtle: spy, calls } = spySubtle(subtle);
    const enc = await ZenalyzeEncryption.create({ email: EMAIL, password: PASSWORD, subtle: spy });
    assert.equal(calls.filter((c) => c.name === 'deriveKey').length, 1, 'derived before first use');
    const blob = await enc.encrypt('x');
    assert.equal(await new ZenalyzeEncryption({ email: EMAIL, password: PASSWORD }).decrypt(blob), 'x');
  });

  test('injected subtle and getRandomValues are used', async () => {
    const { subtle: spy, calls } = spySubtle(subtle);
    let n = 0;
    const getRandomValues = (arr) => {
      n++;
      for (let i = 0; i < arr.length; i++) arr[i] = (0xa0 + i) & 0xff;
      return arr;
    };
    const enc = new ZenalyzeEncryption({ email: EMAIL, password: PASSWORD, subtle: spy, getRandomValues });
    const blob = await enc.encryptBytes(te.encode('injected'));
    assert.equal(n, 1, 'getRandomValues called once per encryption');
    assert.equal(toHex(base64Decode(blob).subarray(1, 13)), 'a0a1a2a3a4a5a6a7a8a9aaab', 'IV comes from the injected CSPRNG');
    assert.ok(calls.some((c) => c.name === 'encrypt'), 'injected encrypt used');
    const expected = await sealV1(await key(), base64Decode(blob).slice(1, 13), te.encode('injected'));
    assert.equal(blob, base64Encode(expected), 'same result as the platform implementation');
  });

  test('a subtle with deriveBits but no deriveKey (React Native polyfills) gives the same key', async () => {
    const { subtle: spy, calls } = spySubtle(subtle);
    delete spy.deriveKey;
    const k = await deriveKeyV1(EMAIL, PASSWORD, { subtle: spy });
    assert.equal(k.extractable, false);
    assert.ok(calls.some((c) => c.name === 'deriveBits'), 'deriveBits used');
    const bitsBuffer = calls.find((c) => c.name === 'importKey' && c.args[2] && c.args[2].name === 'AES-GCM').args[1];
    assert.ok(bitsBuffer.every((b) => b === 0), 'temporary key bytes were zeroed');
    const iv = new Uint8Array(12);
    const p = te.encode('rn');
    assert.equal(base64Encode(await sealV1(k, iv, p)), base64Encode(await sealV1(await key(), iv, p)));
  });

  test('two encryptions of the same value use different IVs', async () => {
    const enc = new ZenalyzeEncryption({ email: EMAIL, password: PASSWORD });
    const seen = new Set();
    for (let i = 0; i < 20; i++) {
      const env = base64Decode(await enc.encrypt({ same: true }));
      seen.add(toHex(env.subarray(1, 13)));
    }
    assert.equal(seen.size, 20);
  });

  test('dispose drops the key; errors are typed ZenalyzeErrors with stable codes', async () => {
    const enc = await ZenalyzeEncryption.create({ email: EMAIL, password: PASSWORD });
    const blob = await enc.encrypt(1);
    enc.dispose();
    const err = await assert.rejectsWithCode(enc.decrypt(blob), 'disposed');
    assert.ok(err instanceof ZenalyzeError && err instanceof Error);
    assert.throwsWithCode(() => new ZenalyzeEncryption({ email: 1, password: 'x' }), 'invalid_input');
    assert.throwsWithCode(() => new ZenalyzeEncryption({ email: ' \u00a0', password: 'x' }), 'invalid_input');
    assert.throwsWithCode(() => new ZenalyzeEncryption({ email: 'a@b.c', password: '' }), 'invalid_input');
    assert.throwsWithCode(() => new ZenalyzeEncryption(null), 'invalid_input');
    const tooShort = assert.throwsWithCode(() => parseEnvelope(new Uint8Array([1, 0, 0])), 'too_short');
    assert.equal(tooShort.name, 'EnvelopeTooShortError');
    assert.ok(tooShort instanceof ZenalyzeError);
  });

  test('missing WebCrypto is reported as crypto_unavailable', () => {
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
    let err;
    try {
      Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true, writable: true });
      try {
        new ZenalyzeEncryption({ email: EMAIL, password: PASSWORD });
      } catch (e) {
        err = e;
      }
    } finally {
      if (saved) Object.defineProperty(globalThis, 'crypto', saved);
      else delete globalThis.crypto;
    }
    assert.ok(err && err.code === 'crypto_unavailable', `got ${err && err.code}`);
  });

  test(`runtime is ${env}`, () => {
    assert.ok(env === 'node' || env === 'browser');
    if (env === 'browser') assert.ok(typeof window === 'object' && typeof document === 'object', 'a real page');
  });
}
