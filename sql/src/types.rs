//! Flink SQL column types and their Arrow representation.
//!
//! `TIMESTAMP(p)` is a zone-less Arrow timestamp in the unit that holds `p` fraction digits;
//! `TIMESTAMP_LTZ(p)` is the same with time zone UTC (the session's local time zone).
//! `TIME` (`TIME(0)`) is an Arrow time of seconds, `TIME(p)` for p of 1 to 3 one of
//! milliseconds (a cast to it keeps `p` fraction digits).
//! `FLOAT` is 4 bytes and `DOUBLE` 8, as in Flink; `DECIMAL` defaults to `DECIMAL(10, 0)`.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, IntervalUnit, TimeUnit};
use datafusion_expr::planner::TypePlanner;
use datafusion_sql::sqlparser::ast::{
    ArrayElemTypeDef, BinaryLength, CharacterLength, DataType as SqlType, ExactNumberInfo,
    TimezoneInfo,
};

use crate::error::{SqlError, SqlResult};
use crate::functions::map::{map_type, multiset_type};

/// The time zone of `TIMESTAMP_LTZ` values.
pub const LOCAL_TIME_ZONE: &str = "UTC";

/// The Arrow type of a Flink SQL column type.
pub fn arrow_type(sql: &SqlType) -> SqlResult<DataType> {
    Ok(match sql {
        SqlType::Char(_)
        | SqlType::Character(_)
        | SqlType::Varchar(_)
        | SqlType::CharVarying(_)
        | SqlType::CharacterVarying(_)
        | SqlType::String(_)
        | SqlType::Text => DataType::Utf8,
        SqlType::Boolean | SqlType::Bool => DataType::Boolean,
        SqlType::TinyInt(_) => DataType::Int8,
        SqlType::SmallInt(_) => DataType::Int16,
        SqlType::Int(_) | SqlType::Integer(_) => DataType::Int32,
        SqlType::BigInt(_) => DataType::Int64,
        SqlType::Float(_) | SqlType::Real | SqlType::Float4 => DataType::Float32,
        SqlType::Double(_) | SqlType::DoublePrecision | SqlType::Float8 => DataType::Float64,
        SqlType::Decimal(info) | SqlType::Numeric(info) => {
            let (p, s) = match info {
                ExactNumberInfo::None => (10, 0),
                ExactNumberInfo::Precision(p) => (*p, 0),
                ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s),
            };
            if !(1..=38).contains(&p) || s < 0 || s as u64 > p {
                return Err(SqlError::new(format!(
                    "DECIMAL({p}, {s}) is out of range: precision 1 to 38, scale 0 to precision"
                )));
            }
            DataType::Decimal128(p as u8, s as i8)
        }
        SqlType::Date => DataType::Date32,
        SqlType::Time(p, _) => match p.unwrap_or(0) {
            0 => DataType::Time32(TimeUnit::Second),
            1..=3 => DataType::Time32(TimeUnit::Millisecond),
            p => {
                return Err(SqlError::new(format!(
                    "TIME({p}) is not supported: Flink keeps at most 3 fraction digits"
                )));
            }
        },
        SqlType::Timestamp(p, tz) => {
            let zone = match tz {
                TimezoneInfo::None | TimezoneInfo::WithoutTimeZone => None,
                _ => Some(LOCAL_TIME_ZONE.into()),
            };
            DataType::Timestamp(timestamp_unit(*p)?, zone)
        }
        SqlType::Custom(name, args) if name.to_string().eq_ignore_ascii_case("TIMESTAMP_LTZ") => {
            let p = match args.as_slice() {
                [] => None,
                [p] => Some(p.parse().map_err(|_| {
                    SqlError::new(format!(
                        "TIMESTAMP_LTZ precision must be a number, found {p}"
                    ))
                })?),
                _ => return Err(SqlError::new("TIMESTAMP_LTZ takes one precision")),
            };
            DataType::Timestamp(timestamp_unit(p)?, Some(LOCAL_TIME_ZONE.into()))
        }
        SqlType::Struct(fields, _) => {
            let fields = fields
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    // Flink names unnamed fields f0, f1, ...
                    let name = f
                        .field_name
                        .as_ref()
                        .map_or_else(|| format!("f{i}"), |n| n.value.clone());
                    Ok(Field::new(name, arrow_type(&f.field_type)?, true))
                })
                .collect::<SqlResult<Vec<_>>>()?;
            DataType::Struct(fields.into())
        }
        SqlType::Array(ArrayElemTypeDef::AngleBracket(item)) => {
            DataType::List(Arc::new(Field::new_list_field(arrow_type(item)?, true)))
        }
        // `MULTISET<T>`, as the parser rewrites it.
        SqlType::Map(element, count) if is_multiset_count(count) => {
            multiset_type(arrow_type(element)?)
        }
        SqlType::Map(key, value) => map_type(arrow_type(key)?, arrow_type(value)?),
        SqlType::Bytes(_) | SqlType::Bytea | SqlType::Binary(_) | SqlType::Varbinary(_) => {
            DataType::Binary
        }
        other => {
            return Err(
                SqlError::new(format!("unsupported column type {other}")).with_hint(
                    "supported: STRING, VARCHAR, BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, \
                 DOUBLE, DECIMAL(p, s), DATE, TIME(p), TIMESTAMP(p), TIMESTAMP_LTZ(p), BYTES, BINARY(n), \
                 VARBINARY(n), ROW<name type, ...>, ARRAY<type>, MAP<key type, value type>, \
                 MULTISET<type>",
                ),
            );
        }
    })
}

