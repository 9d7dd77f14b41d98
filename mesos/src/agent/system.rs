//! What the agent reads about its machine: CPUs, memory, disk, load (for `--resources`
//! detection and `/metrics/snapshot`).

use std::path::Path;

use crate::resources::Resources;

/// The machine's totals, read once at start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Machine {
    pub cpus: u64,
    pub mem_total_bytes: u64,
    /// Free space of the work directory's filesystem.
    pub disk_free_bytes: u64,
}

const MB: u64 = 1024 * 1024;

impl Machine {
    pub fn read(work_dir: &Path) -> Machine {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        let mem_total_bytes = meminfo("MemTotal").unwrap_or(0);
        let disk_free_bytes = nix::sys::statvfs::statvfs(work_dir)
            .map(|s| s.blocks_available().saturating_mul(s.fragment_size()))
            .unwrap_or(0);
        Machine {
            cpus,
            mem_total_bytes,
            disk_free_bytes,
        }
    }
}

/// Fills in what `given` lacks, as Mesos does: cpus = the CPU count, mem = total minus
/// min(1 GB, half), disk = free space minus 10% headroom, ports = [31000-32000].
pub fn complete_resources(given: &Resources, m: &Machine) -> Resources {
    let mut r = given.clone();
    if given.scalar("cpus") == 0.0 {
        r.add_scalar("cpus", m.cpus as f64);
    }
    if given.scalar("mem") == 0.0 {
        let total_mb = m.mem_total_bytes / MB;
        let reserve = (total_mb / 2).min(1024);
        r.add_scalar("mem", (total_mb - reserve) as f64);
    }
    if given.scalar("disk") == 0.0 {
        let free_mb = m.disk_free_bytes / MB;
        r.add_scalar("disk", (free_mb - free_mb / 10) as f64);
    }
    if given.ranges("ports").is_empty() {
        r.add_ranges("ports", &[(31000, 32000)]);
    }
    r
}

/// A `/proc/meminfo` field in bytes.
pub fn meminfo(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    })
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> (f64, f64, f64) {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text
        .split_whitespace()
        .map(|s| s.parse::<f64>().unwrap_or(0.0));
    (
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    )
}

/// Seconds since the epoch, as the v1 API's `timestamp`.
pub fn wall_clock() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Standard base64 with padding (the status update `uuid` field).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
        assert_eq!(base64(&[0xff; 16]).len(), 24);
    }

    #[test]
    fn detection_fills_only_what_is_missing() {
        let m = Machine {
            cpus: 8,
            mem_total_bytes: 16 * 1024 * MB,
            disk_free_bytes: 1000 * MB,
        };
        let r = complete_resources(&Resources::new(), &m);
        assert_eq!(r.scalar("cpus"), 8.0);
        assert_eq!(r.scalar("mem"), (16 * 1024 - 1024) as f64);
        assert_eq!(r.scalar("disk"), 900.0);
        assert_eq!(r.ranges("ports"), &[(31000, 32000)]);
        let small = Machine {
            mem_total_bytes: 1024 * MB,
            ..m
        };
        assert_eq!(
            complete_resources(&Resources::new(), &small).scalar("mem"),
            512.0
        );
        let given = Resources::parse("cpus:2;ports:[5-6]").unwrap();
        let r = complete_resources(&given, &m);
        assert_eq!(r.scalar("cpus"), 2.0);
        assert_eq!(r.ranges("ports"), &[(5, 6)]);
    }
}
