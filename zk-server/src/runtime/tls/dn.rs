//! The subject of an X.509 certificate as Java's `X500Principal.getName()` prints it (RFC 2253):
//! the `x509` ACL scheme's id. A minimal DER reader walks to the subject; nothing else of the
//! certificate is looked at (rustls has verified it already).
//!
//! Java's rules, which ACL ids written for Apache ZooKeeper depend on:
//! - RDNs in reverse order of the encoding (most specific first), joined by `,`; the values of
//!   a multi-valued RDN joined by `+` in encoded order.
//! - Keywords only for CN, C, L, ST, O, OU, STREET, DC and UID; any other attribute (e.g.
//!   emailAddress) is its dotted OID.
//! - A string value (UTF8String, PrintableString, IA5String, T61String, BMPString,
//!   GeneralString) of a keyword attribute is written with `,=+<>#;"\` escaped by a backslash,
//!   NUL as `\00`, and leading/trailing spaces escaped; an OID attribute or a non-string value
//!   is `#` and the lowercase hex of its whole DER encoding.

/// Why a certificate's subject could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnError(pub &'static str);

impl std::fmt::Display for DnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed certificate: {}", self.0)
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// One DER element: tag, content, and the whole encoding.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    whole: &'a [u8],
}

/// Reads one element from the front of `input`; returns it and the rest.
fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DnError> {
    let (&tag, rest) = input.split_first().ok_or(DnError("truncated element"))?;
    if tag & 0x1f == 0x1f {
        return Err(DnError("multi-byte tags are not used in names"));
    }
    let (&first, mut rest) = rest.split_first().ok_or(DnError("truncated length"))?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(DnError("bad length"));
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(DnError("element longer than its container"));
    }
    let header = input.len() - rest.len();
    Ok((
        Tlv {
            tag,
            content: &rest[..len],
            whole: &input[..header + len],
        },
        &rest[len..],
    ))
}

fn expect<'a>(
    input: &'a [u8],
    tag: u8,
    what: &'static str,
) -> Result<(Tlv<'a>, &'a [u8]), DnError> {
    let (t, rest) = read(input)?;
    if t.tag != tag {
        return Err(DnError(what));
    }
    Ok((t, rest))
}

/// The subject DN of a DER certificate in Java's RFC 2253 form.
pub fn subject_rfc2253(cert_der: &[u8]) -> Result<String, DnError> {
    let (cert, _) = expect(cert_der, SEQUENCE, "certificate is not a SEQUENCE")?;
    let (tbs, _) = expect(cert.content, SEQUENCE, "tbsCertificate is not a SEQUENCE")?;
    let mut rest = tbs.content;
    // [0] EXPLICIT version, optional.
    let (first, after) = read(rest)?;
    if first.tag == 0xa0 {
        rest = after;
    }
    let (_serial, rest) = read(rest)?;
    let (_signature, rest) = expect(rest, SEQUENCE, "bad signature algorithm")?;
    let (_issuer, rest) = expect(rest, SEQUENCE, "bad issuer")?;
    let (_validity, rest) = expect(rest, SEQUENCE, "bad validity")?;
    let (subject, _) = expect(rest, SEQUENCE, "bad subject")?;
    name_rfc2253(subject.content)
}

/// A Name's RDNSequence content (the SEQUENCE's inside) in RFC 2253 form.
pub fn name_rfc2253(mut rdns: &[u8]) -> Result<String, DnError> {
    let mut out: Vec<String> = Vec::new();
    while !rdns.is_empty() {
        let (set, rest) = expect(rdns, SET, "RDN is not a SET")?;
        rdns = rest;
        let mut avas = Vec::new();
        let mut items = set.content;
        while !items.is_empty() {
            let (ava, rest) = expect(items, SEQUENCE, "attribute is not a SEQUENCE")?;
            items = rest;
            let (oid, rest) = expect(ava.content, OID, "attribute type is not an OID")?;
            let (value, _) = read(rest)?;
            avas.push(ava_rfc2253(&oid_string(oid.content)?, &value));
        }
        out.push(avas.join("+"));
    }
    out.reverse();
    Ok(out.join(","))
}

fn oid_string(bytes: &[u8]) -> Result<String, DnError> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut v: u64 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if v > (u64::MAX >> 7) {
            return Err(DnError("OID arc too large"));
        }
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (v / 40).min(2);
                arcs.push(first);
                arcs.push(v - first * 40);
            } else {
                arcs.push(v);
            }
            v = 0;
        } else if i == bytes.len() - 1 {
            return Err(DnError("truncated OID"));
        }
    }
    if arcs.is_empty() {
        return Err(DnError("empty OID"));
    }
    Ok(arcs
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("."))
}

