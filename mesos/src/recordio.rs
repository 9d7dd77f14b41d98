//! RecordIO, the framing of the v1 APIs' event streams: each record is its length in bytes as
//! decimal ASCII, a newline, then the record (here: one JSON object).

/// Frames one record.
pub fn encode(record: &[u8]) -> Vec<u8> {
    let mut out = format!("{}\n", record.len()).into_bytes();
    out.extend_from_slice(record);
    out
}

/// Incremental decoder: feed bytes as they arrive, take whole records out.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

/// The longest length prefix accepted (a 20-digit number overflows u64 anyway).
const MAX_PREFIX: usize = 20;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordIoError {
    #[error("bad RecordIO length prefix {0:?}")]
    BadLength(String),
    #[error("RecordIO record of {0} bytes exceeds the limit of {1}")]
    TooLarge(usize, usize),
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole record, if one is buffered. Records over `max` bytes are an error.
    pub fn next_record(&mut self, max: usize) -> Result<Option<Vec<u8>>, RecordIoError> {
        let Some(nl) = self
            .buf
            .iter()
            .take(MAX_PREFIX + 1)
            .position(|&b| b == b'\n')
        else {
            if self.buf.len() > MAX_PREFIX {
                let shown = String::from_utf8_lossy(&self.buf[..MAX_PREFIX]).to_string();
                return Err(RecordIoError::BadLength(shown));
            }
            return Ok(None);
        };
        let prefix = &self.buf[..nl];
        let text = std::str::from_utf8(prefix).unwrap_or("");
        let len: usize = match text.parse() {
            Ok(n) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                return Err(RecordIoError::BadLength(
                    String::from_utf8_lossy(prefix).into(),
                ))
            }
        };
        if len > max {
            return Err(RecordIoError::TooLarge(len, max));
        }
        if self.buf.len() < nl + 1 + len {
            return Ok(None);
        }
        let record = self.buf[nl + 1..nl + 1 + len].to_vec();
        self.buf.drain(..nl + 1 + len);
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_byte_by_byte() {
        let mut stream = encode(br#"{"type":"HEARTBEAT"}"#);
        stream.extend(encode(b""));
        stream.extend(encode("{\"x\":\"\u{e9}\"}".as_bytes()));
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for b in &stream {
            d.feed(std::slice::from_ref(b));
            while let Some(r) = d.next_record(1 << 20).unwrap() {
                out.push(r);
            }
        }
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], br#"{"type":"HEARTBEAT"}"#);
        assert!(out[1].is_empty());
        assert_eq!(
            String::from_utf8(out[2].clone()).unwrap(),
            "{\"x\":\"\u{e9}\"}"
        );
    }

    #[test]
    fn bad_prefixes_are_errors() {
        let mut d = Decoder::new();
        d.feed(b"12a\n");
        assert!(matches!(
            d.next_record(100),
            Err(RecordIoError::BadLength(_))
        ));
        let mut d = Decoder::new();
        d.feed(b"123456789012345678901234");
        assert!(matches!(
            d.next_record(100),
            Err(RecordIoError::BadLength(_))
        ));
        let mut d = Decoder::new();
        d.feed(b"101\n");
        assert_eq!(d.next_record(100), Err(RecordIoError::TooLarge(101, 100)));
    }
}
