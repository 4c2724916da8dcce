//! Flink's catalogue of built-in functions (Flink 2.x, "System (Built-in) Functions"), and
//! which of them rill has.
//!
//! A function rill has gives Flink's answer: `tests/functions` checks each against the Flink
//! oracle. A function rill does not have is refused at planning, with its name and a caret,
//! even where DataFusion has a function of that name: its semantics are not Flink's until the
//! suite says so. Functions Flink lacks but DataFusion has stay available as extras.

use std::ops::ControlFlow;

use datafusion_sql::sqlparser::ast::{
    CeilFloorKind, DateTimeField, Expr, Spanned, Statement, Visit, Visitor,
};

use datafusion_sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::{Position, SqlError, SqlResult};

/// The sections of Flink's function documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Arithmetic,
    Strings,
    Temporal,
    Conditional,
    Conversion,
    Collection,
    Json,
    Hash,
    Grouping,
    Aggregate,
    Bitmap,
    Other,
}

impl Group {
    /// The heading of the group on the functions page.
    pub fn title(self) -> &'static str {
        match self {
            Group::Arithmetic => "Arithmetic and math",
            Group::Strings => "String",
            Group::Temporal => "Temporal",
            Group::Conditional => "Conditional",
            Group::Conversion => "Type conversion",
            Group::Collection => "Collections and value construction",
            Group::Json => "JSON",
            Group::Hash => "Hash",
            Group::Grouping => "Grouping",
            Group::Aggregate => "Aggregate and window",
            Group::Bitmap => "Bitmap",
            Group::Other => "Other",
        }
    }
}

/// A Flink function: its name as written in SQL (a keyword form such as `FLOOR TO` for
/// `FLOOR(t TO unit)`), its group, and whether rill has it.
#[derive(Debug, Clone, Copy)]
pub struct Function {
    pub name: &'static str,
    pub group: Group,
    pub has: bool,
}

const fn has(name: &'static str, group: Group) -> Function {
    Function {
        name,
        group,
        has: true,
    }
}

const fn missing(name: &'static str, group: Group) -> Function {
    Function {
        name,
        group,
        has: false,
    }
}

use Group::*;

