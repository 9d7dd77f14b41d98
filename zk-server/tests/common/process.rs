//! Std-only helpers for the tests that run the `zk-server` binary as a process (`binary.rs`,
//! `cluster.rs`). Included with `#[path = "common/process.rs"] mod process;` rather than through
//! `mod common;`, so those tests do not build the client machinery of `common/mod.rs`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The `zk-server` binary cargo built for this package's tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_zk-server");

#[path = "../../../testkit/src/ports.rs"]
mod ports;

pub use ports::free_port;

/// Sends the four-letter word `cmd` to 127.0.0.1:`port` and reads the answer until the server
/// closes the connection; None when nothing listens there, or on an error (a read taking longer
/// than `read_timeout` is one).
pub fn four_letter(port: u16, cmd: &str, read_timeout: Duration) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(read_timeout)).ok()?;
    s.write_all(cmd.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}
