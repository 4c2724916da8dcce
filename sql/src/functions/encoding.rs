//! Flink's hash and Base64 functions over binary strings and the UTF-8 bytes of strings, its
//! URL functions, and `ENCODE`, `DECODE` and `UNHEX`, which turn text into bytes and back.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, StringBuilder};
use arrow::datatypes::Int64Type;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use datafusion_common::{Result, exec_err};
use datafusion_expr::ScalarUDF;
use sha2::Digest;

use super::udf::{Arg, Compiled, Udf, byte_strings, bytes, string, strings};

/// The hash, Base64 and URL functions.
pub fn functions() -> Vec<ScalarUDF> {
    use Arg::{Bytes as B, Integer as I, String as S};
    let text = || vec![vec![S], vec![B]];
    vec![
        Udf::new("md5", text(), string, |a| {
            text_of_bytes(&a[0], hex_of::<md5::Md5>)
        }),
        Udf::new("sha1", text(), string, |a| {
            text_of_bytes(&a[0], hex_of::<sha1::Sha1>)
        }),
        Udf::new("sha224", text(), string, |a| {
            text_of_bytes(&a[0], hex_of::<sha2::Sha224>)
        }),
        Udf::new("sha256", text(), string, |a| {
            text_of_bytes(&a[0], hex_of::<sha2::Sha256>)
        }),
        Udf::new("sha384", text(), string, |a| {
            text_of_bytes(&a[0], hex_of::<sha2::Sha384>)
        }),
        Udf::new("sha512", text(), string, |a| {
            text_of_bytes(&a[0], hex_of::<sha2::Sha512>)
        }),
        Udf::new("sha2", vec![vec![S, I], vec![B, I]], string, sha2),
        Udf::new("to_base64", text(), string, |a| {
            text_of_bytes(&a[0], |bytes, out| STANDARD.encode_string(bytes, out))
        }),
        Udf::new("encode", vec![vec![S, S]], bytes, encode),
        Udf::new("decode", vec![vec![B, S]], string, decode),
        Udf::new("unhex", vec![vec![S]], bytes, unhex),
        Udf::new("from_base64", vec![vec![S]], string, from_base64),
        Udf::new(
            "parse_url",
            vec![vec![S, S], vec![S, S, S]],
            string,
            parse_url,
        ),
        Udf::new("url_encode", vec![vec![S]], string, |a| {
            map_strings(&a[0], |s, out| {
                out.extend(url::form_urlencoded::byte_serialize(s.as_bytes()));
                true
            })
        }),
        Udf::new("url_decode", vec![vec![S]], string, |a| {
            map_strings(&a[0], |s, out| match url_decode(s) {
                Some(text) => {
                    out.push_str(&text);
                    true
                }
                None => false,
            })
        }),
    ]
}