/// Every function Flink documents or registers, by group.
pub const FUNCTIONS: &[Function] = &[
    // Arithmetic and math.
    has("ABS", Arithmetic),
    has("ACOS", Arithmetic),
    has("ASIN", Arithmetic),
    has("ATAN", Arithmetic),
    has("ATAN2", Arithmetic),
    has("BIN", Arithmetic),
    has("CEIL", Arithmetic),
    has("CEILING", Arithmetic),
    has("COS", Arithmetic),
    has("COSH", Arithmetic),
    has("COT", Arithmetic),
    has("DEGREES", Arithmetic),
    has("E", Arithmetic),
    has("EXP", Arithmetic),
    has("FLOOR", Arithmetic),
    has("HEX", Arithmetic),
    has("LN", Arithmetic),
    has("LOG", Arithmetic),
    has("LOG10", Arithmetic),
    has("LOG2", Arithmetic),
    has("MOD", Arithmetic),
    has("PI", Arithmetic),
    has("POWER", Arithmetic),
    has("RADIANS", Arithmetic),
    has("RAND", Arithmetic),
    has("RAND_INTEGER", Arithmetic),
    has("ROUND", Arithmetic),
    has("SIGN", Arithmetic),
    has("SIN", Arithmetic),
    has("SINH", Arithmetic),
    has("SQRT", Arithmetic),
    has("TAN", Arithmetic),
    has("TANH", Arithmetic),
    has("TRUNCATE", Arithmetic),
    has("UNHEX", Arithmetic),
    has("UUID", Arithmetic),
    // String.
    has("ASCII", Strings),
    has("BTRIM", Strings),
    has("CHAR_LENGTH", Strings),
    has("CHARACTER_LENGTH", Strings),
    has("CHR", Strings),
    has("CONCAT", Strings),
    has("CONCAT_WS", Strings),
    has("DECODE", Strings),
    has("ELT", Strings),
    has("ENCODE", Strings),
    has("ENDSWITH", Strings),
    has("FROM_BASE64", Strings),
    has("INET_ATON", Strings),
    has("INET_NTOA", Strings),
    has("INITCAP", Strings),
    has("INSTR", Strings),
    has("LEFT", Strings),
    has("LOCATE", Strings),
    has("LOWER", Strings),
    has("LPAD", Strings),
    has("LTRIM", Strings),
    has("OVERLAY", Strings),
    has("PARSE_URL", Strings),
    has("POSITION", Strings),
    has("PRINTF", Strings),
    has("REGEXP", Strings),
    has("REGEXP_COUNT", Strings),
    has("REGEXP_EXTRACT", Strings),
    has("REGEXP_EXTRACT_ALL", Strings),
    has("REGEXP_INSTR", Strings),
    has("REGEXP_REPLACE", Strings),
    has("REGEXP_SUBSTR", Strings),
    has("REPEAT", Strings),
    has("REPLACE", Strings),
    has("REVERSE", Strings),
    has("RIGHT", Strings),
    has("RPAD", Strings),
    has("RTRIM", Strings),
    has("SPLIT", Strings),
    has("SPLIT_INDEX", Strings),
    has("STARTSWITH", Strings),
    has("STR_TO_MAP", Strings),
    has("SUBSTR", Strings),
    has("SUBSTRING", Strings),
    has("TO_BASE64", Strings),
    has("TRANSLATE", Strings),
    has("TRIM", Strings),
    has("UPPER", Strings),
    has("URL_DECODE", Strings),
    has("URL_ENCODE", Strings),
    // Temporal.
    has("CEIL TO", Temporal),
    has("CONVERT_TZ", Temporal),
    has("CURRENT_DATE", Temporal),
    has("CURRENT_ROW_TIMESTAMP", Temporal),
    has("CURRENT_TIME", Temporal),
    has("CURRENT_TIMESTAMP", Temporal),
    has("CURRENT_WATERMARK", Temporal),
    has("DATE_FORMAT", Temporal),
    has("DAYOFMONTH", Temporal),
    has("DAYOFWEEK", Temporal),
    has("DAYOFYEAR", Temporal),
    has("EXTRACT", Temporal),
    has("FLOOR TO", Temporal),
    has("FROM_UNIXTIME", Temporal),
    has("HOUR", Temporal),
    has("LOCALTIME", Temporal),
    has("LOCALTIMESTAMP", Temporal),
    has("MINUTE", Temporal),
    has("MONTH", Temporal),
    has("NOW", Temporal),
    has("OVERLAPS", Temporal),
    has("PROCTIME", Temporal),
    has("QUARTER", Temporal),
    has("SECOND", Temporal),
    missing("SOURCE_WATERMARK", Temporal),
    has("TIMESTAMPADD", Temporal),
    has("TIMESTAMPDIFF", Temporal),
    has("TO_DATE", Temporal),
    has("TO_TIMESTAMP", Temporal),
    has("TO_TIMESTAMP_LTZ", Temporal),
    has("UNIX_TIMESTAMP", Temporal),
    has("WEEK", Temporal),
    has("YEAR", Temporal),
    // Conditional.
    has("BETWEEN SYMMETRIC", Conditional),
    has("COALESCE", Conditional),
    has("GREATEST", Conditional),
    has("IF", Conditional),
    has("IFNULL", Conditional),
    has("IS_ALPHA", Conditional),
    has("IS_DECIMAL", Conditional),
    has("IS_DIGIT", Conditional),
    has("LEAST", Conditional),
    has("NULLIF", Conditional),
    // Type conversion.
    has("CAST", Conversion),
    has("TRY_CAST", Conversion),
    has("TYPEOF", Conversion),
    // Collections and value construction.
    has("ARRAY", Collection),
    has("ARRAY_APPEND", Collection),
    has("ARRAY_CONCAT", Collection),
    has("ARRAY_CONTAINS", Collection),
    has("ARRAY_DISTINCT", Collection),
    has("ARRAY_EXCEPT", Collection),
    has("ARRAY_INTERSECT", Collection),
    has("ARRAY_JOIN", Collection),
    has("ARRAY_MAX", Collection),
    has("ARRAY_MIN", Collection),
    has("ARRAY_POSITION", Collection),
    has("ARRAY_PREPEND", Collection),
    has("ARRAY_REMOVE", Collection),
    has("ARRAY_REVERSE", Collection),
    has("ARRAY_SLICE", Collection),
    has("ARRAY_SORT", Collection),
    has("ARRAY_UNION", Collection),
    has("CARDINALITY", Collection),
    has("ELEMENT", Collection),
    has("MAP", Collection),
    has("MAP_ENTRIES", Collection),
    has("MAP_FROM_ARRAYS", Collection),
    has("MAP_KEYS", Collection),
    has("MAP_UNION", Collection),
    has("MAP_VALUES", Collection),
    has("ROW", Collection),
    // JSON.
    has("IS JSON", Json),
    has("JSON", Json),
    has("JSON_ARRAY", Json),
    has("JSON_ARRAYAGG", Json),
    has("JSON_EXISTS", Json),
    has("JSON_OBJECT", Json),
    has("JSON_OBJECTAGG", Json),
    has("JSON_QUERY", Json),
    has("JSON_QUOTE", Json),
    has("JSON_STRING", Json),
    has("JSON_UNQUOTE", Json),
    has("JSON_VALUE", Json),
    missing("PARSE_JSON", Json),
    missing("TRY_PARSE_JSON", Json),
    // Hash.
    has("MD5", Hash),
    has("SHA1", Hash),
    has("SHA2", Hash),
    has("SHA224", Hash),
    has("SHA256", Hash),
    has("SHA384", Hash),
    has("SHA512", Hash),
    // Grouping.
    has("GROUP_ID", Grouping),
    has("GROUPING", Grouping),
    has("GROUPING_ID", Grouping),
    // Aggregate and window.
    has("ARRAY_AGG", Aggregate),
    has("AVG", Aggregate),
    has("COLLECT", Aggregate),
    has("COUNT", Aggregate),
    missing("CUME_DIST", Aggregate),
    has("DENSE_RANK", Aggregate),
    has("FIRST_VALUE", Aggregate),
    has("LAG", Aggregate),
    has("LAST_VALUE", Aggregate),
    missing("LEAD", Aggregate),
    has("LISTAGG", Aggregate),
    has("MAX", Aggregate),
    has("MIN", Aggregate),
    missing("NTILE", Aggregate),
    missing("PERCENT_RANK", Aggregate),
    has("PERCENTILE", Aggregate),
    has("RANK", Aggregate),
    has("ROW_NUMBER", Aggregate),
    has("STDDEV_POP", Aggregate),
    has("STDDEV_SAMP", Aggregate),
    has("SUM", Aggregate),
    has("VAR_POP", Aggregate),
    has("VAR_SAMP", Aggregate),
    has("VARIANCE", Aggregate),
    // Bitmap.
    has("BITMAP_AND", Bitmap),
    has("BITMAP_ANDNOT", Bitmap),
    has("BITMAP_AND_AGG", Bitmap),
    has("BITMAP_AND_CARDINALITY_AGG", Bitmap),
    has("BITMAP_BUILD", Bitmap),
    has("BITMAP_BUILD_AGG", Bitmap),
    has("BITMAP_BUILD_CARDINALITY_AGG", Bitmap),
    has("BITMAP_CARDINALITY", Bitmap),
    has("BITMAP_FROM_BYTES", Bitmap),
    has("BITMAP_OR", Bitmap),
    has("BITMAP_OR_AGG", Bitmap),
    has("BITMAP_OR_CARDINALITY_AGG", Bitmap),
    has("BITMAP_TO_ARRAY", Bitmap),
    has("BITMAP_TO_BYTES", Bitmap),
    has("BITMAP_TO_STRING", Bitmap),
    has("BITMAP_XOR", Bitmap),
    has("BITMAP_XOR_AGG", Bitmap),
    has("BITMAP_XOR_CARDINALITY_AGG", Bitmap),
    // Other.
    has("CURRENT_DATABASE", Other),
    // Registered by Flink 2.3 (SHOW FUNCTIONS): structured types, changelog and model table
    // functions.
    has("FROM_CHANGELOG", Other),
    missing("ML_PREDICT", Other),
    missing("OBJECT_OF", Other),
    missing("OBJECT_UPDATE", Other),
    has("TO_CHANGELOG", Other),
];

