//! The text Flink's json formats give a JSON object or array read into a STRING column: the
//! value as Jackson writes the tree it parsed, compact and in its members' order, a number
//! with a fraction or an exponent as a Java double (`1.50` is `1.5`, `1e5` is `100000.0`),
//! strings with only what JSON must escape escaped.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::format::{java_double, push_json_string};

/// Flink's text of the JSON `value`; `None` if it is no JSON.
pub(super) fn flink_text(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut parser = serde_json::Deserializer::from_str(value);
    Jackson(&mut out).deserialize(&mut parser).ok()?;
    parser.end().ok()?;
    Some(out)
}

/// Writes the value it is given into its string.
struct Jackson<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for Jackson<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Jackson<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.push_str(itoa::Buffer::new().format(v));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.push_str(itoa::Buffer::new().format(v));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        java_double(self.0, v);
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        push_json_string(self.0, v);
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.push_str("null");
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        self.0.push('[');
        let mut first = true;
        loop {
            let at = self.0.len();
            if !first {
                self.0.push(',');
            }
            if items.next_element_seed(Jackson(self.0))?.is_none() {
                self.0.truncate(at);
                break;
            }
            first = false;
        }
        self.0.push(']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<(), A::Error> {
        self.0.push('{');
        let mut first = true;
        while let Some(key) = members.next_key::<std::borrow::Cow<'de, str>>()? {
            if !first {
                self.0.push(',');
            }
            first = false;
            push_json_string(self.0, &key);
            self.0.push(':');
            members.next_value_seed(Jackson(self.0))?;
        }
        self.0.push('}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The oracle read these into a STRING: {"a":1.5,"b":[100000.0,"x y",null,true]}, [] and
    // {"u":"é\n"}.
    #[test]
    fn containers_read_as_flink_writes_them() {
        let text = |v| flink_text(v).unwrap();
        assert_eq!(
            text(r#"{"a": 1.50, "b": [1e5, "x y", null, true]}"#),
            r#"{"a":1.5,"b":[100000.0,"x y",null,true]}"#
        );
        assert_eq!(text("[ ]"), "[]");
        assert_eq!(text(r#"{"u":"\u00e9\n"}"#), "{\"u\":\"é\\n\"}");
        assert_eq!(text(r#"{"z": 1, "a": -2}"#), r#"{"z":1,"a":-2}"#);
        assert_eq!(flink_text("{"), None);
    }
}