/// `f` of each string; NULL where it is NULL or `f` says so.
fn map_strings(array: &ArrayRef, mut f: impl FnMut(&str, &mut String) -> bool) -> Result<ArrayRef> {
    let s = strings(array)?;
    let mut out = StringBuilder::with_capacity(s.len(), s.len() * 16);
    let mut text = String::new();
    for v in s.iter() {
        text.clear();
        match v {
            Some(v) if f(v, &mut text) => out.append_value(&text),
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// The lower-case hex digest of `bytes` with hash `D`.
fn hex_of<D: Digest>(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in D::digest(bytes) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
}

/// The text `digest` makes of each binary string (or string's UTF-8): a hash, Base64.
fn text_of_bytes(array: &ArrayRef, digest: fn(&[u8], &mut String)) -> Result<ArrayRef> {
    let values = byte_strings(array)?;
    let mut out = StringBuilder::with_capacity(values.len(), values.len() * 32);
    let mut text = String::new();
    for v in values.iter() {
        let Some(v) = v else {
            out.append_null();
            continue;
        };
        text.clear();
        digest(v, &mut text);
        out.append_value(&text);
    }
    Ok(Arc::new(out.finish()))
}

/// `FROM_BASE64(s)`: the text whose UTF-8 bytes `s` encodes; text that is not Base64 is an
/// error, as in Flink.
fn from_base64(args: &[ArrayRef]) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    let mut out = StringBuilder::with_capacity(s.len(), s.len() * 16);
    for v in s.iter() {
        match v {
            Some(v) => match STANDARD.decode(v) {
                Ok(bytes) => out.append_value(String::from_utf8_lossy(&bytes)),
                Err(e) => return exec_err!("FROM_BASE64: '{v}' is not Base64: {e}"),
            },
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// The parts of a URL as Java's `java.net.URL` splits it (without decoding anything).
struct Url<'a> {
    protocol: &'a str,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
    reference: Option<&'a str>,
}

impl<'a> Url<'a> {
    /// `None` where Java refuses the URL (no or an unknown protocol).
    fn parse(s: &'a str) -> Option<Url<'a>> {
        let (protocol, rest) = s.split_once(':')?;
        let known = ["http", "https", "ftp", "file", "jar", "mailto"];
        if !known.iter().any(|p| p.eq_ignore_ascii_case(protocol)) {
            return None;
        }
        let (rest, reference) = match rest.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (rest, None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match rest.strip_prefix("//") {
            Some(rest) => {
                let end = rest.find('/').unwrap_or(rest.len());
                (Some(&rest[..end]), &rest[end..])
            }
            None => (None, rest),
        };
        Some(Url {
            protocol,
            authority,
            path,
            query,
            reference,
        })
    }

    fn user_info(&self) -> Option<&'a str> {
        self.authority?.rsplit_once('@').map(|(user, _)| user)
    }

    /// The host: empty without an authority, as Java says.
    fn host(&self) -> &'a str {
        let Some(authority) = self.authority else {
            return "";
        };
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        match host.rfind(':') {
            Some(at) if !host[at..].contains(']') => &host[..at],
            _ => host,
        }
    }
}

/// `PARSE_URL(url, part [, key])`: `HOST`, `PATH`, `QUERY` (or the value of `key` in it),
/// `REF`, `PROTOCOL`, `AUTHORITY`, `FILE` or `USERINFO`; NULL for a URL Java cannot read.
fn parse_url(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (urls, parts) = (strings(&args[0])?, strings(&args[1])?);
    let keys = args.get(2).map(strings).transpose()?;
    let mut out = StringBuilder::with_capacity(urls.len(), urls.len() * 16);
    let mut file = String::new();
    for i in 0..urls.len() {
        let key = keys.as_ref().map(|k| k.is_valid(i).then(|| k.value(i)));
        let url = (urls.is_valid(i) && parts.is_valid(i))
            .then(|| Url::parse(urls.value(i)))
            .flatten();
        let part = url.and_then(|url| match (parts.value(i), key) {
            ("QUERY", Some(key)) => query_value(url.query?, key?),
            ("QUERY", None) => url.query,
            ("HOST", _) => Some(url.host()),
            ("PATH", _) => Some(url.path),
            ("REF", _) => url.reference,
            ("PROTOCOL", _) => Some(url.protocol),
            ("AUTHORITY", _) => url.authority,
            ("USERINFO", _) => url.user_info(),
            ("FILE", _) => {
                file.clear();
                file.push_str(url.path);
                if let Some(q) = url.query {
                    file.push('?');
                    file.push_str(q);
                }
                Some(file.as_str())
            }
            _ => None,
        });
        out.append_option(part);
    }
    Ok(Arc::new(out.finish()))
}

/// The value of the first `key=value` pair of `query`.
fn query_value<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

/// `SHA2(s, bits)`: SHA-224, -256, -384 or -512; other lengths are an error, as in Flink.
fn sha2(args: &[ArrayRef]) -> Result<ArrayRef> {
    let bits = args[1].as_primitive::<Int64Type>();
    let s = byte_strings(&args[0])?;
    let mut out = StringBuilder::with_capacity(s.len(), s.len() * 64);
    let mut text = String::new();
    for i in 0..s.len() {
        text.clear();
        let digest: fn(&[u8], &mut String) = match bits.is_valid(i).then(|| bits.value(i)) {
            Some(224) => hex_of::<sha2::Sha224>,
            Some(256) => hex_of::<sha2::Sha256>,
            Some(384) => hex_of::<sha2::Sha384>,
            Some(512) => hex_of::<sha2::Sha512>,
            Some(other) => return exec_err!("SHA2 takes 224, 256, 384 or 512 bits, not {other}"),
            None => {
                out.append_null();
                continue;
            }
        };
        if s.is_null(i) {
            out.append_null();
        } else {
            digest(s.value(i), &mut text);
            out.append_value(&text);
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Java's `URLDecoder.decode`: `+` is a space, `%XX` a byte; `None` for a bad escape or
/// bytes that are not UTF-8.
fn url_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The character sets Java always has, which `ENCODE` and `DECODE` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    UsAscii,
    Latin1,
    Utf8,
    Utf16Be,
    Utf16Le,
    /// UTF-16 with a byte-order mark: written big-endian after `FE FF`; read in the order a
    /// mark gives, big-endian without one.
    Utf16,
}

impl Charset {
    /// The charset Java's `Charset.forName` finds under `name` (or one of its aliases).
    fn named(name: &str) -> Option<Charset> {
        let key = name.to_ascii_uppercase().replace('_', "-");
        Some(match key.as_str() {
            "US-ASCII" | "ASCII" | "ISO646-US" | "IBM367" | "CP367" | "DEFAULT" | "646"
            | "ANSI-X3.4-1968" | "ANSI-X3.4-1986" | "CSASCII" | "ISO-IR-6" => Charset::UsAscii,
            "ISO-8859-1" | "ISO8859-1" | "8859-1" | "LATIN1" | "L1" | "IBM819" | "CP819"
            | "IBM-819" | "819" | "CSISOLATIN1" | "ISO-IR-100" | "ISO-8859-1:1987" => {
                Charset::Latin1
            }
            "UTF-8" | "UTF8" | "UNICODE-1-1-UTF-8" => Charset::Utf8,
            "UTF-16BE" | "X-UTF-16BE" | "ISO-10646-UCS-2" | "UNICODEBIGUNMARKED" => {
                Charset::Utf16Be
            }
            "UTF-16LE" | "X-UTF-16LE" | "UNICODELITTLEUNMARKED" => Charset::Utf16Le,
            "UTF-16" | "UTF16" | "UNICODE" | "UNICODEBIG" => Charset::Utf16,
            _ => return None,
        })
    }

    /// The charset `charsets` compiled for `name`, or the error naming those rill has.
    fn find(charsets: &mut Compiled<Option<Charset>>, name: &str) -> Result<Charset> {
        match *charsets.get(name, Charset::named) {
            Some(charset) => Ok(charset),
            None => exec_err!(
                "unsupported charset '{name}': rill has US-ASCII, ISO-8859-1, UTF-8, UTF-16BE, \
                 UTF-16LE and UTF-16"
            ),
        }
    }

    /// Appends the bytes of `text`, a character this charset cannot hold as `?`, as Java's
    /// `String.getBytes` does.
    fn encode(self, text: &str, out: &mut Vec<u8>) {
        let narrow = |limit: u32, out: &mut Vec<u8>| {
            out.extend(text.chars().map(|c| match c as u32 {
                v if v <= limit => v as u8,
                _ => b'?',
            }))
        };
        match self {
            Charset::UsAscii => narrow(0x7f, out),
            Charset::Latin1 => narrow(0xff, out),
            Charset::Utf8 => out.extend_from_slice(text.as_bytes()),
            Charset::Utf16Be => out.extend(text.encode_utf16().flat_map(u16::to_be_bytes)),
            Charset::Utf16Le => out.extend(text.encode_utf16().flat_map(u16::to_le_bytes)),
            Charset::Utf16 if text.is_empty() => {}
            Charset::Utf16 => {
                out.extend([0xfe, 0xff]);
                out.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
            }
        }
    }

    /// Appends the text of `bytes`, what is malformed as U+FFFD, as Java's `new String` reads.
    fn decode(self, bytes: &[u8], out: &mut String) {
        let utf16 = |bytes: &[u8], unit: fn([u8; 2]) -> u16, out: &mut String| {
            let (pairs, odd) = bytes.as_chunks::<2>();
            let units = pairs.iter().map(|p| unit(*p));
            out.extend(char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)));
            if !odd.is_empty() {
                out.push(char::REPLACEMENT_CHARACTER);
            }
        };
        match self {
            Charset::UsAscii => out.extend(bytes.iter().map(|&b| match b {
                0..=0x7f => char::from(b),
                _ => char::REPLACEMENT_CHARACTER,
            })),
            Charset::Latin1 => out.extend(bytes.iter().map(|&b| char::from(b))),
            Charset::Utf8 => out.push_str(&String::from_utf8_lossy(bytes)),
            Charset::Utf16Be => utf16(bytes, u16::from_be_bytes, out),
            Charset::Utf16Le => utf16(bytes, u16::from_le_bytes, out),
            Charset::Utf16 => match bytes {
                [0xff, 0xfe, rest @ ..] => utf16(rest, u16::from_le_bytes, out),
                [0xfe, 0xff, rest @ ..] => utf16(rest, u16::from_be_bytes, out),
                _ => utf16(bytes, u16::from_be_bytes, out),
            },
        }
    }
}

/// `ENCODE(s, charset)`: the bytes of `s` in `charset`.
fn encode(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (text, names) = (strings(&args[0])?, strings(&args[1])?);
    let mut out = BinaryBuilder::with_capacity(text.len(), text.len() * 16);
    let mut charsets = Compiled::new();
    let mut bytes = Vec::new();
    for (text, name) in text.iter().zip(names.iter()) {
        let (Some(text), Some(name)) = (text, name) else {
            out.append_null();
            continue;
        };
        bytes.clear();
        Charset::find(&mut charsets, name)?.encode(text, &mut bytes);
        out.append_value(&bytes);
    }
    Ok(Arc::new(out.finish()))
}

/// `DECODE(b, charset)`: the text the bytes `b` are in `charset`.
fn decode(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (values, names) = (byte_strings(&args[0])?, strings(&args[1])?);
    let mut out = StringBuilder::with_capacity(values.len(), values.len() * 16);
    let mut charsets = Compiled::new();
    let mut text = String::new();
    for (bytes, name) in values.iter().zip(names.iter()) {
        let (Some(bytes), Some(name)) = (bytes, name) else {
            out.append_null();
            continue;
        };
        text.clear();
        Charset::find(&mut charsets, name)?.decode(bytes, &mut text);
        out.append_value(&text);
    }
    Ok(Arc::new(out.finish()))
}

/// `UNHEX(s)`: the bytes the hex digits of `s` spell; of an odd number of digits, the first
/// is dropped and a zero byte put in front (Flink's documented rule); NULL if `s` holds
/// anything but hex digits.
fn unhex(args: &[ArrayRef]) -> Result<ArrayRef> {
    let text = strings(&args[0])?;
    let mut out = BinaryBuilder::with_capacity(text.len(), text.len() * 8);
    let mut bytes = Vec::new();
    for v in text.iter() {
        let Some(v) = v else {
            out.append_null();
            continue;
        };
        bytes.clear();
        let digits = v.as_bytes();
        let (first, pairs) = digits.split_at(digits.len() % 2);
        if !first.is_empty() {
            bytes.push(0);
        }
        let nibble = |d: u8| char::from(d).to_digit(16).map(|n| n as u8);
        let decoded = pairs.chunks(2).try_for_each(|pair| {
            bytes.push(nibble(pair[0])? << 4 | nibble(pair[1])?);
            Some(())
        });
        match decoded {
            Some(()) if first.iter().all(|&d| nibble(d).is_some()) => out.append_value(&bytes),
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}