/// The functions page (docs/functions.md): per group, the Flink functions rill has and those
/// it refuses, then `extras`, the functions rill has beyond Flink's (DataFusion's).
pub fn page(extras: &[String]) -> String {
    let has = FUNCTIONS.iter().filter(|f| f.has).count();
    let mut out = format!(
        "# Functions\n\n\
         <!-- Generated from sql/src/functions/catalog.rs by the test \
         `functions_page_is_current` (RILL_BLESS=1 rewrites it); do not edit. -->\n\n\
         rill has {has} of the {} functions and operators Flink documents or registers. Each \
         gives Flink's answer: `tests/functions` checks it against Flink on ordinary values, \
         NULLs, empty strings, unicode and extreme numbers. A Flink function rill does not \
         have yet is refused at planning, with its name and a caret under the call.\n",
        FUNCTIONS.len()
    );
    let mut groups: Vec<Group> = FUNCTIONS.iter().map(|f| f.group).collect();
    groups.dedup();
    for group in groups {
        let names = |has: bool| {
            let names: Vec<String> = FUNCTIONS
                .iter()
                .filter(|f| f.group == group && f.has == has)
                .map(|f| format!("`{}`", f.name))
                .collect();
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        };
        out.push_str(&format!(
            "\n## {}\n\n* Has: {}\n* Not yet: {}\n",
            group.title(),
            names(true),
            names(false)
        ));
    }
    out.push_str(&format!(
        "\n## Beyond Flink\n\nDataFusion's functions that Flink does not have stay \
         available, with DataFusion's semantics: {}.\n",
        extras
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out
}

/// The catalogue entry of `name` (case-insensitive), if Flink has such a function.
pub fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name.eq_ignore_ascii_case(name))
}

