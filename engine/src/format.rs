//! Rendering rows as text: Flink's canonical value text and the output formats built on it.

mod java;
mod sort;
mod value;
mod writer;

pub use java::{
    NotANumber, java_double, java_float, parse_java_boolean, parse_java_decimal, parse_java_float,
};
pub use sort::{materialize, sort_rows};
pub use value::{
    BITMAP, MULTISET_ENTRIES, ValueFormatter, format_double, is_multiset, millis_text,
    shortest_digits, sql_type_name, write_bitmap,
};
pub use writer::{OutputFormat, RowWriter, push_json_string};
