//! Hostile input: decoding arbitrary or damaged bytes returns an error and never panics,
//! truncated encodings are rejected, and lying length prefixes are refused before anything is
//! allocated. Also runs the fuzz targets' bodies (`fuzz/src/lib.rs`) over a deterministic corpus
//! of mutated valid encodings, so the fuzz harness is exercised on the stable toolchain.

mod common;

#[path = "../../fuzz/src/lib.rs"]
mod fuzz_bodies;

use std::fmt::Debug;

use proptest::collection::vec;
use proptest::prelude::*;
use zk_proto::codec::WriteExt;
use zk_proto::data::*;
use zk_proto::frame::{self, FrameError};
use zk_proto::proto::*;
use zk_proto::request::{
    decode_multi_results, decode_request, encode_multi_results, encode_request, MultiResult,
    Request, RequestError,
};
use zk_proto::txn::*;
use zk_proto::{Decode, DecodeError, Encode, OpCode, Reader, DEFAULT_MAX_BUFFER};

/// Values that make interesting lengths, counts, opcodes and booleans.
const INTERESTING: &[i32] = &[
    -1,
    0,
    1,
    2,
    3,
    4,
    8,
    14,
    22,
    -2,
    -11,
    -100,
    0x7f,
    0xff,
    0xfffff,
    0x100000,
    0x7fff_fffe,
    i32::MAX,
    i32::MIN,
];

/// Random bytes, half the time built from jute-shaped tokens (big-endian ints that look like
/// lengths, short path-like strings) so that decoders get past their first length field.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        prop::sample::select(INTERESTING).prop_map(|v| v.to_be_bytes().to_vec()),
        any::<i32>().prop_map(|v| v.to_be_bytes().to_vec()),
        "[/a-z]{0,6}".prop_map(String::into_bytes),
    ];
    prop_oneof![
        vec(any::<u8>(), 0..128),
        vec(token, 0..32).prop_map(|t| t.concat())
    ]
}

/// A `jute.maxbuffer`: tiny, default, or anything at all.
fn any_max() -> impl Strategy<Value = usize> {
    prop_oneof![0..64usize, Just(DEFAULT_MAX_BUFFER), any::<usize>()]
}

/// Any opcode the server knows, or not.
fn any_op() -> impl Strategy<Value = i32> {
    let known: Vec<i32> = OpCode::ALL.iter().map(|op| op.code()).collect();
    prop_oneof![3 => prop::sample::select(known), 1 => any::<i32>()]
}

/// Decodes `bytes` as every record type, with the default and with a tiny `max_len`.
macro_rules! decode_as_every_record {
    ($($test:ident : $t:ty => $s:expr),+ $(,)?) => {
        fn decode_as_every_record(bytes: &[u8]) {
            $(
                let _ = <$t>::from_bytes(bytes);
                let _ = <$t>::decode(&mut Reader::with_max(bytes, 3));
            )+
            let _ = decode_multi_results(&mut Reader::new(bytes));
            let _ = decode_multi_results(&mut Reader::with_max(bytes, 3));
        }
    };
}
common::for_each_record!(decode_as_every_record);

/// Every proper prefix of `v`'s encoding fails with `Truncated`; only records whose last field
/// is optional (`ConnectRequest`/`ConnectResponse.readOnly`) accept the prefix that drops it.
fn check_truncations<T>(v: &T, optional_tail: bool) -> Result<(), TestCaseError>
where
    T: Decode + Encode + Debug + PartialEq,
{
    let bytes = v.to_bytes();
    for cut in 0..bytes.len() {
        match T::from_bytes(&bytes[..cut]) {
            Err(DecodeError::Truncated { needed }) => prop_assert!(needed > 0),
            Ok(w) if optional_tail && cut == bytes.len() - 1 => {
                prop_assert_eq!(w.to_bytes(), bytes[..cut].to_vec());
            }
            other => prop_assert!(
                false,
                "prefix {cut}/{} of {v:?} gave {other:?}",
                bytes.len()
            ),
        }
    }
    Ok(())
}

mod truncation {
    use super::*;

    macro_rules! truncations {
        ($($test:ident : $t:ty => $s:expr),+ $(,)?) => {
            proptest! {
                #![proptest_config(common::config())]
                $(
                    #[test]
                    fn $test(v in $s) {
                        check_truncations::<$t>(&v, stringify!($t).starts_with("Connect"))?;
                    }
                )+
            }
        };
    }
    common::for_each_record!(truncations);

