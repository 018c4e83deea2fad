// Where the cross-language vectors live, relative to this package.
export const VECTORS_RELATIVE_TO_PACKAGE = '../../test-vectors/v1.json';
