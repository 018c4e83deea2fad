/**
 * The subset of DER / X.509 the Nitro certificate chain needs: split a
 * certificate into TBS, algorithm and signature; read issuer, subject,
 * validity, SubjectPublicKeyInfo, basicConstraints and keyUsage.
 *
 * @module
 */
/** Thrown for malformed or unsupported certificates. */
export class DerError extends Error {
    constructor(message) {
        super(message);
        this.name = 'DerError';
    }
}
function readTlv(bytes, at) {
    const tag = bytes[at];
    if (tag === undefined)
        throw new DerError('DER truncated');
    if ((tag & 0x1f) === 0x1f)
        throw new DerError('high tag numbers are not supported');
    let pos = at + 1;
    const first = bytes[pos++];
    if (first === undefined)
        throw new DerError('DER truncated');
    let len;
    if (first < 0x80) {
        len = first;
    }
    else {
        const n = first & 0x7f;
        if (n === 0 || n > 4)
            throw new DerError('unsupported DER length');
        len = 0;
        for (let i = 0; i < n; i++) {
            const b = bytes[pos++];
            if (b === undefined)
                throw new DerError('DER truncated');
            len = len * 256 + b;
        }
        if (len < 0x80 || (n > 1 && len < 256 ** (n - 1)))
            throw new DerError('non-minimal DER length');
    }
    if (len > bytes.length - pos)
        throw new DerError('DER length exceeds the input');
    return { tlv: { tag, raw: bytes.subarray(at, pos + len), content: bytes.subarray(pos, pos + len) }, next: pos + len };
}
function children(content) {
    const out = [];
    let pos = 0;
    while (pos < content.length) {
        const { tlv, next } = readTlv(content, pos);
        out.push(tlv);
        pos = next;
    }
    return out;
}
function expect(t, tag, what) {
    if (!t || t.tag !== tag)
        throw new DerError(`expected ${what}`);
    return t;
}
function oid(content) {
    const parts = [];
    let v = 0;
    for (const b of content) {
        v = v * 128 + (b & 0x7f);
        if ((b & 0x80) === 0) {
            if (parts.length === 0) {
                parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
            }
            else {
                parts.push(v);
            }
            v = 0;
        }
    }
    return parts.join('.');
}
function parseTime(t) {
    const s = String.fromCharCode(...t.content);
    let m;
    let year;
    if (t.tag === 0x17) {
        m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
        if (!m)
            throw new DerError('bad UTCTime');
        const yy = Number(m[1]);
        year = yy >= 50 ? 1900 + yy : 2000 + yy;
    }
    else if (t.tag === 0x18) {
        m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
        if (!m)
            throw new DerError('bad GeneralizedTime');
        year = Number(m[1]);
    }
    else {
        throw new DerError('expected a time');
    }
    const ms = Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
    if (!Number.isFinite(ms))
        throw new DerError('bad time');
    return ms / 1000;
}
const OID_ECDSA_SHA384 = '1.2.840.10045.4.3.3';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_KEY_USAGE = '2.5.29.15';
/** Parses one X.509 certificate signed with ecdsa-with-SHA384. */
export function parseCertificate(der) {
    const { tlv: cert, next } = readTlv(der, 0);
    if (next !== der.length || cert.tag !== 0x30)
        throw new DerError('certificate is not one DER SEQUENCE');
    const [tbsT, algT, sigT, ...extra] = children(cert.content);
    if (extra.length)
        throw new DerError('extra fields in certificate');
    const tbs = expect(tbsT, 0x30, 'tbsCertificate');
    const alg = children(expect(algT, 0x30, 'signatureAlgorithm').content);
    if (oid(expect(alg[0], 0x06, 'algorithm OID').content) !== OID_ECDSA_SHA384) {
        throw new DerError('certificate is not signed with ecdsa-with-SHA384');
    }
    const sigBits = expect(sigT, 0x03, 'signatureValue');
    if (sigBits.content[0] !== 0)
        throw new DerError('signature BIT STRING has unused bits');
    const f = children(tbs.content);
    let i = 0;
    if (f[0]?.tag === 0xa0)
        i++; // version
    expect(f[i++], 0x02, 'serialNumber');
    const innerAlg = children(expect(f[i++], 0x30, 'signature').content);
    if (oid(expect(innerAlg[0], 0x06, 'algorithm OID').content) !== OID_ECDSA_SHA384) {
        throw new DerError('tbsCertificate signature algorithm mismatch');
    }
    const issuer = expect(f[i++], 0x30, 'issuer');
    const validity = children(expect(f[i++], 0x30, 'validity').content);
    const subject = expect(f[i++], 0x30, 'subject');
    const spki = expect(f[i++], 0x30, 'subjectPublicKeyInfo');
    const parsed = {
        der,
        tbs: tbs.raw,
        signature: sigBits.content.subarray(1),
        issuer: issuer.raw,
        subject: subject.raw,
        spki: spki.raw,
        notBefore: parseTime(validity[0]),
        notAfter: parseTime(validity[1]),
    };
    for (; i < f.length; i++) {
        const t = f[i];
        if (t.tag !== 0xa3)
            continue; // issuerUniqueID / subjectUniqueID are ignored
        const exts = children(expect(children(t.content)[0], 0x30, 'extensions').content);
        for (const ext of exts) {
            const parts = children(expect(ext, 0x30, 'extension').content);
            const id = oid(expect(parts[0], 0x06, 'extension OID').content);
            const value = expect(parts[parts.length - 1], 0x04, 'extension value');
            if (id === OID_BASIC_CONSTRAINTS) {
                const seq = children(expect(children(value.content)[0], 0x30, 'BasicConstraints').content);
                let ca = false;
                let pathLen;
                for (const s of seq) {
                    if (s.tag === 0x01)
                        ca = s.content[0] === 0xff;
                    else if (s.tag === 0x02)
                        pathLen = s.content.reduce((a, b) => a * 256 + b, 0);
                }
                parsed.basicConstraints = pathLen === undefined ? { ca } : { ca, pathLen };
            }
            else if (id === OID_KEY_USAGE) {
                const bits = expect(children(value.content)[0], 0x03, 'KeyUsage');
                const b0 = bits.content[1] ?? 0;
                const b1 = bits.content[2] ?? 0;
                // Bit 0 is the most significant bit of the first content byte.
                let usage = 0;
                for (let bit = 0; bit < 9; bit++) {
                    const byte = bit < 8 ? b0 : b1;
                    if (byte & (0x80 >> (bit % 8)))
                        usage |= 1 << bit;
                }
                parsed.keyUsage = usage;
            }
        }
    }
    return parsed;
}
/** Converts a DER ECDSA signature (SEQUENCE of two INTEGERs) to raw `r ‖ s` of `n` bytes each. */
export function ecdsaDerToRaw(der, n) {
    const { tlv, next } = readTlv(der, 0);
    if (tlv.tag !== 0x30 || next !== der.length)
        throw new DerError('bad ECDSA signature');
    const [r, s, ...extra] = children(tlv.content);
    if (extra.length)
        throw new DerError('bad ECDSA signature');
    const out = new Uint8Array(2 * n);
    for (const [k, part] of [r, s].entries()) {
        let v = expect(part, 0x02, 'ECDSA integer').content;
        while (v.length > 0 && v[0] === 0)
            v = v.subarray(1);
        if (v.length > n)
            throw new DerError('ECDSA integer too long');
        out.set(v, k * n + (n - v.length));
    }
    return out;
}