const MISSING: &str = " is a Flink function rill does not have yet";

/// The missing function a refusal message names, if it is one of the catalogue's refusals.
pub fn missing_named_in(message: &str) -> Option<&'static str> {
    let name = message.strip_suffix(MISSING)?;
    lookup(name).filter(|f| !f.has).map(|f| f.name)
}

/// The refusal of a statement sqlparser cannot parse because it uses a Flink construct rill
/// does not have (`IS JSON`, `MAP[...]`, a clause of `JSON_VALUE`, ...), pointing at it.
pub fn missing_in_tokens(tokens: &[TokenWithSpan]) -> Option<SqlError> {
    let word = |i: usize| match tokens.get(i).map(|t| &t.token) {
        Some(Token::Word(w)) => Some(w.value.to_ascii_uppercase()),
        _ => None,
    };
    let next = |i: usize| tokens.get(i + 1).map(|t| &t.token);
    (0..tokens.len()).find_map(|i| {
        let w = word(i)?;
        if w == "ON" && matches!(word(i + 1).as_deref(), Some("EMPTY" | "ERROR")) {
            let span = tokens[i].span;
            return Some(SqlError::at(
                format!(
                    "ON {} in a JSON function is not supported yet",
                    word(i + 1).unwrap_or_default()
                ),
                Position::spanning(span.start, tokens[i + 1].span.end),
            ));
        }
        let name = match (w.as_str(), next(i)) {
            ("IS", _) if word(i + 1).as_deref() == Some("JSON") => "IS JSON".to_string(),
            ("IS", _)
                if word(i + 1).as_deref() == Some("NOT")
                    && word(i + 2).as_deref() == Some("JSON") =>
            {
                "IS JSON".to_string()
            }
            (_, Some(Token::LParen | Token::LBracket)) => w,
            _ => return None,
        };
        let f = lookup(&name).filter(|f| !f.has)?;
        let span = tokens[i].span;
        Some(SqlError::at(
            format!("{}{MISSING}", f.name),
            Position::spanning(span.start, span.end),
        ))
    })
}