/// Java's RFC 2253 keywords.
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// The value of a string-typed attribute, decoded as Java does; `None` for other types.
fn string_value(value: &Tlv<'_>) -> Option<String> {
    match value.tag {
        // UTF8String
        0x0c => std::str::from_utf8(value.content).ok().map(str::to_string),
        // PrintableString, T61String, IA5String, GeneralString: one byte per character.
        0x13 | 0x14 | 0x16 | 0x1b => Some(value.content.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16BE.
        0x1e => {
            if value.content.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = value
                .content
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

fn ava_rfc2253(oid: &str, value: &Tlv<'_>) -> String {
    let text = keyword(oid).and_then(|k| string_value(value).map(|s| (k, s)));
    let Some((key, s)) = text else {
        let hex: String = value.whole.iter().map(|b| format!("{b:02x}")).collect();
        return format!("{}=#{hex}", keyword(oid).unwrap_or(oid));
    };
    let mut escaped = String::with_capacity(s.len());
    for c in s.chars() {
        if ",=+<>#;\"\\".contains(c) {
            escaped.push('\\');
            escaped.push(c);
        } else if c == '\0' {
            escaped.push_str("\\00");
        } else {
            escaped.push(c);
        }
    }
    // Leading and trailing spaces (and CRs) are escaped too.
    let chars: Vec<char> = escaped.chars().collect();
    let lead = chars
        .iter()
        .position(|&c| c != ' ' && c != '\r')
        .unwrap_or(chars.len());
    let trail = chars
        .iter()
        .rposition(|&c| c != ' ' && c != '\r')
        .map_or(0, |p| p + 1);
    let mut out = String::with_capacity(escaped.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if i < lead || i >= trail {
            out.push('\\');
        }
        out.push(c);
    }
    format!("{key}={out}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if content.len() < 128 {
            v.push(content.len() as u8);
        } else {
            v.push(0x82);
            v.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(content);
        v
    }

    fn ava(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        let mut c = tlv(OID, oid);
        c.extend(tlv(tag, value));
        tlv(SET, &tlv(SEQUENCE, &c))
    }

    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];
    const C: &[u8] = &[0x55, 0x04, 0x06];
    const EMAIL: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];

    #[test]
    fn rdns_are_reversed_and_keywords_used() {
        let mut name = ava(C, 0x13, b"DE");
        name.extend(ava(O, 0x0c, b"zkrs"));
        name.extend(ava(CN, 0x0c, b"client"));
        assert_eq!(name_rfc2253(&name).unwrap(), "CN=client,O=zkrs,C=DE");
    }

    #[test]
    fn special_characters_are_escaped_like_java() {
        let name = ava(CN, 0x0c, b" a,b=c+d#e;f\"g\\h<i>j ");
        assert_eq!(
            name_rfc2253(&name).unwrap(),
            "CN=\\ a\\,b\\=c\\+d\\#e\\;f\\\"g\\\\h\\<i\\>j\\ "
        );
    }

    #[test]
    fn unknown_attributes_are_oid_and_hex() {
        let mut name = ava(EMAIL, 0x16, b"a@b");
        name.extend(ava(CN, 0x0c, b"x"));
        assert_eq!(
            name_rfc2253(&name).unwrap(),
            "CN=x,1.2.840.113549.1.9.1=#1603614062"
        );
    }

    #[test]
    fn non_ascii_and_bmp_strings_are_kept() {
        let bmp: Vec<u8> = "Zoë".encode_utf16().flat_map(u16::to_be_bytes).collect();
        let mut name = ava(O, 0x1e, &bmp);
        name.extend(ava(CN, 0x0c, "Grüße".as_bytes()));
        assert_eq!(name_rfc2253(&name).unwrap(), "CN=Grüße,O=Zoë");
    }

    #[test]
    fn multi_valued_rdn_keeps_encoded_order() {
        let mut c1 = tlv(OID, CN);
        c1.extend(tlv(0x0c, b"a"));
        let mut c2 = tlv(OID, O);
        c2.extend(tlv(0x0c, b"b"));
        let mut set = tlv(SEQUENCE, &c1);
        set.extend(tlv(SEQUENCE, &c2));
        assert_eq!(name_rfc2253(&tlv(SET, &set)).unwrap(), "CN=a+O=b");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 2, 3, 4, 5],
            &[0x30, 0x05, 0x30],
        ] {
            assert!(subject_rfc2253(bad).is_err());
        }
        assert!(name_rfc2253(&[0x31, 0x03, 0x30, 0x01, 0x06]).is_err());
    }

    /// A certificate made by `openssl req -utf8 -subj '/DC=org/DC=example/C=DE/
    /// ST=Baden-Württemberg/L=Stuttgart/O=Acme\, Inc./OU= spaced \+plus /CN=#hash;semi<lt>"q"\\b=eq/
    /// emailAddress=ops@example.org/UID=u1/street=Main St 1/serialNumber=42'`; the expected text
    /// is what OpenJDK 17's `X500Principal.getName()` printed for it.
    #[test]
    fn matches_what_java_prints_for_an_openssl_certificate() {
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(
                "MIIDeDCCAx+gAwIBAgIUPMRnRBIC8FB0CUKtC3uDDny8XgswCgYIKoZIzj0EAwIwggEQMRMwEQYKCZImiZPyLGQB\
         GRYDb3JnMRcwFQYKCZImiZPyLGQBGRYHZXhhbXBsZTELMAkGA1UEBhMCREUxGzAZBgNVBAgMEkJhZGVuLVfDvHJ0\
         dGVtYmVyZzESMBAGA1UEBwwJU3R1dHRnYXJ0MRMwEQYDVQQKDApBY21lLCBJbmMuMRcwFQYDVQQLDA4gc3BhY2Vk\
         ICtwbHVzIDEfMB0GA1UEAwwWI2hhc2g7c2VtaTxsdD4icSJcYj1lcTEeMBwGCSqGSIb3DQEJARYPb3BzQGV4YW1w\
         bGUub3JnMRIwEAYKCZImiZPyLGQBAQwCdTExEjAQBgNVBAkMCU1haW4gU3QgMTELMAkGA1UEBRMCNDIwHhcNMjYx\
         MTIyMTMyNTA4WhcNMjYxMTIzMTMyNTA4WjCCARAxEzARBgoJkiaJk/IsZAEZFgNvcmcxFzAVBgoJkiaJk/IsZAEZ\
         FgdleGFtcGxlMQswCQYDVQQGEwJERTEbMBkGA1UECAwSQmFkZW4tV8O8cnR0ZW1iZXJnMRIwEAYDVQQHDAlTdHV0\
         dGdhcnQxEzARBgNVBAoMCkFjbWUsIEluYy4xFzAVBgNVBAsMDiBzcGFjZWQgK3BsdXMgMR8wHQYDVQQDDBYjaGFz\
         aDtzZW1pPGx0PiJxIlxiPWVxMR4wHAYJKoZIhvcNAQkBFg9vcHNAZXhhbXBsZS5vcmcxEjAQBgoJkiaJk/IsZAEB\
         DAJ1MTESMBAGA1UECQwJTWFpbiBTdCAxMQswCQYDVQQFEwI0MjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFSy\
         4QjupNE+L3GbRP8Ag63A5ROl0Lm2lywQNC9jYCYn37BdHoiCZunnLyn3/t1+HWN3jMTPmNdLmDmKrKwR6b+jUzBR\
         MB0GA1UdDgQWBBRiKxUnvsWQ1mdpSGEB7ax1UDPYDTAfBgNVHSMEGDAWgBRiKxUnvsWQ1mdpSGEB7ax1UDPYDTAP\
         BgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCICLGIs2OXMB3IppNJ45YuYlA/eW4n9Wc/QOPeiodQH4+\
         AiBb6rJrIhtUWk9WpBPR8U9a4t9AAfSjLws9Tu+gGmKFfQ==",
            )
            .unwrap();
        assert_eq!(
            subject_rfc2253(&der).unwrap(),
            "2.5.4.5=#13023432,STREET=Main St 1,UID=u1,\
             1.2.840.113549.1.9.1=#160f6f7073406578616d706c652e6f7267,\
             CN=\\#hash\\;semi\\<lt\\>\\\"q\\\"\\\\b\\=eq,OU=\\ spaced \\+plus\\ ,\
             O=Acme\\, Inc.,L=Stuttgart,ST=Baden-Württemberg,C=DE,DC=example,DC=org"
        );
    }
}
