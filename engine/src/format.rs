//! Rendering rows as text: Flink's canonical value text and the output formats built on it.

mod sort;
mod value;
mod writer;

pub use sort::{materialize, sort_rows};
pub use value::{ValueFormatter, format_double, millis_text, shortest_digits, sql_type_name};
pub use writer::{OutputFormat, RowWriter};
