/**
 * Realm-independent type checks (a `Uint8Array` made in another realm —
 * an iframe, a Node `vm` context, jsdom under a test runner — fails
 * `instanceof Uint8Array` but is just as good).
 *
 * @module
 */
const toStringTag = Object.prototype.toString;
/** True for any `Uint8Array` (including Node's `Buffer`), from any realm. */
export function isUint8Array(value) {
    return value instanceof Uint8Array || (ArrayBuffer.isView(value) && toStringTag.call(value) === '[object Uint8Array]');
}
