#!/usr/bin/env python3
"""Independent check of test-vectors/v1.json with Python's hashlib (OpenSSL)
and the `cryptography` package's AES-GCM: a second implementation of key
derivation profile v1 and envelope v1, written from SPEC section 2 alone.

Usage: python3 scripts/check-vectors.py [test-vectors/v1.json]
"""
import base64
import binascii
import hashlib
import json
import sys
import unicodedata

try:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.exceptions import InvalidTag
except ImportError:  # pragma: no cover
    print("check-vectors: the 'cryptography' package is missing (pip install cryptography)", file=sys.stderr)
    sys.exit(2)

# ECMAScript String.prototype.trim: WhiteSpace + LineTerminator.
JS_TRIM = "\u0009\u000b\u000c\u0020\u00a0\ufeff\u1680" + "".join(
    chr(c) for c in range(0x2000, 0x200B)
) + "\u202f\u205f\u3000\u000a\u000d\u2028\u2029"


def normalize_email(email: str) -> str:
    return unicodedata.normalize("NFC", email.strip(JS_TRIM)).lower()


def derive(email: str, password: str) -> bytes:
    salt = hashlib.sha256(normalize_email(email).encode("utf-8")).digest()
    pw = unicodedata.normalize("NFC", password).encode("utf-8")
    return hashlib.pbkdf2_hmac("sha256", pw, salt, 100_000, 32)


def plaintext_of(case) -> bytes:
    if "plaintext_hex" in case:
        return bytes.fromhex(case["plaintext_hex"])
    gen = case["plaintext_generator"]
    assert gen["kind"] == "counter_mod_251"
    return bytes(i % 251 for i in range(gen["length"]))


def b64decode_strict(text: str) -> bytes:
    if any(c.isspace() for c in text):
        raise ValueError("whitespace")
    return base64.b64decode(text, validate=True)


def open_envelope(key: bytes, text: str, aad):
    try:
        raw = b64decode_strict(text)
    except (binascii.Error, ValueError):
        return "invalid_base64"
    if len(raw) < 1:
        return "too_short"
    if raw[0] != 1:
        return "unsupported_version"
    if len(raw) < 29:
        return "too_short"
    iv, tag, ct = raw[1:13], raw[13:29], raw[29:]
    try:
        return AESGCM(key).decrypt(iv, ct + tag, aad)
    except InvalidTag:
        return "authentication_failed"


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else "test-vectors/v1.json"
    doc = json.load(open(path, encoding="utf-8"))
    failures = 0
    for case in doc["positive"]:
        key = derive(case["email"], case["password"])
        aad = bytes.fromhex(case["aad_hex"]) if case["aad_hex"] is not None else None
        pt = plaintext_of(case)
        checks = {
            "normalized_email": normalize_email(case["email"]) == case["normalized_email"],
            "salt": hashlib.sha256(case["normalized_email"].encode()).hexdigest() == case["salt_hex"],
            "key": key.hex() == case["key_hex"],
        }
        ct_tag = AESGCM(key).encrypt(bytes.fromhex(case["iv_hex"]), pt, aad)
        env = b"\x01" + bytes.fromhex(case["iv_hex"]) + ct_tag[-16:] + ct_tag[:-16]
        checks["seal"] = base64.b64encode(env).decode() == case["envelope_b64"]
        checks["open"] = open_envelope(key, case["envelope_b64"], aad) == pt
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            failures += 1
            print(f"FAIL positive {case['name']}: {', '.join(bad)}")
    for case in doc["negative"]:
        key = derive(case["email"], case["password"])
        aad = bytes.fromhex(case["aad_hex"]) if case["aad_hex"] is not None else None
        got = open_envelope(key, case["envelope_b64"], aad)
        if got != case["error"]:
            failures += 1
            print(f"FAIL negative {case['name']}: expected {case['error']}, got {got if isinstance(got, str) else 'plaintext'}")
    total = len(doc["positive"]) + len(doc["negative"])
    print(f"check-vectors: {total - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
