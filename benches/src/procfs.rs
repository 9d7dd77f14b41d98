//! Figures read from `/proc` (Linux): memory high-water mark, CPU time (ours, another
//! process's and the whole machine's), the flush requests a block device completed, and the
//! filesystem a path is on. Each returns `None` where the
//! file or field is not available.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A `kB` field of `/proc/self/status` (`VmHWM`: peak RSS, `VmRSS`: current RSS), in KiB.
pub fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status_kib(&s, field)
}

/// A `kB` field of `/proc/PID/status` of another process (`VmRSS`: its resident memory).
pub fn pid_status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&s, field)
}

fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// This process's counters from `/proc/self/stat` (all threads, live and exited).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SelfStat {
    pub user_secs: f64,
    pub system_secs: f64,
    /// Page faults served without I/O (first touches of fresh memory, mostly).
    pub minor_faults: u64,
    pub major_faults: u64,
}

pub fn self_stat() -> Option<SelfStat> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let (minflt, majflt, utime, stime) = parse_stat(&s)?;
    let hz = rustix::param::clock_ticks_per_second() as f64;
    Some(SelfStat {
        user_secs: utime as f64 / hz,
        system_secs: stime as f64 / hz,
        minor_faults: minflt,
        major_faults: majflt,
    })
}

/// User + system CPU time of this process so far (all threads, live and exited), in seconds.
pub fn cpu_seconds() -> Option<f64> {
    self_stat().map(|s| s.user_secs + s.system_secs)
}

/// (minflt, majflt, utime, stime) from a `/proc/<pid>/stat` line.
fn parse_stat(stat: &str) -> Option<(u64, u64, u64, u64)> {
    // The command name is in parentheses and may contain spaces: fields restart after ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // After ')': state(3) ppid pgrp session tty tpgid flags minflt(10) cminflt majflt(12)
    // cmajflt utime(14) stime(15), so indexes 7, 9, 11 and 12.
    let get = |i: usize| f.get(i)?.parse::<u64>().ok();
    Some((get(7)?, get(9)?, get(11)?, get(12)?))
}

/// User + system CPU time of another process so far (all its threads), in seconds, from
/// `/proc/<pid>/stat`; `None` once it has exited (or without `/proc`).
pub fn pid_cpu_seconds(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, _, utime, stime) = parse_stat(&s)?;
    Some((utime + stime) as f64 / rustix::param::clock_ticks_per_second() as f64)
}

/// CPU time the whole machine spent busy (user, nice, system, irq, softirq, steal; guest time is
/// inside user), from the first line of `/proc/stat`, in seconds. The difference from
/// [`cpu_seconds`] over a window is what other processes (or the hypervisor) took.
pub fn system_busy_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks = parse_proc_stat_busy(&s)?;
    Some(ticks as f64 / rustix::param::clock_ticks_per_second() as f64)
}

fn parse_proc_stat_busy(s: &str) -> Option<u64> {
    let line = s.lines().next()?.strip_prefix("cpu ")?;
    let f: Vec<u64> = line
        .split_whitespace()
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal ...
    let get = |i: usize| f.get(i).copied().unwrap_or(0);
    Some(get(0) + get(1) + get(2) + get(5) + get(6) + get(7))
}

/// CPU time taken by everything but this process over a window, from two readings of
/// ([`system_busy_seconds`], [`cpu_seconds`]); `None` if either was unavailable.
pub fn others_cpu(
    before: (Option<f64>, Option<f64>),
    after: (Option<f64>, Option<f64>),
) -> Option<f64> {
    let sys = after.0? - before.0?;
    let own = after.1? - before.1?;
    Some((sys - own).max(0.0))
}

/// Waits until the machine has been quiet (busy CPU, ours included, under 5% of one CPU) for a
/// 1 s sample, for at most `max`. Returns whether it was quiet; `true` at once when `max` is
/// zero or `/proc/stat` is unreadable.
pub fn wait_quiet(max: std::time::Duration) -> bool {
    if max.is_zero() {
        return true;
    }
    let deadline = std::time::Instant::now() + max;
    let mut said = false;
    loop {
        let Some(a) = system_busy_seconds() else {
            return true;
        };
        std::thread::sleep(std::time::Duration::from_secs(1));
        let Some(b) = system_busy_seconds() else {
            return true;
        };
        if b - a < 0.05 {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            eprintln!("  the machine is still busy; going on anyway");
            return false;
        }
        if !said {
            eprintln!(
                "  waiting for the machine to be quiet (other processes use {:.0}% of a CPU)",
                100.0 * (b - a)
            );
            said = true;
        }
    }
}

/// The block device holding `path`, as (major, minor).
pub fn device_of(path: &Path) -> Option<(u32, u32)> {
    let dev = std::fs::metadata(path).ok()?.dev();
    // glibc's gnu_dev_major / gnu_dev_minor.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    Some((major as u32, minor as u32))
}

/// Flush requests completed by a block device (`/proc/diskstats` field 18, kernels 5.5+). Device
/// wide: every process's fsyncs and the filesystem's own journal commits count.
pub fn device_flushes(dev: (u32, u32)) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/diskstats").ok()?;
    parse_diskstats_flushes(&s, dev)
}

