/**
 * Verification of AWS Nitro Enclaves attestation documents (SPEC §4), with
 * the same checks, in the same order, as the Rust `zenalyze-attestation`
 * crate. Fail closed: every check runs; an empty policy accepts nothing.
 *
 * 1. COSE_Sign1 (untagged or tag 18), protected header exactly `{1: -35}`
 *    (ES384), 96-byte signature;
 * 2. the Nitro payload map with exactly the known fields;
 * 3. chain leaf → `cabundle[n-1]` → … → `cabundle[0]` valid at `nowMs`
 *    (validity, name chaining, CA constraints, ECDSA P-384/SHA-384), and
 *    `cabundle[0]` has the pinned SHA-256 fingerprint;
 * 4. the COSE signature verifies with the leaf key;
 * 5. the timestamp is fresh and inside the leaf's validity;
 * 6. the nonce equals the caller's challenge (when one is given);
 * 7. PCR0/1/2/8 match one allowed measurement set, or are all zero and the
 *    policy allows debug documents.
 *
 * @module
 */
import { AttestationError } from '../errors.js';
import { CborError, decodeCbor, encodeArrayHead, encodeBytes, encodeText } from './cbor.js';
import { concat } from './hkdf.js';
import { aiSubtle } from './subtle.js';
import { DerError, ecdsaDerToRaw, parseCertificate } from './x509.js';
import { parseKeysBody } from './ehbp.js';
/** SHA-256 fingerprint of the AWS Nitro Enclaves root certificate (G1). */
export const AWS_NITRO_ROOT_G1_SHA256 = '641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b';
/** Largest accepted document. */
export const MAX_DOCUMENT_LEN = 32 * 1024;
/** Default largest document age. */
export const DEFAULT_MAX_AGE_MS = 5 * 60 * 1000;
/** Default largest clock skew into the future. */
export const DEFAULT_MAX_FUTURE_SKEW_MS = 60 * 1000;
/** The PCRs every accepted document must carry and match. */
export const REQUIRED_PCRS = [0, 1, 2, 8];
const fail = (check, message) => new AttestationError(check, message);
function fromHex(hex, what) {
    if (typeof hex !== 'string' || hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) {
        throw new AttestationError('invalid_policy', `${what} is not hex`, 'invalid_policy');
    }
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++)
        out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
    return out;
}
function toHex(bytes) {
    let s = '';
    for (const b of bytes)
        s += b.toString(16).padStart(2, '0');
    return s;
}
function equalBytes(a, b) {
    if (a.length !== b.length)
        return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++)
        diff |= a[i] ^ b[i];
    return diff === 0;
}
function parseCose(document) {
    let v;
    try {
        v = decodeCbor(document);
    }
    catch (e) {
        throw fail('malformed_cose', `not CBOR: ${e.message}`);
    }
    if (v.kind === 'tag') {
        if (v.tag !== 18n)
            throw fail('malformed_cose', 'unexpected CBOR tag');
        v = v.value;
    }
    if (v.kind !== 'array' || v.value.length !== 4)
        throw fail('malformed_cose', 'COSE_Sign1 is not a 4-element array');
    const [prot, unprot, payload, sig] = v.value;
    if (prot.kind !== 'bytes' || unprot.kind !== 'map' || payload.kind !== 'bytes' || sig.kind !== 'bytes') {
        throw fail('malformed_cose', 'COSE_Sign1 fields have the wrong types');
    }
    let header;
    try {
        header = decodeCbor(prot.value);
    }
    catch {
        throw fail('malformed_cose', 'protected header is not CBOR');
    }
    const alg = header.kind === 'map' && header.value.length === 1 ? header.value[0] : undefined;
    if (!alg || alg[0].kind !== 'uint' || alg[0].value !== 1n || alg[1].kind !== 'nint' || alg[1].value !== -35n) {
        throw fail('unsupported_algorithm', 'protected header is not exactly {1: -35} (ES384)');
    }
    if (sig.value.length !== 96)
        throw fail('malformed_cose', 'ES384 signature is not 96 bytes');
    return { protectedBytes: prot.value, payload: payload.value, signature: sig.value };
}
function parsePayload(bytes) {
    let v;
    try {
        v = decodeCbor(bytes);
    }
    catch (e) {
        throw fail('malformed_payload', `payload is not CBOR: ${e.message}`);
    }
    if (v.kind !== 'map')
        throw fail('malformed_payload', 'payload is not a map');
    const fields = new Map();
    for (const [k, val] of v.value) {
        if (k.kind !== 'text')
            throw fail('malformed_payload', 'payload key is not text');
        if (fields.has(k.value))
            throw fail('malformed_payload', `duplicate field ${k.value}`);
        if (!['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce'].includes(k.value)) {
            throw fail('malformed_payload', `unknown field ${k.value}`);
        }
        fields.set(k.value, val);
    }
    const get = (name) => {
        const f = fields.get(name);
        if (!f)
            throw fail('malformed_payload', `missing field ${name}`);
        return f;
    };
    const moduleId = get('module_id');
    if (moduleId.kind !== 'text' || moduleId.value.length === 0)
        throw fail('malformed_payload', 'module_id');
    const digest = get('digest');
    if (digest.kind !== 'text' || digest.value !== 'SHA384')
        throw fail('malformed_payload', 'digest is not SHA384');
    const ts = get('timestamp');
    if (ts.kind !== 'uint' || ts.value > BigInt(Number.MAX_SAFE_INTEGER))
        throw fail('malformed_payload', 'timestamp');
    const pcrsV = get('pcrs');
    if (pcrsV.kind !== 'map')
        throw fail('malformed_payload', 'pcrs is not a map');
    const pcrs = new Map();
    for (const [k, val] of pcrsV.value) {
        if (k.kind !== 'uint' || k.value >= 32n || val.kind !== 'bytes' || val.value.length !== 48) {
            throw fail('malformed_payload', 'PCR entry is not index < 32 → 48 bytes');
        }
        if (pcrs.has(Number(k.value)))
            throw fail('malformed_payload', 'duplicate PCR');
        pcrs.set(Number(k.value), val.value);
    }
    const cert = get('certificate');
    if (cert.kind !== 'bytes' || cert.value.length < 1 || cert.value.length > 1024)
        throw fail('malformed_payload', 'certificate');
    const bundle = get('cabundle');
    if (bundle.kind !== 'array' || bundle.value.length === 0)
        throw fail('malformed_payload', 'cabundle is empty or not an array');
    const cabundle = bundle.value.map((c) => {
        if (c.kind !== 'bytes' || c.value.length < 1 || c.value.length > 1024)
            throw fail('malformed_payload', 'cabundle entry');
        return c.value;
    });
    const optional = (name) => {
        const f = fields.get(name);
        if (!f || (f.kind === 'simple' && f.value === 'null'))
            return null;
        if (f.kind !== 'bytes' || f.value.length > 1024)
            throw fail('malformed_payload', name);
        return f.value;
    };
    return {
        moduleId: moduleId.value,
        timestampMs: Number(ts.value),
        pcrs,
        certificate: cert.value,
        cabundle,
        publicKey: optional('public_key'),
        userData: optional('user_data'),
        nonce: optional('nonce'),
    };
}
async function verifyEcdsa(subtle, spki, rawSig, data) {
    let key;
    try {
        key = await subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-384' }, false, ['verify']);
    }
    catch {
        return false;
    }
    return subtle.verify({ name: 'ECDSA', hash: 'SHA-384' }, key, rawSig, data);
}
function parseCert(der, role) {
    try {
        return parseCertificate(der);
    }
    catch (e) {
        throw fail('malformed_certificate', `${role}: ${e.message}`);
    }
}
async function checkIssuedBy(subtle, child, issuer, role) {
    if (!equalBytes(child.issuer, issuer.subject))
        throw fail('chain_name_mismatch', `${role}: issuer does not match the next certificate's subject`);
    let raw;
    try {
        raw = ecdsaDerToRaw(child.signature, 48);
    }
    catch {
        throw fail('chain_signature', `${role}: malformed signature`);
    }
    if (!(await verifyEcdsa(subtle, issuer.spki, raw, child.tbs)))
        throw fail('chain_signature', `${role}: signature does not verify`);
}
function checkValidity(cert, nowMs, role) {
    const now = Math.floor(nowMs / 1000);
    if (now < cert.notBefore || now > cert.notAfter)
        throw fail('certificate_time', `${role} is not valid at the verification time`);
}
function checkIsCa(cert, belowCas, role) {
    const bc = cert.basicConstraints;
    if (!bc || !bc.ca)
        throw fail('not_a_ca', `${role} is not a CA`);
    if (bc.pathLen !== undefined && belowCas > bc.pathLen)
        throw fail('not_a_ca', `${role}: pathLenConstraint exceeded`);
    if (cert.keyUsage !== undefined && (cert.keyUsage & (1 << 5)) === 0)
        throw fail('not_a_ca', `${role}: keyUsage lacks keyCertSign`);
}
function validatePolicy(policy) {
    if (!policy || !Array.isArray(policy.measurements)) {
        throw new AttestationError('invalid_policy', 'policy.measurements must be an array', 'invalid_policy');
    }
    if (policy.measurements.length === 0 && !policy.allowDebug) {
        throw new AttestationError('invalid_policy', 'the policy allows no measurements and no debug documents', 'invalid_policy');
    }
    const root = fromHex(policy.trustedRootSha256 ?? AWS_NITRO_ROOT_G1_SHA256, 'trustedRootSha256');
    if (root.length !== 32)
        throw new AttestationError('invalid_policy', 'trustedRootSha256 is not 32 bytes', 'invalid_policy');
    const sets = policy.measurements.map((m, i) => [m.pcr0, m.pcr1, m.pcr2, m.pcr8].map((h, k) => {
        const b = fromHex(h, `measurements[${i}].pcr${REQUIRED_PCRS[k]}`);
        if (b.length !== 48 || b.every((x) => x === 0)) {
            throw new AttestationError('invalid_policy', `measurements[${i}]: PCRs must be 48 non-zero bytes`, 'invalid_policy');
        }
        return b;
    }));
    return { root, sets };
}
/**
 * Verifies an attestation document (raw COSE_Sign1 bytes) under `policy` at
 * `options.nowMs`. Throws {@link AttestationError} naming the failed check.
 */