/// Whether `value` is the value type the parser gives a `MULTISET<T>` written as a map
/// (`MAP(T, MULTISET)`).
fn is_multiset_count(value: &SqlType) -> bool {
    matches!(value, SqlType::Custom(name, args)
        if args.is_empty() && name.to_string().eq_ignore_ascii_case("MULTISET"))
}

/// The field metadata key under which a cast's target type (as [`FlinkTypes`] plans it) holds
/// the length its values are cut to: `n` of `CHAR(n)`, `VARCHAR(n)`, `BINARY(n)` and
/// `VARBINARY(n)`, and the fraction digits `p` of `TIME(p)`.
pub const LENGTH: &str = "rill.length";
/// The field metadata key marking a fixed-length type (`CHAR(n)`, `BINARY(n)`): values shorter
/// than its [`LENGTH`] are padded, with spaces or zero bytes.
pub const PADDED: &str = "rill.padded";

/// The types of `CAST` where Flink's differ from DataFusion's: `TIMESTAMP_LTZ(p)`, `BYTES`,
/// `INTERVAL DAY` and the other intervals (one type in rill), `BITMAP`, `MAP<K, V>` and
/// `MULTISET<T>`, and
/// the lengths of `CHAR(n)` (`CHAR` alone is `CHAR(1)`), `VARCHAR(n)`, `BINARY(n)`,
/// `VARBINARY(n)` and `TIME(p)` (`TIME` alone is `TIME(0)`), which a cast cuts or pads to (as
/// field metadata, see [`LENGTH`]).
#[derive(Debug)]
pub struct FlinkTypes;