/// Refuses a statement that calls a Flink function rill does not have, pointing at the call.
pub fn check(statement: &Statement) -> SqlResult<()> {
    struct Calls;
    impl Visitor for Calls {
        type Break = SqlError;
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<SqlError> {
            let name = match expr {
                Expr::Function(f) if f.name.0.len() == 1 => f.name.to_string(),
                Expr::Array(_) => "ARRAY".into(),
                Expr::Map(_) => "MAP".into(),
                Expr::Floor {
                    field: CeilFloorKind::DateTimeField(unit),
                    ..
                } if *unit != DateTimeField::NoDateTime => "FLOOR TO".into(),
                Expr::Ceil {
                    field: CeilFloorKind::DateTimeField(unit),
                    ..
                } if *unit != DateTimeField::NoDateTime => "CEIL TO".into(),
                _ => return ControlFlow::Continue(()),
            };
            match lookup(&name) {
                Some(f) if !f.has => {
                    let span = expr.span();
                    ControlFlow::Break(SqlError::at(
                        format!("{}{MISSING}", f.name),
                        Position::spanning(span.start, span.end),
                    ))
                }
                _ => ControlFlow::Continue(()),
            }
        }
    }
    match statement.visit(&mut Calls) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::{StatementKind, parse_script};

    fn checked(sql: &str) -> SqlResult<()> {
        let parsed = parse_script(sql).unwrap();
        let StatementKind::Sql(statement) = &parsed[0].kind else {
            panic!("not a query")
        };
        check(statement)
    }

    #[test]
    fn names_are_unique_and_upper_case() {
        for (i, f) in FUNCTIONS.iter().enumerate() {
            assert_eq!(f.name, f.name.to_uppercase());
            assert!(
                FUNCTIONS[i + 1..].iter().all(|g| g.name != f.name),
                "{} twice",
                f.name
            );
        }
    }

    #[test]
    fn a_missing_function_is_refused_at_its_call() {
        let e = checked("SELECT id,\n  parse_json(s) FROM t").unwrap_err();
        assert_eq!(
            e.message,
            "PARSE_JSON is a Flink function rill does not have yet"
        );
        assert_eq!(missing_named_in(&e.message), Some("PARSE_JSON"));
        let p = e.position.unwrap();
        assert_eq!((p.line, p.column), (2, 3));
        assert!(checked("SELECT UPPER(s), FLOOR(d), my_udf(s) FROM t").is_ok());
        let e = checked("SELECT TRY_PARSE_JSON(s) FROM t").unwrap_err();
        assert_eq!(missing_named_in(&e.message), Some("TRY_PARSE_JSON"));
    }

    #[test]
    fn a_construct_that_does_not_parse_is_named() {
        let e = parse_script("SELECT JSON_VALUE(s, '$' DEFAULT 1 ON EMPTY) FROM t").unwrap_err();
        assert_eq!(
            e.message,
            "ON EMPTY in a JSON function is not supported yet"
        );
        assert_eq!(e.position.unwrap().column, 36);
    }
}
