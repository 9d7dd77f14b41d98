//! Medians and latency percentiles.

/// The median of `v` (the mean of the middle two for an even count); `NaN` when empty.
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// Latency summary of a set of samples in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latencies {
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

/// Nearest-rank percentile `p` (0..=100) of sorted samples.
fn rank(sorted: &[u32], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let k = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    u64::from(sorted[k.clamp(1, sorted.len()) - 1])
}

/// Sorts `samples` in place and summarises them.
pub fn latencies(samples: &mut [u32]) -> Latencies {
    samples.sort_unstable();
    let sum: u64 = samples.iter().map(|&x| u64::from(x)).sum();
    Latencies {
        count: samples.len() as u64,
        p50_us: rank(samples, 50.0),
        p99_us: rank(samples, 99.0),
        p999_us: rank(samples, 99.9),
        max_us: samples.last().map_or(0, |&x| u64::from(x)),
        mean_us: if samples.is_empty() {
            0.0
        } else {
            sum as f64 / samples.len() as f64
        },
    }
}

/// Microseconds as a short human string (`850us`, `1.25ms`, `2.10s`).
pub fn fmt_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us}us")
    } else if us < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut v: Vec<u32> = (1..=100).rev().collect();
        let l = latencies(&mut v);
        assert_eq!((l.count, l.p50_us, l.p99_us, l.max_us), (100, 50, 99, 100));
        assert_eq!(l.p999_us, 100);
        assert_eq!(l.mean_us, 50.5);
        assert_eq!(latencies(&mut []), Latencies::default());
    }

    #[test]
    fn durations_are_formatted() {
        assert_eq!(fmt_us(850), "850us");
        assert_eq!(fmt_us(1_250), "1.25ms");
        assert_eq!(fmt_us(2_100_000), "2.10s");
    }
}
