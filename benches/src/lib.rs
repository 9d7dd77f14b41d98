//! Shared pieces of the zkrs benchmarks (binaries in `src/bin`, run by hand, never by tests):
//!
//! - [`args`]: a tiny `--flag value` parser (no dependency).
//! - [`stats`]: medians and latency percentiles.
//! - [`json`]: one-line JSON output of the figures.
//! - [`procfs`]: peak RSS, CPU time, per-thread write syscalls and block-device flushes from
//!   `/proc`.
//! - [`client`]: a minimal raw jute client over tokio, one request in flight.
//! - [`ensemble`]: real server processes (zkrs or Apache ZooKeeper) as a replicated ensemble on
//!   127.0.0.1, stopped by PID.
//! - [`workload`]: the closed-loop create/setData clients of `write-bench` and `cluster-bench`.
//! - [`zkbench`]: `zk-bench`, the pipelined load generator for any ZooKeeper-wire server, as a
//!   library (`compare` drives it).

pub mod args;
pub mod client;
pub mod ensemble;
pub mod json;
pub mod procfs;
pub mod stats;
pub mod workload;
pub mod zkbench;

/// `n` bytes of deterministic, incompressible-looking data (xorshift64*), seeded.
pub fn value_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// A human-readable byte count (KiB/MiB/GiB, binary).
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Total size of the regular files directly inside `dir` (0 if it does not exist), and how
/// many there are.
pub fn dir_size(dir: &std::path::Path) -> (u64, usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    let mut total = 0;
    let mut n = 0;
    for e in rd.flatten() {
        if let Ok(m) = e.metadata() {
            if m.is_file() {
                total += m.len();
                n += 1;
            }
        }
    }
    (total, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_deterministic_and_sized() {
        assert_eq!(value_bytes(100, 7), value_bytes(100, 7));
        assert_ne!(value_bytes(100, 7), value_bytes(100, 8));
        assert_eq!(value_bytes(0, 1).len(), 0);
    }

    #[test]
    fn bytes_are_humanised() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
