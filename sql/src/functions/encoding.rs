//! Flink's hash, Base64 and URL functions over the UTF-8 bytes of strings.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::Int64Type;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use datafusion_common::{Result, exec_err};
use datafusion_expr::ScalarUDF;
use sha2::Digest;

use super::udf::{Arg, Udf, string, strings};

/// The hash, Base64 and URL functions.
pub fn functions() -> Vec<ScalarUDF> {
    use Arg::{Integer as I, String as S};
    vec![
        Udf::new("md5", vec![vec![S]], string, |a| {
            hash(&a[0], hex_of::<md5::Md5>)
        }),
        Udf::new("sha1", vec![vec![S]], string, |a| {
            hash(&a[0], hex_of::<sha1::Sha1>)
        }),
        Udf::new("sha224", vec![vec![S]], string, |a| {
            hash(&a[0], hex_of::<sha2::Sha224>)
        }),
        Udf::new("sha256", vec![vec![S]], string, |a| {
            hash(&a[0], hex_of::<sha2::Sha256>)
        }),
        Udf::new("sha384", vec![vec![S]], string, |a| {
            hash(&a[0], hex_of::<sha2::Sha384>)
        }),
        Udf::new("sha512", vec![vec![S]], string, |a| {
            hash(&a[0], hex_of::<sha2::Sha512>)
        }),
        Udf::new("sha2", vec![vec![S, I]], string, sha2),
        Udf::new("to_base64", vec![vec![S]], string, |a| {
            map_strings(&a[0], |s, out| {
                out.push_str(&STANDARD.encode(s));
                true
            })
        }),
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

fn hash(array: &ArrayRef, digest: fn(&[u8], &mut String)) -> Result<ArrayRef> {
    map_strings(array, |s, out| {
        digest(s.as_bytes(), out);
        true
    })
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
    let s = strings(&args[0])?;
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
            digest(s.value(i).as_bytes(), &mut text);
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
