//! EHBP body framing: a sequence of `u32 big-endian length ‖ ciphertext`
//! chunks, in both directions. Zero-length chunks may appear and are
//! ignored; the end of the body ends the message.

use crate::error::{Code, EhbpError};

/// Length of the big-endian chunk length prefix.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// Default largest accepted chunk (ciphertext bytes of one frame): 16 MiB.
pub const DEFAULT_MAX_CHUNK_LEN: u32 = 16 * 1024 * 1024;

/// Appends one frame (`len ‖ ciphertext`) to `out`.
///
/// Fails with [`Code::ChunkTooLarge`] when `ciphertext` does not fit the
/// 32-bit length prefix.
pub fn push_frame(out: &mut Vec<u8>, ciphertext: &[u8]) -> Result<(), EhbpError> {
    let len = u32::try_from(ciphertext.len())
        .map_err(|_| EhbpError::new(Code::ChunkTooLarge, "chunk does not fit a u32 length"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(ciphertext);
    Ok(())
}

/// Iterator over the non-empty frames of an EHBP body.
///
/// Each item is the ciphertext of one frame, or the framing error that stops
/// the iteration (after an error the iterator yields nothing more). Length
/// prefixes are checked against `max_chunk_len` before anything is sliced.
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    rest: &'a [u8],
    max_chunk_len: u32,
    failed: bool,
}

impl<'a> Frames<'a> {
    /// Iterates over the frames of `body`, refusing chunks longer than
    /// `max_chunk_len` bytes.
    pub fn new(body: &'a [u8], max_chunk_len: u32) -> Self {
        Self {
            rest: body,
            max_chunk_len,
            failed: false,
        }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<&'a [u8], EhbpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let Some((prefix, after)) = self.rest.split_first_chunk::<LENGTH_PREFIX_LEN>() else {
                self.failed = true;
                return Some(Err(EhbpError::new(
                    Code::FramingTruncated,
                    "body ended inside a length prefix",
                )));
            };
            let len = u32::from_be_bytes(*prefix);
            if len > self.max_chunk_len {
                self.failed = true;
                return Some(Err(EhbpError::new(
                    Code::ChunkTooLarge,
                    "chunk length exceeds the receiver's maximum",
                )));
            }
            let len = len as usize;
            if after.len() < len {
                self.failed = true;
                return Some(Err(EhbpError::new(
                    Code::FramingTruncated,
                    "body ended inside a chunk",
                )));
            }
            let (chunk, rest) = after.split_at(len);
            self.rest = rest;
            if chunk.is_empty() {
                continue;
            }
            return Some(Ok(chunk));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_skip_empty() {
        let mut body = Vec::new();
        push_frame(&mut body, b"abc").unwrap();
        push_frame(&mut body, b"").unwrap();
        push_frame(&mut body, b"de").unwrap();
        let frames: Vec<_> = Frames::new(&body, 16).collect::<Result<_, _>>().unwrap();
        assert_eq!(frames, vec![&b"abc"[..], &b"de"[..]]);
    }

    #[test]
    fn truncated_prefix_and_chunk_are_refused() {
        let mut body = Vec::new();
        push_frame(&mut body, b"abc").unwrap();
        let short = &body[..body.len() - 1];
        let err = Frames::new(short, 16).last().unwrap().unwrap_err();
        assert_eq!(err.code(), Code::FramingTruncated);
        let mut two = body.clone();
        two.extend_from_slice(&[0, 0]);
        let errs: Vec<_> = Frames::new(&two, 16).collect();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[1].unwrap_err().code(), Code::FramingTruncated);
    }

    #[test]
    fn oversized_chunk_refused_before_slicing() {
        let body = [0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        let err = Frames::new(&body, 1024).next().unwrap().unwrap_err();
        assert_eq!(err.code(), Code::ChunkTooLarge);
    }
}
