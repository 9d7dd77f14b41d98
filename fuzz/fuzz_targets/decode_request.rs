//! Fuzzes `decode_request` with the default `jute.maxbuffer`; anything it accepts must re-encode
//! (after one normalisation pass) to a request that decodes to the same typed value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    zk_proto_fuzz::decode_request_target(data);
});
