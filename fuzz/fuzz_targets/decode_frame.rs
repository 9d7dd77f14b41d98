//! Fuzzes the client-port read loop: `frame::check`, then the first frame as a
//! `ConnectRequest` and every later one as a request.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    zk_proto_fuzz::decode_frame_target(data);
});
