//! Identifiers: peers, epochs and zxids.

use std::fmt;

/// A server id: the `N` of a `server.N` line and the content of `myid`.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PeerId(pub u64);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An epoch: the high 32 bits of a zxid; one established leader per epoch at most.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Epoch(pub u32);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A ZooKeeper transaction id: `epoch << 32 | counter`. Counter 0 of an epoch names the epoch
/// itself (NEWLEADER); proposals start at counter 1.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Zxid(pub u64);

impl Zxid {
    pub const ZERO: Zxid = Zxid(0);

    pub fn new(epoch: Epoch, counter: u32) -> Zxid {
        Zxid((u64::from(epoch.0) << 32) | u64::from(counter))
    }

    pub fn epoch(self) -> Epoch {
        Epoch((self.0 >> 32) as u32)
    }

    pub fn counter(self) -> u32 {
        self.0 as u32
    }
}

impl fmt::Debug for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// Milliseconds on whatever monotonic clock the driver uses; the machine only compares them.
pub type Millis = u64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_splits_into_epoch_and_counter() {
        let z = Zxid::new(Epoch(7), 42);
        assert_eq!(z.0, 0x0000_0007_0000_002a);
        assert_eq!(z.epoch(), Epoch(7));
        assert_eq!(z.counter(), 42);
        assert!(Zxid::new(Epoch(2), 0) > Zxid::new(Epoch(1), u32::MAX));
        assert_eq!(format!("{z}"), "0x70000002a");
    }
}
