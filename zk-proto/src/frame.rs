//! Client-port framing: a 4-byte big-endian length, then that many bytes.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// ZooKeeper closes the connection on this ("Len error").
    #[error("frame length {len} is negative or over the limit of {max} bytes")]
    BadLength { len: i64, max: usize },
}

/// Checks whether `buf` starts with a whole frame. Returns the payload's range end (so the
/// payload is `buf[4..end]`) when a whole frame is present, `None` when more bytes are needed.
pub fn check(buf: &[u8], max_len: usize) -> Result<Option<usize>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len < 0 || len as usize > max_len {
        return Err(FrameError::BadLength {
            len: len as i64,
            max: max_len,
        });
    }
    let end = 4 + len as usize;
    Ok((buf.len() >= end).then_some(end))
}

/// Appends a frame holding `payload`.
pub fn put(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as i32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Starts a frame whose length is patched in by [`finish`]: write the payload after this.
pub fn begin(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    at
}

/// Patches the length of a frame started at `at` by [`begin`]; returns the payload length.
pub fn finish(out: &mut [u8], at: usize) -> usize {
    let len = out.len() - at - 4;
    out[at..at + 4].copy_from_slice(&(len as i32).to_be_bytes());
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let mut out = Vec::new();
        put(&mut out, b"abc");
        assert_eq!(check(&out, 10), Ok(Some(7)));
        assert_eq!(check(&out[..6], 10), Ok(None));
        assert_eq!(check(&out[..3], 10), Ok(None));
        assert_eq!(
            check(&out, 2),
            Err(FrameError::BadLength { len: 3, max: 2 })
        );
        assert_eq!(
            check(&[0xff, 0xff, 0xff, 0xff], 10),
            Err(FrameError::BadLength { len: -1, max: 10 })
        );
        let mut out = vec![9];
        let at = begin(&mut out);
        out.extend_from_slice(b"xy");
        assert_eq!(finish(&mut out, at), 2);
        assert_eq!(out, vec![9, 0, 0, 0, 2, b'x', b'y']);
    }
}