    proptest! {
        #![proptest_config(common::config())]

        #[test]
        fn requests(xid in any::<i32>(), req in common::request()) {
            let mut bytes = Vec::new();
            encode_request(xid, &req, &mut bytes);
            for cut in 0..bytes.len() {
                match decode_request(&bytes[..cut], DEFAULT_MAX_BUFFER) {
                    Err(RequestError::Header(DecodeError::Truncated { .. })) => prop_assert!(cut < 8),
                    Err(RequestError::Body { xid: x, err: DecodeError::Truncated { .. }, .. }) => {
                        prop_assert!(cut >= 8);
                        prop_assert_eq!(x, xid);
                    }
                    other => prop_assert!(false, "prefix {cut}/{} of {req:?} gave {other:?}", bytes.len()),
                }
            }
        }

        #[test]
        fn multi_results(results in vec(common::multi_result(), 0..6)) {
            let mut bytes = Vec::new();
            encode_multi_results(&results, &mut bytes);
            for cut in 0..bytes.len() {
                let got = decode_multi_results(&mut Reader::new(&bytes[..cut]));
                prop_assert!(matches!(got, Err(DecodeError::Truncated { .. })), "prefix {cut}: {got:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(common::config())]

    #[test]
    fn decode_request_never_panics(bytes in hostile_bytes(), max in any_max()) {
        let _ = decode_request(&bytes, max);
    }

    #[test]
    fn decode_request_body_never_panics(
        xid in any::<i32>(),
        op in any_op(),
        body in hostile_bytes(),
        max in any_max(),
    ) {
        let mut bytes = Vec::new();
        bytes.put_i32(xid);
        bytes.put_i32(op);
        bytes.extend_from_slice(&body);
        match decode_request(&bytes, max) {
            Ok((h, _)) => prop_assert_eq!((h.xid, h.op_type), (xid, op)),
            Err(RequestError::Body { xid: x, op: o, .. }) => prop_assert_eq!((x, o), (xid, op)),
            Err(RequestError::Header(e)) => prop_assert!(false, "a whole header failed: {e}"),
        }
        fuzz_bodies::decode_request_target(&bytes);
    }

    #[test]
    fn multi_bodies_never_panic(
        xid in any::<i32>(),
        read in any::<bool>(),
        parts in vec((any_op(), any::<u8>(), hostile_bytes()), 0..4),
    ) {
        // Multi headers followed by junk bodies: exercises decode_multi's op dispatch.
        let mut bytes = Vec::new();
        bytes.put_i32(xid);
        bytes.put_i32(if read { OpCode::MultiRead.code() } else { OpCode::Multi.code() });
        for (op, done, body) in &parts {
            MultiHeader { op_type: *op, done: *done == 1, err: -1 }.encode(&mut bytes);
            bytes.extend_from_slice(body);
        }
        let _ = decode_request(&bytes, DEFAULT_MAX_BUFFER);
        fuzz_bodies::decode_request_target(&bytes);
        let _ = decode_multi_results(&mut Reader::new(&bytes[8..]));
    }

    #[test]
    fn records_never_panic(bytes in hostile_bytes()) {
        decode_as_every_record(&bytes);
    }

    #[test]
    fn frame_check_never_panics(bytes in hostile_bytes(), max in any_max()) {
        match frame::check(&bytes, max) {
            Ok(Some(end)) => {
                let len = i32::from_be_bytes(bytes[..4].try_into().unwrap());
                prop_assert_eq!(end, 4 + len as usize);
                prop_assert!(end <= bytes.len() && len as usize <= max);
            }
            Ok(None) => prop_assert!(
                bytes.len() < 4
                    || i32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize + 4 > bytes.len()
            ),
            Err(FrameError::BadLength { len, max: m }) => {
                prop_assert_eq!(m, max);
                prop_assert!(len < 0 || len as u64 > max as u64);
            }
        }
        fuzz_bodies::decode_frame_target(&bytes);
    }

    #[test]
    fn framed_payloads_are_found(payload in vec(any::<u8>(), 0..64), extra in vec(any::<u8>(), 0..8)) {
        let mut buf = Vec::new();
        frame::put(&mut buf, &payload);
        let end = buf.len();
        buf.extend_from_slice(&extra);
        prop_assert_eq!(frame::check(&buf, 64), Ok(Some(end)));
        prop_assert_eq!(&buf[4..end], payload.as_slice());
        prop_assert_eq!(frame::check(&buf[..end - 1], 64), Ok(None));
    }

    /// A length prefix over `max_len` is refused as `BadLength`, whatever the field kind.
    #[test]
    fn lengths_over_max_are_refused(
        max in 0usize..4096,
        over in 1i64..=i32::MAX as i64,
        kind in 0..6u8,
        tail in vec(any::<u8>(), 0..16),
    ) {
        let len = (max as i64).saturating_add(over).min(i32::MAX as i64) as i32;
        prop_assume!(len as usize > max);
        let expected = DecodeError::BadLength { len: len as i64, max };
        let mut bytes = Vec::new();
        let got = match kind {
            // buffer: GetSaslRequest.token
            0 => {
                bytes.put_i32(len);
                bytes.extend_from_slice(&tail);
                GetSaslRequest::decode(&mut Reader::with_max(&bytes, max)).map(drop)
            }
            // ustring: SyncRequest.path
            1 => {
                bytes.put_i32(len);
                bytes.extend_from_slice(&tail);
                SyncRequest::decode(&mut Reader::with_max(&bytes, max)).map(drop)
            }
            // nullable buffer after a field: SetDataRequest.data
            2 => {
                bytes.put_string("");
                bytes.put_i32(len);
                bytes.extend_from_slice(&tail);
                SetDataRequest::decode(&mut Reader::with_max(&bytes, max)).map(drop)
            }
            // vector<ustring>: GetChildrenResponse.children
            3 => {
                bytes.put_i32(len);
                bytes.extend_from_slice(&tail);
                GetChildrenResponse::decode(&mut Reader::with_max(&bytes, max)).map(drop)
            }
            // vector<record>: MultiTxn.txns
            4 => {
                bytes.put_i32(len);
                bytes.extend_from_slice(&tail);
                MultiTxn::decode(&mut Reader::with_max(&bytes, max)).map(drop)
            }
            // ConnectRequest.passwd
            _ => {
                bytes.extend_from_slice(&[0; 24]);
                bytes.put_i32(len);
                bytes.extend_from_slice(&tail);
                ConnectRequest::decode(&mut Reader::with_max(&bytes, max)).map(drop)
            }
        };
        prop_assert_eq!(got, Err(expected));
    }

    /// Negative lengths other than -1 (null) are refused too.
    #[test]
    fn negative_lengths_are_refused(len in i32::MIN..-1, tail in vec(any::<u8>(), 0..16)) {
        let mut bytes = Vec::new();
        bytes.put_i32(len);
        bytes.extend_from_slice(&tail);
        let expected = Err(DecodeError::BadLength { len: len as i64, max: DEFAULT_MAX_BUFFER });
        prop_assert_eq!(GetSaslRequest::decode(&mut Reader::new(&bytes)).map(drop), expected.clone());
        prop_assert_eq!(GetAclRequest::decode(&mut Reader::new(&bytes)).map(drop), expected.clone());
        prop_assert_eq!(GetChildrenResponse::decode(&mut Reader::new(&bytes)).map(drop), expected);
        let framed = frame::check(&bytes, DEFAULT_MAX_BUFFER);
        prop_assert!(matches!(framed, Err(FrameError::BadLength { .. })), "{framed:?}");
    }
}

/// 2^31-1 claimed bytes or elements in a 4-byte input: refused as `BadLength` by the default
/// limit, and even with no limit at all refused as `Truncated` (checked against what is left)
/// rather than by trying to allocate 2 GiB of bytes or 48 GiB of `String`s.
#[test]
fn huge_length_prefix_is_refused_without_allocating() {
    let huge = i32::MAX.to_be_bytes();
    let bad = DecodeError::BadLength {
        len: i32::MAX as i64,
        max: DEFAULT_MAX_BUFFER,
    };
    assert_eq!(GetSaslRequest::from_bytes(&huge), Err(bad.clone()));
    assert_eq!(SyncRequest::from_bytes(&huge), Err(bad.clone()));
    assert_eq!(GetChildrenResponse::from_bytes(&huge), Err(bad.clone()));
    assert_eq!(WhoAmIResponse::from_bytes(&huge), Err(bad.clone()));
    assert_eq!(MultiTxn::from_bytes(&huge), Err(bad.clone()));
    assert_eq!(CloseSessionTxn::from_bytes(&huge), Err(bad.clone()));

    let mut conn = vec![0u8; 24];
    conn.extend_from_slice(&huge);
    assert_eq!(ConnectRequest::from_bytes(&conn), Err(bad.clone()));

    // Through decode_request: a getData whose path claims 2^31-1 bytes.
    let mut req = Vec::new();
    req.put_i32(7);
    req.put_i32(OpCode::GetData.code());
    req.extend_from_slice(&huge);
    assert_eq!(
        decode_request(&req, DEFAULT_MAX_BUFFER),
        Err(RequestError::Body {
            xid: 7,
            op: OpCode::GetData.code(),
            err: bad
        })
    );

    // No limit: the remaining input bounds the length before any allocation.
    let n = i32::MAX as usize;
    let unbounded = |b| Reader::with_max(b, usize::MAX);
    assert_eq!(
        GetSaslRequest::decode(&mut unbounded(&huge)),
        Err(DecodeError::Truncated { needed: n })
    );
    assert_eq!(
        GetChildrenResponse::decode(&mut unbounded(&huge)),
        Err(DecodeError::Truncated { needed: n * 4 })
    );
    assert_eq!(
        MultiTxn::decode(&mut unbounded(&huge)),
        Err(DecodeError::Truncated { needed: n * 8 })
    );
    assert_eq!(
        WhoAmIResponse::decode(&mut unbounded(&huge)),
        Err(DecodeError::Truncated { needed: n * 8 })
    );
    // A multi result's children vector, and a frame claiming 2^31-1 bytes.
    let mut res = Vec::new();
    MultiHeader {
        op_type: OpCode::GetChildren.code(),
        done: false,
        err: 0,
    }
    .encode(&mut res);
    res.extend_from_slice(&huge);
    assert_eq!(
        decode_multi_results(&mut Reader::new(&res)),
        Err(DecodeError::BadLength {
            len: i32::MAX as i64,
            max: DEFAULT_MAX_BUFFER
        })
    );
    assert_eq!(
        frame::check(&huge, DEFAULT_MAX_BUFFER),
        Err(FrameError::BadLength {
            len: i32::MAX as i64,
            max: DEFAULT_MAX_BUFFER
        })
    );
    assert_eq!(frame::check(&huge, usize::MAX), Ok(None));
}

/// A tiny deterministic PRNG (xorshift64*), so the mutation corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to three libFuzzer-style mutations of `seed` (bit flips, byte sets, interesting ints
/// written over length fields, inserts, deletes, truncation, duplication, splicing).
fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(3) {
        let len = b.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                b[i] = rng.next() as u8;
            }
            2 | 3 if len >= 4 => {
                let i = rng.below(len - 3);
                let v = INTERESTING[rng.below(INTERESTING.len())];
                b[i..i + 4].copy_from_slice(&v.to_be_bytes());
            }
            4 => {
                let i = rng.below(len + 1);
                let junk: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
                b.splice(i..i, junk);
            }
            5 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(8));
                b.drain(i..i + n);
            }
            6 => b.truncate(rng.below(len + 1)),
            7 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                let piece = b[i..i + n].to_vec();
                let at = rng.below(len + 1);
                b.splice(at..at, piece);
            }
            _ => {
                let cut = rng.below(len + 1);
                b.truncate(cut);
                b.extend_from_slice(&other[rng.below(other.len() + 1)..]);
            }
        }
    }
    b
}

