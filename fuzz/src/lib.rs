//! The bodies of the fuzz targets, as plain functions over `&[u8]` so that the same code runs
//! under libFuzzer (`fuzz_targets/*.rs`, via `cargo fuzz`) and on the stable toolchain (the
//! deterministic smoke test in `zk-proto/tests/hostile.rs` includes this file with `#[path]`).
//!
//! Each body panics exactly when it finds a bug: a decoder panic, or an accepted input whose
//! re-encoding does not decode back to the same value.

use zk_proto::frame;
use zk_proto::proto::ConnectRequest;
use zk_proto::request::{decode_request, encode_request, Request};
use zk_proto::{Decode, Encode, DEFAULT_MAX_BUFFER};

/// Decodes `data` as a request payload with the default `jute.maxbuffer`; anything accepted must
/// re-encode to a request that decodes to the same header and typed request.
///
/// The first re-encoding need not equal `data` byte for byte: decoding is lossy where ZooKeeper
/// is (malformed UTF-8 becomes U+FFFD, a null `buffer` or `vector` reads as empty, any non-zero
/// byte is `true`, a multi header's `err` is ignored, trailing bytes after the body are not
/// looked at). So bytes are compared after one normalisation pass: encoding is a fixpoint from
/// the first re-encoding on.
pub fn decode_request_target(data: &[u8]) {
    let Ok((header, req)) = decode_request(data, DEFAULT_MAX_BUFFER) else {
        return;
    };
    let normalised = encode(header.xid, &req);
    // U+FFFD takes three bytes where the malformed byte took one, so a string just under the
    // limit may exceed it once normalised; lengths are still bounded by the input itself.
    let (header2, req2) = decode_request(&normalised, usize::MAX)
        .unwrap_or_else(|e| panic!("re-encoding of {req:?} does not decode: {e}"));
    assert_eq!(header2, header, "header changed on re-encoding");
    assert_eq!(req2, req, "request changed on re-encoding");
    assert_eq!(
        encode(header2.xid, &req2),
        normalised,
        "encoding is not a fixpoint"
    );
}

/// Splits `data` into client-port frames the way the server's read loop does: the first frame
/// is a `ConnectRequest`, every later one a request. Stops at the first incomplete or bad frame.
pub fn decode_frame_target(data: &[u8]) {
    // A small limit half the time, so that the length checks are exercised too.
    let max = if data.first().is_some_and(|b| b & 1 == 1) {
        64
    } else {
        DEFAULT_MAX_BUFFER
    };
    let mut buf = data;
    let mut first = true;
    loop {
        let end = match frame::check(buf, max) {
            Ok(Some(end)) => end,
            Ok(None) | Err(_) => return,
        };
        assert!(
            end >= 4 && end <= buf.len() && end - 4 <= max,
            "frame end {end} out of range"
        );
        let payload = &buf[4..end];
        if first {
            if let Ok(conn) = ConnectRequest::from_bytes(payload) {
                let again = conn.to_bytes();
                assert_eq!(ConnectRequest::from_bytes(&again).as_ref(), Ok(&conn));
                // A null passwd (read as empty) or a readOnly byte other than 0/1 changes the bytes,
                // never the length.
                assert_eq!(again.len(), payload.len(), "connect request changed length");
            }
            first = false;
        } else {
            decode_request_target(payload);
        }
        buf = &buf[end..];
    }
}

fn encode(xid: i32, req: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    encode_request(xid, req, &mut out);
    out
}