impl TypePlanner for FlinkTypes {
    fn plan_type_field(&self, sql: &SqlType) -> datafusion_common::Result<Option<FieldRef>> {
        let char_length = |length: &Option<CharacterLength>| match length {
            Some(CharacterLength::IntegerLength { length, .. }) => Some(*length),
            Some(CharacterLength::Max) => None,
            None => Some(1),
        };
        // The types whose Arrow type is the column type's.
        let column_type =
            || arrow_type(sql).map_err(|e| datafusion_common::DataFusionError::Plan(e.message));
        let (data_type, length, padded) = match sql {
            SqlType::Char(n) | SqlType::Character(n) => (DataType::Utf8, char_length(n), true),
            SqlType::Varchar(Some(n))
            | SqlType::CharVarying(Some(n))
            | SqlType::CharacterVarying(Some(n)) => (DataType::Utf8, char_length(&Some(*n)), false),
            SqlType::Binary(n) => (DataType::Binary, Some(n.unwrap_or(1)), true),
            SqlType::Varbinary(Some(BinaryLength::IntegerLength { length })) => {
                (DataType::Binary, Some(*length), false)
            }
            SqlType::Varbinary(_) | SqlType::Bytes(_) | SqlType::Bytea => {
                (DataType::Binary, None, false)
            }
            SqlType::Time(p, _) => (column_type()?, p.filter(|p| (1..3).contains(p)), false),
            SqlType::Interval { .. } => {
                (DataType::Interval(IntervalUnit::MonthDayNano), None, false)
            }
            SqlType::Custom(name, _) if name.to_string().eq_ignore_ascii_case("BITMAP") => {
                (rill_engine::format::BITMAP, None, false)
            }
            SqlType::Custom(name, _) if name.to_string().eq_ignore_ascii_case("TIMESTAMP_LTZ") => {
                (column_type()?, None, false)
            }
            SqlType::Map(..) => (column_type()?, None, false),
            _ => return Ok(None),
        };
        let mut field = Field::new("", data_type, true);
        if let Some(length) = length {
            let mut metadata = HashMap::from([(LENGTH.to_string(), length.to_string())]);
            if padded {
                metadata.insert(PADDED.into(), "true".into());
            }
            field = field.with_metadata(metadata);
        }
        Ok(Some(Arc::new(field)))
    }
}

/// The unit that stores `precision` fraction digits (Flink's default precision is 6). Other
/// precisions than 0, 3, 6 and 9 are refused: rill would print them with more digits.
fn timestamp_unit(precision: Option<u64>) -> SqlResult<TimeUnit> {
    Ok(match precision.unwrap_or(6) {
        0 => TimeUnit::Second,
        3 => TimeUnit::Millisecond,
        6 => TimeUnit::Microsecond,
        9 => TimeUnit::Nanosecond,
        p @ 1..=9 => {
            return Err(SqlError::new(format!(
                "TIMESTAMP({p}) is not supported yet: use TIMESTAMP(0), (3), (6) or (9)"
            )));
        }
        p => {
            return Err(SqlError::new(format!(
                "TIMESTAMP precision must be between 0 and 9, found {p}"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use datafusion_sql::sqlparser::parser::Parser;

    use super::*;
    use crate::parser::dialect;

    fn map(text: &str) -> SqlResult<DataType> {
        let sql = Parser::new(dialect())
            .try_with_sql(text)
            .unwrap()
            .parse_data_type()
            .unwrap();
        arrow_type(&sql)
    }

    #[test]
    fn flink_types() {
        assert_eq!(map("STRING").unwrap(), DataType::Utf8);
        assert_eq!(map("FLOAT").unwrap(), DataType::Float32);
        assert_eq!(map("DOUBLE").unwrap(), DataType::Float64);
        assert_eq!(map("DECIMAL(12, 2)").unwrap(), DataType::Decimal128(12, 2));
        assert_eq!(
            map("TIMESTAMP(3)").unwrap(),
            DataType::Timestamp(TimeUnit::Millisecond, None)
        );
        assert_eq!(
            map("TIMESTAMP").unwrap(),
            DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert_eq!(
            map("TIMESTAMP_LTZ(3)").unwrap(),
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );
        assert_eq!(
            map("STRUCT<id BIGINT, `dateTime` TIMESTAMP(3)>").unwrap(),
            DataType::Struct(
                vec![
                    Field::new("id", DataType::Int64, true),
                    Field::new(
                        "dateTime",
                        DataType::Timestamp(TimeUnit::Millisecond, None),
                        true
                    ),
                ]
                .into()
            )
        );
        assert_eq!(
            map("ARRAY<BIGINT>").unwrap(),
            DataType::new_list(DataType::Int64, true)
        );
        assert_eq!(
            map("MAP(STRING, ARRAY<INT>)").unwrap().to_string(),
            "Map(\"entries\": non-null Struct(\"key\": non-null Utf8, \"value\": List(Int32)), unsorted)"
        );
        for binary in ["BYTES", "BINARY(4)", "VARBINARY(8)", "VARBINARY"] {
            assert_eq!(map(binary).unwrap(), DataType::Binary, "{binary}");
        }
        assert!(map("DECIMAL(50, 2)").is_err());
        assert!(map("TIMESTAMP(12)").is_err());
    }
}