fn parse_diskstats_flushes(s: &str, (major, minor): (u32, u32)) -> Option<u64> {
    s.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 19 || f[0].parse::<u32>().ok()? != major || f[1].parse::<u32>().ok()? != minor
        {
            return None;
        }
        f[18].parse().ok()
    })
}

/// The name `/proc/diskstats` gives a device.
pub fn device_name(dev: (u32, u32)) -> Option<String> {
    let s = std::fs::read_to_string("/proc/diskstats").ok()?;
    s.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[0] == dev.0.to_string() && f[1] == dev.1.to_string())
            .then(|| f[2].to_owned())
    })
}

/// The filesystem holding `path`: (type, source), e.g. `("ext4", "/dev/vda")`, from the
/// `/proc/self/mountinfo` entry with the longest mount point that contains the path.
pub fn filesystem_of(path: &Path) -> Option<(String, String)> {
    let path = std::fs::canonicalize(path).ok()?;
    let s = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    parse_mountinfo_fs(&s, &path)
}

fn parse_mountinfo_fs(mountinfo: &str, path: &Path) -> Option<(String, String)> {
    let mut best: Option<(usize, String, String)> = None;
    for l in mountinfo.lines() {
        // id parent maj:min root mount-point options [optional...] - fstype source superopts
        let Some((left, right)) = l.split_once(" - ") else {
            continue;
        };
        let Some(mount) = left.split_whitespace().nth(4).map(unescape_mount) else {
            continue;
        };
        let mut r = right.split_whitespace();
        let (Some(fstype), Some(source)) = (r.next(), r.next()) else {
            continue;
        };
        let len = Path::new(&mount).components().count();
        if path.starts_with(&mount) && best.as_ref().is_none_or(|(b, _, _)| len >= *b) {
            best = Some((len, fstype.to_owned(), unescape_mount(source)));
        }
    }
    best.map(|(_, t, s)| (t, s))
}

/// mountinfo writes space, tab, newline and backslash as `\ooo` octal escapes.
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let s = "Name:\tx\nVmPeak:\t  2000 kB\nVmHWM:\t    1234 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_status_kib(s, "VmHWM"), Some(1234));
        assert_eq!(parse_status_kib(s, "VmRSS"), Some(1000));
        assert_eq!(parse_status_kib(s, "VmSwap"), None);
    }

    #[test]
    fn stat_fields_survive_odd_names() {
        let s = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 3 0 7 5 0 0 20 0 1 0 1 1 1";
        assert_eq!(parse_stat(s), Some((100, 3, 7, 5)));
    }

    #[test]
    fn proc_stat_busy_time() {
        let s = "cpu  201837 0 36162 400275 3482 0 838 106 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        assert_eq!(parse_proc_stat_busy(s), Some(201837 + 36162 + 838 + 106));
        assert_eq!(
            others_cpu((Some(10.0), Some(2.0)), (Some(13.0), Some(4.5))),
            Some(0.5)
        );
        assert_eq!(others_cpu((None, Some(2.0)), (Some(13.0), Some(4.5))), None);
    }

    #[test]
    fn diskstats_flush_field() {
        let s = "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n \
                 254       0 vda 502843 17467 29264106 631273 119096 99726 56527696 259834 0 54996 903041 53870 98 21472344 10823 20631 1109\n";
        assert_eq!(parse_diskstats_flushes(s, (254, 0)), Some(20631));
        assert_eq!(parse_diskstats_flushes(s, (7, 0)), Some(0));
        assert_eq!(parse_diskstats_flushes(s, (8, 0)), None);
    }

    #[test]
    fn mountinfo_longest_prefix_wins() {
        let m = "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
                 27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n\
                 30 27 0:30 / /tmp rw,nosuid shared:5 - tmpfs tmpfs rw\n\
                 31 27 8:1 / /mnt/my\\040disk rw - xfs /dev/sdb1 rw\n";
        let fs = |p: &str| parse_mountinfo_fs(m, Path::new(p));
        assert_eq!(fs("/tmp/x"), Some(("tmpfs".into(), "tmpfs".into())));
        assert_eq!(fs("/tmpx/y"), Some(("ext4".into(), "/dev/vda".into())));
        assert_eq!(fs("/"), Some(("ext4".into(), "/dev/vda".into())));
        assert_eq!(
            fs("/mnt/my disk/d"),
            Some(("xfs".into(), "/dev/sdb1".into()))
        );
    }

    #[test]
    fn live_process_figures() {
        // Only on Linux with /proc; these must not panic elsewhere.
        if Path::new("/proc/self/status").exists() {
            assert!(status_kib("VmHWM").unwrap_or(1) > 0);
            assert!(cpu_seconds().is_some());
            assert!(pid_cpu_seconds(std::process::id()).is_some());
            assert!(filesystem_of(Path::new("/")).is_some());
        }
        if Path::new("/proc/stat").exists() {
            assert!(system_busy_seconds().is_some());
        }
    }
}