/// Valid request payloads: every request shape, encoded.
fn request_seeds() -> Vec<Vec<u8>> {
    common::samples((any::<i32>(), common::request()), 400)
        .into_iter()
        .map(|(xid, req)| {
            let mut out = Vec::new();
            encode_request(xid, &req, &mut out);
            out
        })
        .collect()
}

/// Valid client streams: a framed ConnectRequest, then a few framed requests.
fn frame_seeds() -> Vec<Vec<u8>> {
    let conns = common::samples(common::connect_request(), 200);
    let reqs = common::samples(common::request(), 600);
    conns
        .into_iter()
        .zip(reqs.chunks(3))
        .enumerate()
        .map(|(i, (conn, reqs))| {
            let mut out = Vec::new();
            frame::put(&mut out, &conn.to_bytes());
            for (xid, req) in reqs.iter().enumerate() {
                let at = frame::begin(&mut out);
                encode_request(xid as i32, req, &mut out);
                frame::finish(&mut out, at);
            }
            // decode_frame_target picks its max from the first byte: keep both halves.
            if i % 2 == 1 {
                out.insert(0, 0);
            }
            out
        })
        .collect()
}

/// The fuzz targets' bodies over a few thousand mutated valid encodings: the stable-toolchain
/// smoke run of `fuzz/`. Also checks that the mutants reach past the header (a corpus that
/// never decodes would prove nothing) and that some need the UTF-8/null normalisation pass.
#[test]
fn fuzz_targets_on_mutated_corpus() {
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let seeds = request_seeds();
    let (mut total, mut decoded, mut normalised) = (0, 0, 0);
    for (i, seed) in seeds.iter().enumerate() {
        // Unmutated seeds must survive the target too.
        fuzz_bodies::decode_request_target(seed);
        let other = &seeds[(i * 7 + 3) % seeds.len()];
        for _ in 0..8 {
            let m = mutate(&mut rng, seed, other);
            fuzz_bodies::decode_request_target(&m);
            decode_as_every_record(&m);
            total += 1;
            if let Ok((h, req)) = decode_request(&m, DEFAULT_MAX_BUFFER) {
                decoded += 1;
                let mut again = Vec::new();
                encode_request(h.xid, &req, &mut again);
                if again != m {
                    normalised += 1;
                }
            }
        }
    }
    eprintln!("mutated requests: {total}, decoded: {decoded}, normalised: {normalised}");
    assert!(total >= 3000, "{total}");
    assert!(
        decoded * 5 > total,
        "only {decoded}/{total} mutants decoded"
    );
    assert!(normalised > 0, "no mutant needed normalising");

    let frames = frame_seeds();
    for (i, seed) in frames.iter().enumerate() {
        fuzz_bodies::decode_frame_target(seed);
        let other = &frames[(i * 11 + 5) % frames.len()];
        for _ in 0..8 {
            fuzz_bodies::decode_frame_target(&mutate(&mut rng, seed, other));
        }
    }

    let results: Vec<Vec<u8>> = common::samples(vec(common::multi_result(), 0..5), 200)
        .iter()
        .map(|rs: &Vec<MultiResult>| {
            let mut out = Vec::new();
            encode_multi_results(rs, &mut out);
            out
        })
        .collect();
    for (i, seed) in results.iter().enumerate() {
        let other = &results[(i * 13 + 1) % results.len()];
        for _ in 0..8 {
            let m = mutate(&mut rng, seed, other);
            if let Ok(rs) = decode_multi_results(&mut Reader::new(&m)) {
                let mut again = Vec::new();
                encode_multi_results(&rs, &mut again);
                let mut r = Reader::with_max(&again, usize::MAX);
                assert_eq!(decode_multi_results(&mut r), Ok(rs));
                assert!(r.is_empty());
            }
        }
    }
}

