//! A small, strict BER reader: exactly what a KMS `CiphertextForRecipient`
//! (CMS EnvelopedData) needs, nothing more.
//!
//! Accepted: low-tag-number identifiers, definite lengths in short form or in
//! minimal long form (at most 4 length octets), indefinite lengths on
//! constructed encodings only (terminated by end-of-contents `00 00`), and
//! constructed OCTET STRINGs (segments concatenated). Refused: high tag
//! numbers, reserved or non-minimal length encodings, indefinite length on a
//! primitive, a stray end-of-contents, truncation, nesting deeper than
//! [`MAX_DEPTH`], and (by the callers) trailing data after any element.

use crate::RecipientError;

/// Deepest nesting accepted (the EnvelopedData schema needs 10 levels; the
/// rest is headroom for constructed OCTET STRING segments).
pub(crate) const MAX_DEPTH: usize = 24;

pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const NULL: u8 = 0x05;
pub(crate) const OID: u8 = 0x06;
/// `[n]` context-specific, constructed.
pub(crate) const fn ctx_cons(n: u8) -> u8 {
    0xA0 | n
}
/// `[n]` context-specific, primitive.
pub(crate) const fn ctx_prim(n: u8) -> u8 {
    0x80 | n
}
const CONSTRUCTED: u8 = 0x20;

fn malformed(what: &'static str) -> RecipientError {
    RecipientError::Malformed(what)
}

/// One element: its identifier octet and its contents. For an
/// indefinite-length element, `body` is the concatenated children without
/// the end-of-contents octets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub body: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// A reader over the children of this (constructed) element.
    pub fn children(&self, depth: usize) -> Result<Reader<'a>, RecipientError> {
        if self.tag & CONSTRUCTED == 0 {
            return Err(malformed(
                "primitive element where a constructed one is required",
            ));
        }
        Reader::new(self.body, depth + 1)
    }
}

/// Parses the element at the start of `input`; returns it and what follows.
pub(crate) fn parse(input: &[u8], depth: usize) -> Result<(Tlv<'_>, &[u8]), RecipientError> {
    if depth > MAX_DEPTH {
        return Err(malformed("nesting too deep"));
    }
    let (&tag, rest) = input
        .split_first()
        .ok_or(malformed("truncated identifier"))?;
    if tag == 0 {
        return Err(malformed("unexpected end-of-contents"));
    }
    if tag & 0x1f == 0x1f {
        return Err(malformed("high tag number form"));
    }
    let (&first, rest) = rest.split_first().ok_or(malformed("truncated length"))?;
    if first == 0x80 {
        if tag & CONSTRUCTED == 0 {
            return Err(malformed("indefinite length on a primitive element"));
        }
        let mut cur = rest;
        loop {
            match cur {
                [0, 0, after @ ..] => {
                    let body_len = rest.len() - cur.len();
                    return Ok((
                        Tlv {
                            tag,
                            body: &rest[..body_len],
                        },
                        after,
                    ));
                }
                [] => return Err(malformed("missing end-of-contents")),
                _ => cur = parse(cur, depth + 1)?.1,
            }
        }
    }
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if first == 0xff {
            return Err(malformed("reserved length octet"));
        }
        if n > 4 {
            return Err(malformed("length too large"));
        }
        if rest.len() < n {
            return Err(malformed("truncated length"));
        }
        let (octets, rest) = rest.split_at(n);
        if octets[0] == 0 {
            return Err(malformed("non-minimal length"));
        }
        let len = octets
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        if len < 0x80 {
            return Err(malformed("non-minimal length"));
        }
        (len, rest)
    };
    if len > rest.len() {
        return Err(malformed("truncated contents"));
    }
    let (body, after) = rest.split_at(len);
    Ok((Tlv { tag, body }, after))
}

/// Parses `input` as exactly one element (trailing data refused).
pub(crate) fn parse_single(input: &[u8]) -> Result<Tlv<'_>, RecipientError> {
    let (tlv, rest) = parse(input, 0)?;
    if !rest.is_empty() {
        return Err(malformed("trailing data after the ContentInfo"));
    }
    Ok(tlv)
}

/// Reads the children of a constructed element in order.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    depth: usize,
}

impl<'a> Reader<'a> {
    fn new(body: &'a [u8], depth: usize) -> Result<Self, RecipientError> {
        if depth > MAX_DEPTH {
            return Err(malformed("nesting too deep"));
        }
        Ok(Self { rest: body, depth })
    }

