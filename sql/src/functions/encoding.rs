//! Flink's hash, Base64 and URL functions over the UTF-8 bytes of strings.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::Int64Type;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;
use sha2::Digest;

use super::udf::{Arg, Udf, string, strings};

/// The hash, Base64 and URL functions.
pub fn functions() -> Vec<ScalarUDF> {
    use Arg::{Integer as I, String as S};
    vec![
        Udf::new("md5", vec![vec![S]], string, |a| hash(&a[0], hex_of::<md5::Md5>)),
        Udf::new("sha1", vec![vec![S]], string, |a| hash(&a[0], hex_of::<sha1::Sha1>)),
        Udf::new("sha224", vec![vec![S]], string, |a| hash(&a[0], hex_of::<sha2::Sha224>)),
        Udf::new("sha256", vec![vec![S]], string, |a| hash(&a[0], hex_of::<sha2::Sha256>)),
        Udf::new("sha384", vec![vec![S]], string, |a| hash(&a[0], hex_of::<sha2::Sha384>)),
        Udf::new("sha512", vec![vec![S]], string, |a| hash(&a[0], hex_of::<sha2::Sha512>)),
        Udf::new("sha2", vec![vec![S, I]], string, sha2),
        Udf::new("to_base64", vec![vec![S]], string, |a| {
            map_strings(&a[0], |s, out| {
                out.push_str(&STANDARD.encode(s));
                true
            })
        }),
        Udf::new("from_base64", vec![vec![S]], string, |a| {
            map_strings(&a[0], |s, out| {
                match STANDARD.decode(s).ok().and_then(|b| String::from_utf8(b).ok()) {
                    Some(text) => {
                        out.push_str(&text);
                        true
                    }
                    None => false,
                }
            })
        }),
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
    for b in D::digest(bytes) {
        out.push_str(&format!("{b:02x}"));
    }
}

fn hash(array: &ArrayRef, digest: fn(&[u8], &mut String)) -> Result<ArrayRef> {
    map_strings(array, |s, out| {
        digest(s.as_bytes(), out);
        true
    })
}

/// `SHA2(s, bits)`: SHA-224, -256, -384 or -512; NULL for other lengths.
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
            _ => {
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
