//! Adler-32 (RFC 1950), the checksum `java.util.zip.Adler32` computes and ZooKeeper stores in
//! front of every txn log record.

const MOD: u32 = 65_521;
/// The most bytes that can be summed before `b` could overflow a `u32` (zlib's NMAX).
const NMAX: usize = 5_552;
/// Bytes summed side by side in [`Adler32::update`].
const LANES: usize = 16;

/// An incremental Adler-32.
#[derive(Debug, Clone, Copy)]
pub struct Adler32 {
    a: u32,
    b: u32,
}

impl Default for Adler32 {
    fn default() -> Self {
        Adler32 { a: 1, b: 0 }
    }
}

impl Adler32 {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        // LANES interleaved sums over whole blocks of LANES bytes (a loop the compiler
        // vectorizes), folded into (a, b) at the end; the tail byte by byte. Each lane sees at
        // most NMAX bytes between reductions, so its sums fit in a u32 as in the plain loop.
        let (mut a, mut b) = (self.a, self.b);
        let split = bytes.len() - bytes.len() % LANES;
        let (blocks, tail) = bytes.split_at(split);
        if !blocks.is_empty() {
            let mut lane_a = [0u32; LANES];
            let mut lane_b = [0u32; LANES];
            // b gains a (its value before these bytes) once per byte.
            let b0 = u64::from(b) + (blocks.len() as u64 % u64::from(MOD)) * u64::from(a);
            for chunk in blocks.chunks(NMAX * LANES) {
                for block in chunk.chunks_exact(LANES) {
                    for i in 0..LANES {
                        lane_a[i] += u32::from(block[i]);
                        lane_b[i] += lane_a[i];
                    }
                }
                for i in 0..LANES {
                    lane_a[i] %= MOD;
                    lane_b[i] %= MOD;
                }
            }
            // Byte k (0-based) of n = m * LANES is weighted n - k in b: lane i's byte j sits at
            // k = j * LANES + i, so its weight is LANES * (m - j) - i, and lane_b already holds
            // each byte weighted (m - j).
            let mut sum_a = u64::from(a);
            let mut sum_b = b0;
            for i in 0..LANES {
                sum_a += u64::from(lane_a[i]);
                sum_b +=
                    LANES as u64 * u64::from(lane_b[i]) + i as u64 * u64::from(MOD - lane_a[i]);
            }
            a = (sum_a % u64::from(MOD)) as u32;
            b = (sum_b % u64::from(MOD)) as u32;
        }
        for &byte in tail {
            a += u32::from(byte);
            b += a;
        }
        self.a = a % MOD;
        self.b = b % MOD;
    }

    /// The checksum as `Adler32.getValue()` returns it: `b << 16 | a`, as an unsigned value.
    pub fn value(&self) -> u32 {
        (self.b << 16) | self.a
    }
}

/// The Adler-32 of `bytes`.
pub fn adler32(bytes: &[u8]) -> u32 {
    let mut c = Adler32::new();
    c.update(bytes);
    c.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"a"), 0x0062_0062);
        assert_eq!(adler32(b"abc"), 0x024d_0127);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        assert_eq!(
            adler32(b"The quick brown fox jumps over the lazy dog"),
            0x5bdc_0fda
        );
    }

    fn reference(init: (u32, u32), data: &[u8]) -> u32 {
        let (mut a, mut b) = (u64::from(init.0), u64::from(init.1));
        for &x in data {
            a = (a + u64::from(x)) % 65_521;
            b = (b + a) % 65_521;
        }
        ((b << 16) | a) as u32
    }

    #[test]
    fn lanes_and_tails_match_bytewise_definition() {
        // Every length around the lane and chunk sizes, all-0xff (the overflow worst case) and
        // mixed bytes, from a fresh state and from one with large a and b.
        let mut x = 0x2545_f491_u32;
        let mixed: Vec<u8> = (0..(NMAX * LANES * 2 + 100))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let ones = vec![0xffu8; mixed.len()];
        let lens = (0..70)
            .chain([NMAX * LANES - 1, NMAX * LANES, NMAX * LANES + 17])
            .chain([mixed.len() - 1, mixed.len()]);
        for n in lens {
            for data in [&mixed[..n], &ones[..n]] {
                assert_eq!(adler32(data), reference((1, 0), data), "len {n}");
                let mut c = Adler32 {
                    a: 65_520,
                    b: 65_519,
                };
                c.update(data);
                assert_eq!(c.value(), reference((65_520, 65_519), data), "len {n}");
            }
        }
    }

    #[test]
    fn long_input_matches_bytewise_definition() {
        // Long enough to cross several NMAX chunks with values that maximise the sums.
        let data: Vec<u8> = (0..40_000u32).map(|i| (255 - (i % 7)) as u8).collect();
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &data {
            a = (a + u64::from(x)) % 65_521;
            b = (b + a) % 65_521;
        }
        assert_eq!(u64::from(adler32(&data)), (b << 16) | a);
        let mut inc = Adler32::new();
        for part in data.chunks(1_000) {
            inc.update(part);
        }
        assert_eq!(inc.value(), adler32(&data));
    }
}