    /// Nesting depth of the children.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The next child's identifier octet, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next child, whatever its tag.
    pub fn next_any(&mut self, what: &'static str) -> Result<Tlv<'a>, RecipientError> {
        if self.rest.is_empty() {
            return Err(malformed(what));
        }
        let (tlv, rest) = parse(self.rest, self.depth)?;
        self.rest = rest;
        Ok(tlv)
    }

    /// The next child, which must carry `tag`; `what` names it in the error.
    pub fn expect(&mut self, tag: u8, what: &'static str) -> Result<Tlv<'a>, RecipientError> {
        let tlv = self.next_any(what)?;
        if tlv.tag != tag {
            return Err(malformed(what));
        }
        Ok(tlv)
    }

    /// Number of remaining children (parses them all).
    pub fn count(&self) -> Result<usize, RecipientError> {
        let mut n = 0;
        let mut cur = self.rest;
        while !cur.is_empty() {
            cur = parse(cur, self.depth)?.1;
            n += 1;
        }
        Ok(n)
    }

    /// Refuses anything left over.
    pub fn finish(&self, what: &'static str) -> Result<(), RecipientError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(malformed(what))
        }
    }
}

/// The value of an OCTET STRING, primitive (`primitive_tag`) or
/// constructed (`primitive_tag | 0x20`, segments of universal OCTET STRING,
/// themselves primitive or constructed), appended to `out`.
pub(crate) fn octets(
    tlv: &Tlv<'_>,
    primitive_tag: u8,
    depth: usize,
    out: &mut Vec<u8>,
) -> Result<(), RecipientError> {
    if tlv.tag == primitive_tag {
        out.extend_from_slice(tlv.body);
        return Ok(());
    }
    if tlv.tag != primitive_tag | CONSTRUCTED {
        return Err(malformed("expected an OCTET STRING"));
    }
    let mut r = tlv.children(depth)?;
    while r.peek_tag().is_some() {
        let seg = r.next_any("OCTET STRING segment")?;
        octets(&seg, OCTET_STRING, r.depth(), out)?;
    }
    Ok(())
}

/// A small non-negative INTEGER (one content octet, minimal).
pub(crate) fn small_uint(tlv: &Tlv<'_>) -> Result<u8, RecipientError> {
    match tlv.body {
        [v] if *v < 0x80 => Ok(*v),
        _ => Err(malformed("version is not a small INTEGER")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(parse(&[0x04, 0x01, 0xaa], 0).unwrap().0.body, &[0xaa]);
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(0u8, 0x80));
        assert_eq!(parse(&long, 0).unwrap().0.body.len(), 0x80);
        for bad in [
            &[0x04, 0x81, 0x05, 1, 2, 3, 4, 5][..], // non-minimal (long form for < 128)
            &[0x04, 0x82, 0x00, 0x80],              // leading zero
            &[0x04, 0x85, 1, 0, 0, 0, 0],           // 5 length octets
            &[0x04, 0xff],                          // reserved
            &[0x04, 0x80, 0, 0],                    // indefinite primitive
            &[0x04, 0x02, 1],                       // truncated
            &[0x1f, 0x01, 0x00],                    // high tag number
            &[0x00, 0x00],                          // stray end-of-contents
            &[0x30, 0x80, 0x04, 0x00],              // missing end-of-contents
            &[0x30, 0x80, 0x00, 0x01],              // broken end-of-contents
            &[0x04],
            &[],
        ] {
            assert!(parse(bad, 0).is_err(), "{bad:02x?}");
        }
    }

    #[test]
    fn indefinite_and_constructed_octets() {
        // 0x24 0x80 [04 02 a b] [24 80 [04 01 c] 00 00] 00 00
        let enc = [
            0x24, 0x80, 0x04, 0x02, 0xa, 0xb, 0x24, 0x80, 0x04, 0x01, 0xc, 0, 0, 0, 0,
        ];
        let (tlv, rest) = parse(&enc, 0).unwrap();
        assert!(rest.is_empty());
        let mut out = Vec::new();
        octets(&tlv, OCTET_STRING, 0, &mut out).unwrap();
        assert_eq!(out, [0xa, 0xb, 0xc]);
        assert!(parse_single(&[0x04, 0x00, 0x00]).is_err());
    }

    #[test]
    fn depth_limit() {
        let mut enc = Vec::new();
        for _ in 0..(MAX_DEPTH + 2) {
            enc.extend_from_slice(&[0x30, 0x80]);
        }
        for _ in 0..(MAX_DEPTH + 2) {
            enc.extend_from_slice(&[0, 0]);
        }
        assert!(parse(&enc, 0).is_err());
    }
}
