// Runs in Chromium: times the SDK against direct WebCrypto calls in the same
// page. Runs are interleaved (SDK, direct, SDK, direct, …) after warm-up so
// that drift on a shared machine hits both sides alike; medians are reported.
import {
  ZenalyzeEncryption,
  deriveKeyV1,
  sealV1,
  openV1,
} from '/dist/index.js';

const subtle = crypto.subtle;
const te = new TextEncoder();
const params = new URLSearchParams(location.search);
const reps = {
  kdf: Number(params.get('kdfReps') ?? 11),
  small: Number(params.get('smallReps') ?? 21),
  large: Number(params.get('largeReps') ?? 9),
};
const WARMUP = 2;
const EMAIL = 'bench.user@example.org';
const PASSWORD = 'benchmark password ✓';

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function randomBytes(n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

// Chromium is started with --js-flags=--expose-gc by the runner: collecting
// garbage before each sample keeps a collection of the previous sample's
// 16 MiB buffers out of the timed region.
const gc = typeof globalThis.gc === 'function' ? globalThis.gc : () => {};

// One sample = `batch` sequential operations (several small operations per
// sample lift them well above the timer's resolution); reported per operation.
let batch = 1;
async function time(fn) {
  gc();
  const t0 = performance.now();
  for (let i = 0; i < batch; i++) await fn();
  return (performance.now() - t0) / batch;
}

async function compare(name, n, sdkFn, directFn) {
  for (let i = 0; i < WARMUP; i++) {
    await sdkFn();
    await directFn();
  }
  const a = [];
  const b = [];
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      a.push(await time(sdkFn));
      b.push(await time(directFn));
    } else {
      b.push(await time(directFn));
      a.push(await time(sdkFn));
    }
  }
  // The ratio is the median of per-pair ratios: each SDK sample is compared
  // with the direct sample taken right next to it, so slow drifts of a
  // shared machine cancel out.
  const row = { name, reps: n, batch, sdkMedianMs: median(a), directMedianMs: median(b), ratio: median(a.map((x, i) => x / b[i])) };
  document.getElementById('log').textContent += `${JSON.stringify(row)}\n`;
  return row;
}

async function directDerive(email, password) {
  // What an app would write by hand for profile v1, without the SDK.
  const salt = await subtle.digest('SHA-256', te.encode(email.trim().normalize('NFC').toLowerCase()));
  const base = await subtle.importKey('raw', te.encode(password.normalize('NFC')), 'PBKDF2', false, ['deriveKey']);
  return subtle.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations: 100000 },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

async function main() {
  const rows = [];
  batch = 1;
  rows.push(await compare('key derivation (PBKDF2-SHA256, 100k)', reps.kdf, () => deriveKeyV1(EMAIL, PASSWORD), () => directDerive(EMAIL, PASSWORD)));

  const key = await deriveKeyV1(EMAIL, PASSWORD);
  const enc = await ZenalyzeEncryption.create({ email: EMAIL, password: PASSWORD });
  for (const [label, size, n, perSample] of [['1 MiB', 1 << 20, reps.small, 8], ['16 MiB', 16 << 20, reps.large, 1]]) {
    batch = perSample;
    const data = randomBytes(size);
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const aad = te.encode('record-1');
    const envelope = await sealV1(key, iv, data, aad);
    const direct = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, key, data));
    const text = await enc.encryptBytes(data, { context: 'record-1' });

    const gcm = (ivBytes) => ({ name: 'AES-GCM', iv: ivBytes, additionalData: aad });
    // Hand-written envelope v1 with bare WebCrypto (what an app would write
    // without the SDK): the reorder between WebCrypto's ciphertext ‖ tag and
    // v1's tag-before-ciphertext layout is part of the format.
    const handSeal = async () => {
      const ivBytes = crypto.getRandomValues(new Uint8Array(12));
      const out = new Uint8Array(await subtle.encrypt(gcm(ivBytes), key, data));
      const env = new Uint8Array(29 + size);
      env[0] = 1;
      env.set(ivBytes, 1);
      env.set(out.subarray(size), 13);
      env.set(out.subarray(0, size), 29);
      return env;
    };
    const handOpen = async (env) => {
      const joined = new Uint8Array(env.length - 13);
      joined.set(env.subarray(29), 0);
      joined.set(env.subarray(13, 29), env.length - 29);
      return new Uint8Array(await subtle.decrypt(gcm(env.subarray(1, 13)), key, joined));
    };

    rows.push(await compare(`encrypt ${label}: sealV1 vs bare subtle.encrypt (no envelope)`, n,
      () => sealV1(key, crypto.getRandomValues(new Uint8Array(12)), data, aad),
      () => subtle.encrypt(gcm(crypto.getRandomValues(new Uint8Array(12))), key, data)));
    rows.push(await compare(`encrypt ${label}: sealV1 vs hand-written v1 seal (subtle.encrypt + reorder)`, n,
      () => sealV1(key, crypto.getRandomValues(new Uint8Array(12)), data, aad),
      handSeal));
    rows.push(await compare(`decrypt ${label}: openV1 vs bare subtle.decrypt (ciphertext ‖ tag ready)`, n,
      () => openV1(key, envelope, aad),
      () => subtle.decrypt(gcm(iv), key, direct)));
    rows.push(await compare(`decrypt ${label}: openV1 vs hand-written v1 open (reorder + subtle.decrypt)`, n,
      () => openV1(key, envelope, aad),
      () => handOpen(envelope)));
    rows.push(await compare(`encrypt ${label}: encryptBytes → base64 vs hand-written v1 seal + toBase64`, n,
      () => enc.encryptBytes(data, { context: 'record-1' }),
      async () => (await handSeal()).toBase64()));
    rows.push(await compare(`decrypt ${label}: decryptBytes(base64) vs fromBase64 + hand-written v1 open`, n,
      () => enc.decryptBytes(text, { context: 'record-1' }),
      () => handOpen(Uint8Array.fromBase64(text))));
  }
  return {
    rows,
    userAgent: navigator.userAgent,
    gcBetweenSamples: typeof globalThis.gc === 'function',
    nativeBase64: typeof Uint8Array.fromBase64 === 'function' && typeof Uint8Array.prototype.toBase64 === 'function',
  };
}

main().then(
  (result) => window.__benchDone(result),
  (err) => window.__benchDone({ error: String(err && err.stack || err) }),
);