/// The fuzz targets' seed corpus is made of valid encodings: every request seed decodes. With
/// `ZKRS_WRITE_FUZZ_CORPUS=1` the seeds are also written into `fuzz/corpus/<target>/` for
/// `cargo fuzz run` (`ZKRS_WRITE_FUZZ_CORPUS=1 cargo test -p zk-proto --test hostile seed_corpus`).
#[test]
fn seed_corpus_is_valid_and_can_be_written() {
    let requests = request_seeds();
    assert!(!requests.is_empty());
    for seed in &requests {
        assert!(
            decode_request(seed, DEFAULT_MAX_BUFFER).is_ok(),
            "seed does not decode: {seed:?}"
        );
    }
    if std::env::var_os("ZKRS_WRITE_FUZZ_CORPUS").is_none() {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (target, seeds) in [
        ("decode_request", requests),
        ("decode_frame", frame_seeds()),
    ] {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, seed) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:04}")), seed).unwrap();
        }
    }
}

/// A `Request` survives the body even when its strings hold malformed UTF-8: the replacement
/// characters make the string longer than the original bytes, possibly past `max_len`.
#[test]
fn lossy_utf8_normalises_once() {
    let mut bytes = Vec::new();
    bytes.put_i32(1);
    bytes.put_i32(OpCode::Sync.code());
    bytes.put_buffer(&[b'/', 0xff, 0xfe, b'a']);
    let (h, req) = decode_request(&bytes, DEFAULT_MAX_BUFFER).unwrap();
    assert_eq!(
        req,
        Request::Sync(SyncRequest {
            path: "/\u{fffd}\u{fffd}a".into()
        })
    );
    let mut again = Vec::new();
    encode_request(h.xid, &req, &mut again);
    assert_eq!(again.len(), bytes.len() + 4);
    assert_eq!(decode_request(&again, DEFAULT_MAX_BUFFER), Ok((h, req)));
    fuzz_bodies::decode_request_target(&bytes);

    // Exactly at the limit before, over it after normalising.
    let mut bytes = Vec::new();
    bytes.put_i32(1);
    bytes.put_i32(OpCode::Sync.code());
    bytes.put_buffer(&[0xff; 8]);
    let (h, req) = decode_request(&bytes, 8).unwrap();
    let mut again = Vec::new();
    encode_request(h.xid, &req, &mut again);
    assert!(matches!(
        decode_request(&again, 8),
        Err(RequestError::Body {
            err: DecodeError::BadLength { len: 24, max: 8 },
            ..
        })
    ));
}