export async function verifyAttestation(document, policy, options) {
    const { root, sets } = validatePolicy(policy);
    if (!Number.isFinite(options?.nowMs))
        throw new AttestationError('invalid_policy', 'nowMs is required', 'invalid_policy');
    const nowMs = options.nowMs;
    if (options.expectedNonce !== undefined && options.expectedNonce.length === 0) {
        throw new AttestationError('invalid_policy', 'the challenge must not be empty', 'invalid_policy');
    }
    if (document.length > MAX_DOCUMENT_LEN)
        throw fail('too_large', 'document is too large');
    const subtle = aiSubtle(options);
    const cose = parseCose(document);
    const payload = parsePayload(cose.payload);
    // Chain: leaf → cabundle[n-1] → … → cabundle[0] (the root).
    const cas = payload.cabundle.map((der, i) => parseCert(der, i === 0 ? 'root' : `intermediate ${i}`));
    const leaf = parseCert(payload.certificate, 'leaf');
    const rootCert = cas[0];
    await checkIssuedBy(subtle, rootCert, rootCert, 'root');
    for (const [i, ca] of cas.entries()) {
        const role = i === 0 ? 'root' : `intermediate ${i}`;
        checkValidity(ca, nowMs, role);
        checkIsCa(ca, cas.length - 1 - i, role);
        const child = cas[i + 1];
        if (child)
            await checkIssuedBy(subtle, child, ca, `intermediate ${i + 1}`);
    }
    checkValidity(leaf, nowMs, 'leaf');
    if (leaf.basicConstraints?.ca)
        throw fail('malformed_certificate', 'the leaf certificate is a CA');
    if (leaf.keyUsage !== undefined && (leaf.keyUsage & 1) === 0)
        throw fail('malformed_certificate', 'leaf keyUsage lacks digitalSignature');
    await checkIssuedBy(subtle, leaf, cas[cas.length - 1], 'leaf');
    const rootSha = new Uint8Array(await subtle.digest('SHA-256', rootCert.der));
    if (!equalBytes(rootSha, root))
        throw fail('untrusted_root', `root ${toHex(rootSha)} is not the trusted root ${toHex(root)}`);
    const toBeSigned = concat(encodeArrayHead(4), encodeText('Signature1'), encodeBytes(cose.protectedBytes), encodeBytes(new Uint8Array(0)), encodeBytes(cose.payload));
    if (!(await verifyEcdsa(subtle, leaf.spki, cose.signature, toBeSigned)))
        throw fail('document_signature', 'the document signature does not verify');
    const maxAge = policy.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    const maxSkew = policy.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS;
    if (payload.timestampMs > nowMs) {
        if (payload.timestampMs - nowMs > maxSkew)
            throw fail('from_the_future', 'the document timestamp is in the future');
    }
    else if (nowMs - payload.timestampMs > maxAge) {
        throw fail('stale', 'the document is too old');
    }
    const tsSeconds = Math.floor(payload.timestampMs / 1000);
    if (tsSeconds < leaf.notBefore || tsSeconds > leaf.notAfter)
        throw fail('timestamp_outside_leaf_validity', 'timestamp outside the leaf validity');
    let nonceChecked = false;
    if (options.expectedNonce !== undefined) {
        if (!payload.nonce)
            throw fail('nonce_missing', 'the document carries no nonce');
        if (!equalBytes(payload.nonce, options.expectedNonce))
            throw fail('nonce_mismatch', 'the nonce is not the challenge');
        nonceChecked = true;
    }
    const values = REQUIRED_PCRS.map((i) => {
        const v = payload.pcrs.get(i);
        if (!v)
            throw fail('missing_pcr', `PCR${i} is missing`);
        return v;
    });
    const isZero = (b) => b.every((x) => x === 0);
    let measurements;
    if (values.every(isZero)) {
        if (!policy.allowDebug)
            throw fail('debug_not_allowed', 'debug-mode document (all-zero PCRs) under a policy that does not allow debug');
        measurements = { kind: 'debug' };
    }
    else {
        for (const [k, v] of values.slice(0, 3).entries()) {
            if (isZero(v))
                throw fail('partially_zero_pcrs', `PCR${REQUIRED_PCRS[k]} is zero`);
        }
        const set = sets.findIndex((s) => s.every((expected, k) => equalBytes(values[k], expected)));
        if (set < 0)
            throw fail('pcr_mismatch', 'the measurements match no allowed set');
        measurements = { kind: 'matched', set };
    }
    return {
        moduleId: payload.moduleId,
        timestampMs: payload.timestampMs,
        pcrs: payload.pcrs,
        publicKey: payload.publicKey,
        userData: payload.userData,
        nonce: payload.nonce,
        nonceChecked,
        measurements,
        rootSha256: toHex(rootSha),
        leafNotBefore: leaf.notBefore,
        leafNotAfter: leaf.notAfter,
    };
}
/** The HPKE key config an enclave committed to in its verified document (`public_key`). */
export function keyConfigFromAttestation(verified) {
    if (!verified.publicKey)
        throw fail('no_key_config', 'the document carries no public_key (key config)');
    return parseKeysBody(verified.publicKey);
}
