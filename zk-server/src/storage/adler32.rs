//! Adler-32 (RFC 1950), the checksum `java.util.zip.Adler32` computes and ZooKeeper stores in
//! front of every txn log record.

const MOD: u32 = 65_521;
/// The most bytes that can be summed before `b` could overflow a `u32` (zlib's NMAX).
const NMAX: usize = 5_552;

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
        let (mut a, mut b) = (self.a, self.b);
        for chunk in bytes.chunks(NMAX) {
            for &byte in chunk {
                a += u32::from(byte);
                b += a;
            }
            a %= MOD;
            b %= MOD;
        }
        self.a = a;
        self.b = b;
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
