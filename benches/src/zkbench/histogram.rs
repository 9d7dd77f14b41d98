//! A log-linear latency histogram (HdrHistogram's layout) in nanoseconds.
//!
//! Values below 256 ns have a bucket each. Above, each power of two `[2^m, 2^(m+1))` is split
//! into 128 buckets of width `2^(m-7)`, so a bucket's width is at most 1/128 of any value in
//! it: a value reported as its bucket's upper bound is at most **0.79 %** above the true one
//! (and never below it). Values of 2^40 ns (about 18 minutes) and more share the last bucket;
//! `min`, `max`, `count` and the mean are kept exactly.
//!
//! Percentiles are nearest-rank: the `p`-th percentile is the smallest recorded value `v` with
//! at least `p` % of the samples `<= v`, reported as the upper bound of `v`'s bucket clipped
//! to `max` (so the 100th percentile is `max` exactly).
//!
//! Histograms are merged by adding bucket counts, which gives exactly the histogram of the
//! combined samples. The buckets are allocated on the first sample (about 34 KiB).

/// Buckets per power of two above [`EXACT`].
const SUB: u64 = 128;
/// `log2(SUB)`.
const SUB_BITS: u32 = 7;
/// Values below this have their own bucket.
const EXACT: u64 = 2 * SUB;
/// Values are clamped below `2^TOP_BITS` ns for bucketing.
const TOP_BITS: u32 = 40;
const BUCKETS: usize = (EXACT + (TOP_BITS as u64 - SUB_BITS as u64 - 1) * SUB) as usize;

/// The largest relative error of a reported percentile (see the module docs).
pub const MAX_RELATIVE_ERROR: f64 = 1.0 / SUB as f64;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Empty until the first sample.
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

/// The bucket of `v`.
fn index(v: u64) -> usize {
    let v = v.min((1 << TOP_BITS) - 1);
    if v < EXACT {
        return v as usize;
    }
    let m = 63 - v.leading_zeros(); // 2^m <= v < 2^(m+1), m >= 8
    let shift = m - SUB_BITS;
    let sub = (v >> shift) - SUB; // 0..SUB
    (EXACT + u64::from(m - SUB_BITS - 1) * SUB + sub) as usize
}

/// The largest value that falls in bucket `i`.
fn upper_bound(i: usize) -> u64 {
    let i = i as u64;
    if i < EXACT {
        return i;
    }
    let group = (i - EXACT) / SUB; // m - 8
    let sub = (i - EXACT) % SUB + SUB;
    let shift = group as u32 + 1;
    ((sub + 1) << shift) - 1
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram::default()
    }

    pub fn record(&mut self, v: u64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
            self.min = v;
            self.max = v;
        }
        self.counts[index(v)] += 1;
        self.count += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The smallest sample (0 when empty).
    pub fn min(&self) -> u64 {
        self.min
    }

    /// The largest sample (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The exact mean (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The nearest-rank percentile `p` (0..=100; 0 gives the smallest bucket's bound), 0 when
    /// empty. `p` is taken to 1e-6 %.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let ppm = (p.clamp(0.0, 100.0) * 1e4).round() as u128; // parts per million
        let rank = (u128::from(self.count) * ppm).div_ceil(1_000_000).max(1) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                // The last bucket also holds every clamped value: its bound is `max`.
                let bound = if i == BUCKETS - 1 {
                    u64::MAX
                } else {
                    upper_bound(i)
                };
                return bound.min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        assert_eq!(index(0), 0);
        assert_eq!(index(255), 255);
        assert_eq!(index(256), 256);
        assert_eq!(upper_bound(256), 257);
        assert_eq!(index(257), 256);
        assert_eq!(index(258), 257);
        assert_eq!(index((1 << TOP_BITS) - 1), BUCKETS - 1);
        assert_eq!(index(u64::MAX), BUCKETS - 1);
        assert_eq!(upper_bound(BUCKETS - 1), (1 << TOP_BITS) - 1);
        // Each bucket starts right after the previous one ends, and is narrow enough.
        for i in 1..BUCKETS {
            let lo = upper_bound(i - 1) + 1;
            let hi = upper_bound(i);
            assert_eq!(index(lo), i, "bucket {i}");
            assert_eq!(index(hi), i, "bucket {i}");
            assert!(
                (hi - lo) as f64 <= lo as f64 * MAX_RELATIVE_ERROR,
                "bucket {i}"
            );
        }
    }

    #[test]
    fn relative_error_is_bounded() {
        let mut x: u64 = 88_172_645_463_325_252;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = x % (1 << 36);
            let up = upper_bound(index(v));
            assert!(up >= v);
            assert!(
                (up - v) as f64 <= v as f64 * MAX_RELATIVE_ERROR,
                "{v} -> {up}"
            );
        }
    }

    fn uniform(lo: u64, hi: u64) -> Histogram {
        let mut h = Histogram::new();
        for v in lo..=hi {
            h.record(v);
        }
        h
    }

    fn within(reported: u64, exact: u64) -> bool {
        reported >= exact && (reported - exact) as f64 <= exact as f64 * MAX_RELATIVE_ERROR
    }

    #[test]
    fn uniform_percentiles() {
        let h = uniform(1, 1000);
        assert_eq!((h.count(), h.min(), h.max()), (1000, 1, 1000));
        assert_eq!(h.mean(), 500.5);
        assert!(within(h.percentile(50.0), 500), "{}", h.percentile(50.0));
        assert!(within(h.percentile(90.0), 900));
        assert!(within(h.percentile(99.0), 990));
        assert!(within(h.percentile(99.9), 999));
        assert_eq!(h.percentile(100.0), 1000);
        assert_eq!(h.percentile(0.0), 1);
        // Exact below 256 ns.
        assert_eq!(h.percentile(10.0), 100);
        assert_eq!(h.percentile(0.1), 1);
    }

    #[test]
    fn large_values_in_microseconds_and_seconds() {
        let mut h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v * 1_000); // 1 us .. 10 ms
        }
        for (p, exact) in [(50.0, 5_000_000), (99.0, 9_900_000), (99.99, 9_999_000)] {
            assert!(within(h.percentile(p), exact), "p{p}: {}", h.percentile(p));
        }
        assert_eq!(h.percentile(100.0), 10_000_000);
        h.record(3_000_000_000_000); // 50 minutes: clamped bucket, exact max
        assert_eq!(h.max(), 3_000_000_000_000);
        assert_eq!(h.percentile(100.0), 3_000_000_000_000);
    }

    #[test]
    fn single_sample_and_empty() {
        let h = Histogram::new();
        assert_eq!(
            (h.percentile(50.0), h.count(), h.max(), h.mean()),
            (0, 0, 0, 0.0)
        );
        let mut h = Histogram::new();
        h.record(12_345);
        for p in [0.0, 50.0, 99.9, 100.0] {
            assert_eq!(h.percentile(p), 12_345);
        }
    }

    #[test]
    fn merge_equals_combined() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        let mut all = Histogram::new();
        for v in 0..5_000u64 {
            let x = v * v % 7_919 * 1_003;
            if v % 3 == 0 {
                a.record(x);
            } else {
                b.record(x);
            }
            all.record(x);
        }
        let mut m = a.clone();
        m.merge(&b);
        assert_eq!(m, all);
        let mut e = Histogram::new();
        e.merge(&a);
        assert_eq!(e, a);
        e.merge(&Histogram::new());
        assert_eq!(e, a);
    }
}
