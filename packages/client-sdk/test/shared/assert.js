// A minimal assertion library that runs unchanged in Node and in the browser
// (node:assert is not available in a page). Every failure throws an Error
// whose message says what differed.

export class AssertionError extends Error {
  constructor(message) {
    super(message);
    this.name = 'AssertionError';
  }
}

function show(v) {
  if (v instanceof Uint8Array) return `Uint8Array(${v.length})[${toHex(v.subarray(0, 48))}${v.length > 48 ? '…' : ''}]`;
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

export function toHex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(hex) {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) {
    throw new AssertionError(`bad hex in test data: ${String(hex).slice(0, 40)}`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export const assert = {
  ok(value, message = 'expected a truthy value') {
    if (!value) throw new AssertionError(`${message} (got ${show(value)})`);
  },
  equal(actual, expected, message = 'values differ') {
    if (!Object.is(actual, expected)) {
      throw new AssertionError(`${message}: expected ${show(expected)}, got ${show(actual)}`);
    }
  },
  notEqual(actual, unexpected, message = 'values are equal') {
    if (Object.is(actual, unexpected)) throw new AssertionError(`${message}: both are ${show(actual)}`);
  },
  deepEqual(actual, expected, message = 'values differ') {
    const a = JSON.stringify(actual);
    const e = JSON.stringify(expected);
    if (a !== e) throw new AssertionError(`${message}: expected ${e}, got ${a}`);
  },
  bytesEqual(actual, expected, message = 'bytes differ') {
    if (!(actual instanceof Uint8Array)) throw new AssertionError(`${message}: not a Uint8Array: ${show(actual)}`);
    if (actual.length !== expected.length) {
      throw new AssertionError(`${message}: length ${actual.length} != ${expected.length}`);
    }
    for (let i = 0; i < actual.length; i++) {
      if (actual[i] !== expected[i]) {
        throw new AssertionError(`${message}: first difference at byte ${i} (${actual[i]} != ${expected[i]})`);
      }
    }
  },
  // Awaits `promiseOrFn` and checks that it rejects with a ZenalyzeError-like
  // error of the given code (and, if given, class).
  async rejectsWithCode(promiseOrFn, code, ErrorClass, message = 'expected a rejection') {
    let result;
    try {
      result = await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
    } catch (err) {
      if (!err || err.code !== code) {
        throw new AssertionError(`${message}: expected code ${code}, got ${err && err.code} (${err && err.name}: ${err && err.message})`);
      }
      if (ErrorClass && !(err instanceof ErrorClass)) {
        throw new AssertionError(`${message}: expected ${ErrorClass.name}, got ${err.name}`);
      }
      return err;
    }
    throw new AssertionError(`${message}: resolved with ${show(result)} instead of rejecting with ${code}`);
  },
  throwsWithCode(fn, code, ErrorClass, message = 'expected a throw') {
    let result;
    try {
      result = fn();
    } catch (err) {
      if (!err || err.code !== code) {
        throw new AssertionError(`${message}: expected code ${code}, got ${err && err.code} (${err && err.name}: ${err && err.message})`);
      }
      if (ErrorClass && !(err instanceof ErrorClass)) {
        throw new AssertionError(`${message}: expected ${ErrorClass.name}, got ${err.name}`);
      }
      return err;
    }
    throw new AssertionError(`${message}: returned ${show(result)} instead of throwing ${code}`);
  },
  async rejects(promiseOrFn, message = 'expected a rejection') {
    try {
      await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
    } catch (err) {
      return err;
    }
    throw new AssertionError(`${message}: it resolved`);
  },
};
