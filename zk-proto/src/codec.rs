//! The jute binary encoding: big-endian integers, `boolean` as one byte, `buffer` and `ustring`
//! as an `int` length followed by bytes (length -1 means null), `vector` as an `int` count
//! (-1 means null) followed by the elements.

use thiserror::Error;

/// Why a record could not be decoded. Decoding untrusted bytes yields one of these, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("unexpected end of input: needed {needed} more bytes")]
    Truncated { needed: usize },
    #[error("length {len} is negative or exceeds the limit of {max} bytes")]
    BadLength { len: i64, max: usize },
    #[error("invalid boolean byte {0}")]
    BadBool(u8),
    #[error("invalid value {value} for {what}")]
    BadValue { what: &'static str, value: i64 },
    #[error("{0} trailing bytes after the record")]
    Trailing(usize),
}

/// A cursor over untrusted bytes. `max_len` plays the role of `jute.maxbuffer`: no single
/// buffer, string or vector may claim to be longer than it.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    max_len: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_max(buf, crate::DEFAULT_MAX_BUFFER)
    }

    pub fn with_max(buf: &'a [u8], max_len: usize) -> Self {
        Reader {
            buf,
            pos: 0,
            max_len,
        }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                needed: n - self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    pub fn read_u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        // Java's readBoolean accepts any non-zero byte as true; so do we.
        Ok(self.read_u8()? != 0)
    }

    /// A length prefix; `None` for jute's null (-1). Lengths are checked against both the
    /// configured maximum and what is actually left, so a lying prefix cannot make us allocate.
    fn read_len(&mut self, min_elem_size: usize) -> Result<Option<usize>, DecodeError> {
        let len = self.read_i32()?;
        if len == -1 {
            return Ok(None);
        }
        let max = self.max_len;
        if len < 0 || len as usize > max {
            return Err(DecodeError::BadLength {
                len: len as i64,
                max,
            });
        }
        let len = len as usize;
        let needed = len.saturating_mul(min_elem_size);
        if needed > self.remaining() {
            return Err(DecodeError::Truncated {
                needed: needed - self.remaining(),
            });
        }
        Ok(Some(len))
    }

    /// A nullable `buffer`.
    pub fn read_opt_buffer(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        match self.read_len(1)? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n)?.to_vec())),
        }
    }

    /// A `buffer` where null and empty mean the same.
    pub fn read_buffer(&mut self) -> Result<Vec<u8>, DecodeError> {
        Ok(self.read_opt_buffer()?.unwrap_or_default())
    }

    /// A `ustring`. Java decodes with replacement of malformed UTF-8, and so do we: the result
    /// then fails path validation exactly as it would in ZooKeeper. Null reads as "".
    pub fn read_string(&mut self) -> Result<String, DecodeError> {
        match self.read_len(1)? {
            None => Ok(String::new()),
            Some(n) => {
                let bytes = self.take(n)?;
                Ok(match std::str::from_utf8(bytes) {
                    Ok(s) => s.to_owned(),
                    Err(_) => String::from_utf8_lossy(bytes).into_owned(),
                })
            }
        }
    }

    /// A `vector<T>`; null reads as empty.
    pub fn read_vec<T: Decode>(&mut self) -> Result<Vec<T>, DecodeError> {
        match self.read_len(T::MIN_SIZE.max(1))? {
            None => Ok(Vec::new()),
            Some(n) => {
                let mut out = Vec::with_capacity(n);
                for _ in 0..n {
                    out.push(T::decode(self)?);
                }
                Ok(out)
            }
        }
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

/// Writing helpers for jute primitives, on a plain `Vec<u8>`.
pub trait WriteExt {
    fn put_i32(&mut self, v: i32);
    fn put_i64(&mut self, v: i64);
    fn put_bool(&mut self, v: bool);
    fn put_buffer(&mut self, v: &[u8]);
    fn put_opt_buffer(&mut self, v: Option<&[u8]>);
    fn put_string(&mut self, v: &str);
    fn put_vec<T: Encode>(&mut self, v: &[T]);
}

impl WriteExt for Vec<u8> {
    fn put_i32(&mut self, v: i32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_bool(&mut self, v: bool) {
        self.push(v as u8);
    }
    fn put_buffer(&mut self, v: &[u8]) {
        self.put_i32(v.len() as i32);
        self.extend_from_slice(v);
    }
    fn put_opt_buffer(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.put_i32(-1),
            Some(b) => self.put_buffer(b),
        }
    }
    fn put_string(&mut self, v: &str) {
        self.put_buffer(v.as_bytes());
    }
    fn put_vec<T: Encode>(&mut self, v: &[T]) {
        self.put_i32(v.len() as i32);
        for item in v {
            item.encode(self);
        }
    }
}

/// A jute record that can be written.
pub trait Encode {
    fn encode(&self, out: &mut Vec<u8>);

    fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}

/// A jute record that can be read from untrusted bytes.
pub trait Decode: Sized {
    /// The fewest bytes one encoded value can take; bounds vector counts before allocating.
    const MIN_SIZE: usize = 1;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes a whole byte slice, which must hold exactly one record.
    fn from_bytes(buf: &[u8]) -> Result<Self, DecodeError> {
        Self::from_bytes_max(buf, crate::DEFAULT_MAX_BUFFER)
    }

    /// [`Decode::from_bytes`] with `max_len` bounding every length prefix instead of the
    /// default `jute.maxbuffer`.
    fn from_bytes_max(buf: &[u8], max_len: usize) -> Result<Self, DecodeError> {
        let mut r = Reader::with_max(buf, max_len);
        let v = Self::decode(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

impl Encode for String {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_string(self);
    }
}

impl Decode for String {
    const MIN_SIZE: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_string()
    }
}

/// Field-type plumbing for the `record!` macro: how each Rust field type maps to jute.
#[doc(hidden)]
pub trait Field: Sized {
    const SIZE: usize;
    fn put(&self, out: &mut Vec<u8>);
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

impl Field for i32 {
    const SIZE: usize = 4;
    fn put(&self, out: &mut Vec<u8>) {
        out.put_i32(*self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_i32()
    }
}
impl Field for i64 {
    const SIZE: usize = 8;
    fn put(&self, out: &mut Vec<u8>) {
        out.put_i64(*self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_i64()
    }
}
impl Field for bool {
    const SIZE: usize = 1;
    fn put(&self, out: &mut Vec<u8>) {
        out.put_bool(*self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_bool()
    }
}
impl Field for String {
    const SIZE: usize = 4;
    fn put(&self, out: &mut Vec<u8>) {
        out.put_string(self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_string()
    }
}
impl Field for Vec<u8> {
    const SIZE: usize = 4;
    fn put(&self, out: &mut Vec<u8>) {
        out.put_buffer(self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_buffer()
    }
}
impl Field for Option<Vec<u8>> {
    const SIZE: usize = 4;
    fn put(&self, out: &mut Vec<u8>) {
        out.put_opt_buffer(self.as_deref())
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_opt_buffer()
    }
}

macro_rules! impl_vec_field {
    ($($t:ty),*) => {$(
        impl Field for Vec<$t> {
            const SIZE: usize = 4;
            fn put(&self, out: &mut Vec<u8>) { out.put_vec(self) }
            fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> { r.read_vec() }
        }
    )*};
}
impl_vec_field!(
    String,
    crate::data::Acl,
    crate::data::Id,
    crate::data::ClientInfo,
    crate::txn::Txn
);

/// Declares a jute record: a struct whose fields are encoded in declaration order.
#[macro_export]
#[doc(hidden)]
macro_rules! record {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
        pub struct $name { $($(#[$fm])* pub $f: $t),* }

        impl $crate::codec::Encode for $name {
            #[allow(unused_variables)]
            fn encode(&self, out: &mut Vec<u8>) {
                $( $crate::codec::Field::put(&self.$f, out); )*
            }
        }
        impl $crate::codec::Decode for $name {
            const MIN_SIZE: usize = 0 $(+ <$t as $crate::codec::Field>::SIZE)*;
            #[allow(unused_variables)]
            fn decode(r: &mut $crate::codec::Reader<'_>) -> Result<Self, $crate::codec::DecodeError> {
                Ok($name { $($f: $crate::codec::Field::get(r)?),* })
            }
        }
        impl $crate::codec::Field for $name {
            const SIZE: usize = <$name as $crate::codec::Decode>::MIN_SIZE;
            fn put(&self, out: &mut Vec<u8>) { $crate::codec::Encode::encode(self, out) }
            fn get(r: &mut $crate::codec::Reader<'_>) -> Result<Self, $crate::codec::DecodeError> {
                <$name as $crate::codec::Decode>::decode(r)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_bounded_before_allocation() {
        // A vector claiming 2^31-1 strings in 4 bytes of input must fail fast.
        let mut buf = Vec::new();
        buf.put_i32(i32::MAX);
        let err = Reader::new(&buf).read_vec::<String>().unwrap_err();
        assert!(matches!(err, DecodeError::BadLength { .. }), "{err:?}");
        let mut buf = Vec::new();
        buf.put_i32(1000);
        let err = Reader::new(&buf).read_vec::<String>().unwrap_err();
        assert_eq!(err, DecodeError::Truncated { needed: 4000 });
        let mut buf = Vec::new();
        buf.put_i32(-7);
        assert!(matches!(
            Reader::new(&buf).read_buffer(),
            Err(DecodeError::BadLength { len: -7, .. })
        ));
    }

    #[test]
    fn null_buffer_and_vector() {
        let mut buf = Vec::new();
        buf.put_i32(-1);
        buf.put_i32(-1);
        let mut r = Reader::new(&buf);
        assert_eq!(r.read_opt_buffer().unwrap(), None);
        assert!(r.read_vec::<String>().unwrap().is_empty());
        assert!(r.is_empty());
    }

    #[test]
    fn max_len_is_configurable() {
        let mut buf = Vec::new();
        buf.put_buffer(&[7; 10]);
        assert!(Reader::with_max(&buf, 9).read_buffer().is_err());
        assert_eq!(
            Reader::with_max(&buf, 10).read_buffer().unwrap(),
            vec![7; 10]
        );
    }

    #[test]
    fn malformed_utf8_is_replaced_like_java() {
        let mut buf = Vec::new();
        buf.put_buffer(&[b'/', 0xff, b'a']);
        assert_eq!(Reader::new(&buf).read_string().unwrap(), "/\u{fffd}a");
    }
}
