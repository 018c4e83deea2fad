// Where the cross-language vectors live, relative to this package.
export const VECTORS_RELATIVE_TO_PACKAGE = '../../test-vectors/v1.json';
export const HPKE_VECTORS_RELATIVE_TO_PACKAGE = '../../test-vectors/hpke-rfc9180-x25519-sha256-aes256gcm.json';
