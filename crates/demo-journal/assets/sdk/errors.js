/**
 * Typed errors of the SDK. Every error carries a stable machine-readable
 * {@link ZenalyzeError.code}; messages never contain plaintext, keys or
 * passwords.
 *
 * @module
 */
/** Base class of every error thrown by the SDK. */
export class ZenalyzeError extends Error {
    /** Stable machine-readable code; match on this, not on the message. */
    code;
    constructor(code, message) {
        super(message);
        this.code = code;
        this.name = 'ZenalyzeError';
    }
}
/** The envelope is shorter than the 29-byte v1 header (`too_short`). */
export class EnvelopeTooShortError extends ZenalyzeError {
    /** Length of the rejected envelope, in bytes. */
    length;
    constructor(length) {
        super('too_short', `envelope is ${length} bytes; a v1 envelope has at least 29`);
        this.name = 'EnvelopeTooShortError';
        this.length = length;
    }
}
/** The envelope's version byte is not one this SDK reads (`unsupported_version`). */
export class UnsupportedVersionError extends ZenalyzeError {
    /** The version byte found in the envelope. */
    version;
    constructor(version) {
        super('unsupported_version', `unsupported envelope version 0x${version.toString(16).padStart(2, '0')}`);
        this.name = 'UnsupportedVersionError';
        this.version = version;
    }
}
/** The text is not strict standard base64 with padding (`invalid_base64`). */
export class InvalidBase64Error extends ZenalyzeError {
    constructor(reason) {
        super('invalid_base64', `invalid base64: ${reason}`);
        this.name = 'InvalidBase64Error';
    }
}
/**
 * AES-GCM authentication failed: wrong key (email/password), wrong context,
 * or a tampered envelope (`authentication_failed`). The causes are
 * deliberately indistinguishable.
 */
export class AuthenticationFailedError extends ZenalyzeError {
    constructor() {
        super('authentication_failed', 'envelope authentication failed (wrong key, wrong context, or tampered data)');
        this.name = 'AuthenticationFailedError';
    }
}
/** A caller-supplied argument has the wrong type or shape (`invalid_input`). */
export class InvalidInputError extends ZenalyzeError {
    constructor(message) {
        super('invalid_input', message);
        this.name = 'InvalidInputError';
    }
}
/**
 * The envelope authenticated but its plaintext is not what the API expects,
 * e.g. `decrypt()` on bytes that are not UTF-8 JSON (`invalid_payload`).
 * The message never quotes the plaintext.
 */
export class InvalidPayloadError extends ZenalyzeError {
    constructor(message) {
        super('invalid_payload', message);
        this.name = 'InvalidPayloadError';
    }
}
/** No WebCrypto implementation was found or injected (`crypto_unavailable`). */
export class CryptoUnavailableError extends ZenalyzeError {
    constructor(message) {
        super('crypto_unavailable', message);
        this.name = 'CryptoUnavailableError';
    }
}
/** The instance was disposed with {@link ZenalyzeEncryption.dispose} (`disposed`). */
export class DisposedError extends ZenalyzeError {
    constructor() {
        super('disposed', 'this ZenalyzeEncryption instance was disposed');
        this.name = 'DisposedError';
    }
}
/**
 * An HPKE / EHBP failure of the `./ai` entry (malformed key config, framing,
 * response nonce, …). AEAD failures are {@link AuthenticationFailedError}.
 */
export class EhbpError extends ZenalyzeError {
    constructor(code, message) {
        super(code, message);
        this.name = 'EhbpError';
    }
}
/**
 * An attestation document was refused (`attestation_failed`) or the policy
 * cannot accept anything (`invalid_policy`). {@link AttestationError.check}
 * names the check that failed.
 */
export class AttestationError extends ZenalyzeError {
    /** The failed check, e.g. `untrusted_root`, `stale`, `pcr_mismatch`. */
    check;
    constructor(check, message, code = 'attestation_failed') {
        super(code, message);
        this.name = 'AttestationError';
        this.check = check;
    }
}
/**
 * An AI request failed after transport (`ai_request_failed`): a non-2xx
 * status, a missing response nonce, or an error answer from the enclave.
 * Carries the HTTP status and, when the enclave sealed an error answer,
 * its `code`; never request or answer content beyond that.
 */
export class AiRequestError extends ZenalyzeError {
    /** HTTP status of the answer. */
    status;
    /** The enclave's error code from a sealed error answer, or the problem `type`. */
    detail;
    constructor(status, message, detail) {
        super('ai_request_failed', message);
        this.name = 'AiRequestError';
        this.status = status;
        this.detail = detail;
    }
}
