//! A generator of valid Flink SQL over a fixed schema, in the spirit of SQLsmith: random
//! projections, filters, functions, aggregates, windows, OVER, Top-N, MATCH_RECOGNIZE and
//! joins, typed so that most statements plan; and the data the tables read.

use fastrand::Rng;

/// The tables every case has: `t` (CSV) and `u` (JSON lines), both with a watermark.
pub fn ddl(data_dir: &str) -> String {
    format!(
        "CREATE TABLE t (ts TIMESTAMP(3), k STRING, v BIGINT, x DOUBLE, s STRING,\n  \
         WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)\n  \
         WITH ('connector' = 'filesystem', 'path' = '{data_dir}/t.csv', 'format' = 'csv');\n\
         CREATE TABLE u (ts TIMESTAMP(3), k STRING, n INT, d DECIMAL(10, 2),\n  \
         WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)\n  \
         WITH ('connector' = 'filesystem', 'path' = '{data_dir}/u.json', 'format' = 'json');\n"
    )
}

/// Rows for `t` (CSV) and `u` (JSON lines): mostly ordered times with some late ones, a few
/// keys, NULLs (in JSON; an empty CSV field is NULL only for strings), empty and unicode
/// strings, and (unless `tame`) extreme numbers.
pub fn data(rng: &mut Rng, rows: usize, tame: bool) -> (String, String) {
    let mut csv = String::new();
    let mut json = String::new();
    // Ten seconds into 2024-01-01, so that late rows stay on that day.
    let mut ms: i64 = 1_704_067_210_000;
    for _ in 0..rows {
        ms += rng.i64(0..1500);
        let late = if rng.u8(..) < 20 { rng.i64(0..8000) } else { 0 };
        let ts = timestamp(ms - late);
        let k = ["a", "b", "c", "d", "é✓", ""][rng.usize(..6)];
        let v = match rng.u8(..20) {
            1 if !tame => i64::MAX.to_string(),
            2 if !tame => i64::MIN.to_string(),
            _ => rng.i64(-50..1000).to_string(),
        };
        let x = match rng.u8(..20) {
            1 if !tame => "1e308".into(),
            2 if !tame => "-0.0".into(),
            _ => format!("{:.2}", rng.f64() * 200.0 - 50.0),
        };
        let s = match rng.u8(..10) {
            0 => String::new(),
            1 => "\"with, comma and \"\"quote\"\"\"".into(),
            2 => "ünïcödé 🚀".into(),
            _ => format!("s{}", rng.u32(..50)),
        };
        csv.push_str(&format!("{ts},{k},{v},{x},{s}\n"));
        let n = match rng.u8(..10) {
            0 => "null".to_string(),
            1 => i32::MAX.to_string(),
            _ => rng.i32(-10..100).to_string(),
        };
        json.push_str(&format!(
            "{{\"ts\":\"{ts}\",\"k\":\"{k}\",\"n\":{n},\"d\":{}.{:02}}}\n",
            rng.i32(-999..9999),
            rng.u8(..100)
        ));
    }
    (csv, json)
}

fn timestamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // 2024-01-01 is day 19723 since the epoch; the data spans a few days of January.
    let day = 1 + days - 19_723;
    format!(
        "2024-01-{day:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// The type of a generated expression.
#[derive(Clone, Copy, PartialEq)]
enum Ty {
    Int,
    Num,
    Str,
    Bool,
    Time,
}

/// Columns of `t` by type.
fn column(rng: &mut Rng, ty: Ty, table: &str) -> String {
    let name = match (ty, table) {
        (Ty::Int, "u") => "n",
        (Ty::Num, "u") => "d",
        (Ty::Int, _) => "v",
        (Ty::Num, _) => ["x", "v"][rng.usize(..2)],
        (Ty::Str, _) => ["k", "k", "s"][rng.usize(..3)],
        (Ty::Time, _) => "ts",
        (Ty::Bool, _) => return format!("{} IS NULL", column(rng, Ty::Int, table)),
    };
    if table == "u" && name == "s" {
        return "k".into();
    }
    name.into()
}

/// Expression builder with a depth budget.
struct Exprs<'a> {
    rng: &'a mut Rng,
    table: &'a str,
    /// Only what rill and Flink are known to agree on (see [`comparable_query`]).
    comparable: bool,
}

impl Exprs<'_> {
    /// A choice among `n`, avoiding `risky` ones for comparable queries.
    fn pick(&mut self, n: u8, risky: &[u8]) -> u8 {
        loop {
            let choice = self.rng.u8(..n);
            if !self.comparable || !risky.contains(&choice) {
                return choice;
            }
        }
    }

    fn literal(&mut self, ty: Ty) -> String {
        let r = &mut *self.rng;
        match ty {
            Ty::Int => {
                ["0", "1", "-1", "7", "100", "2147483647", "-2147483648"][r.usize(..7)].into()
            }
            Ty::Num => ["0.5", "1.25", "-3.0", "1e10", "100", "0.001"][r.usize(..6)].into(),
            Ty::Str => ["'a'", "''", "'s1'", "'é✓'", "'%a%'", "'it''s'"][r.usize(..6)].into(),
            Ty::Bool => ["TRUE", "FALSE"][r.usize(..2)].into(),
            Ty::Time => "TIMESTAMP '2024-01-01 00:00:30.000'".into(),
        }
    }

    fn expr(&mut self, ty: Ty, depth: u32) -> String {
        if depth == 0 || self.rng.u8(..10) < 3 {
            // Flink's TIMESTAMP literal is TIMESTAMP(3), DataFusion's has nanoseconds, and
            // arithmetic keeps them (issue #13): comparable times come from columns.
            let literal_time = ty == Ty::Time && self.comparable;
            return if self.rng.u8(..4) == 0 && !literal_time {
                self.literal(ty)
            } else {
                column(self.rng, ty, self.table)
            };
        }
        let d = depth - 1;
        match ty {
            // Risky for comparison: MOD by zero, CAST's rounding.
            Ty::Int => match self.pick(9, &[3, 6]) {
                0 => format!("({} + {})", self.expr(Ty::Int, d), self.expr(Ty::Int, d)),
                1 => format!("({} - {})", self.expr(Ty::Int, d), self.expr(Ty::Int, d)),
                2 => format!("({} * {})", self.expr(Ty::Int, d), self.expr(Ty::Int, d)),
                3 => format!("MOD({}, {})", self.expr(Ty::Int, d), self.expr(Ty::Int, d)),
                4 => format!("ABS({})", self.expr(Ty::Int, d)),
                5 => format!("CHAR_LENGTH({})", self.expr(Ty::Str, d)),
                6 => format!("CAST({} AS BIGINT)", self.expr(Ty::Num, d)),
                7 => self.case(Ty::Int, d),
                _ => format!(
                    "COALESCE({}, {})",
                    self.expr(Ty::Int, d),
                    self.literal(Ty::Int)
                ),
            },
            // Risky: division by zero, ROUND's and POWER's last bits, FLOOR's type (Flink
            // keeps BIGINT and DECIMAL, DataFusion returns DOUBLE: issue #13).
            Ty::Num => match self.pick(9, &[2, 3, 4, 5]) {
                0 => format!("({} + {})", self.expr(Ty::Num, d), self.expr(Ty::Num, d)),
                1 => format!("({} * {})", self.expr(Ty::Num, d), self.expr(Ty::Num, d)),
                2 => format!("({} / {})", self.expr(Ty::Num, d), self.expr(Ty::Num, d)),
                3 => format!("ROUND({}, {})", self.expr(Ty::Num, d), self.rng.u8(..4)),
                4 => format!("FLOOR({})", self.expr(Ty::Num, d)),
                5 => format!("POWER({}, 2)", self.expr(Ty::Num, d)),
                6 => format!("CAST({} AS DOUBLE)", self.expr(Ty::Int, d)),
                7 => self.case(Ty::Num, d),
                _ => format!(
                    "NULLIF({}, {})",
                    self.expr(Ty::Num, d),
                    self.literal(Ty::Num)
                ),
            },
            // Risky: SUBSTRING from 0 or below; CONCAT with NULL (DataFusion's skips NULLs,
            // Flink's is NULL: issue #13).
            Ty::Str => match self.pick(8, &[3, 4]) {
                0 => format!("UPPER({})", self.expr(Ty::Str, d)),
                1 => format!("LOWER({})", self.expr(Ty::Str, d)),
                2 => format!("TRIM({})", self.expr(Ty::Str, d)),
                3 => format!(
                    "SUBSTRING({} FROM {} FOR {})",
                    self.expr(Ty::Str, d),
                    self.rng.i8(-2..5),
                    self.rng.u8(..6)
                ),
                4 => format!(
                    "CONCAT({}, {})",
                    self.expr(Ty::Str, d),
                    self.expr(Ty::Str, d)
                ),
                5 => format!("({} || {})", self.expr(Ty::Str, d), self.expr(Ty::Str, d)),
                6 => format!("CAST({} AS STRING)", self.expr(Ty::Int, d)),
                _ => self.case(Ty::Str, d),
            },
            Ty::Bool => match self.rng.u8(..9) {
                0 => format!(
                    "({} AND {})",
                    self.expr(Ty::Bool, d),
                    self.expr(Ty::Bool, d)
                ),
                1 => format!("({} OR {})", self.expr(Ty::Bool, d), self.expr(Ty::Bool, d)),
                2 => format!("NOT {}", self.expr(Ty::Bool, d)),
                3 => format!("{} IS NOT NULL", self.expr(Ty::Str, d)),
                4 => format!(
                    "{} BETWEEN {} AND {}",
                    self.expr(Ty::Int, d),
                    self.literal(Ty::Int),
                    self.literal(Ty::Int)
                ),
                5 => format!("{} LIKE {}", self.expr(Ty::Str, d), self.literal(Ty::Str)),
                6 => format!(
                    "{} IN ({}, {}, {})",
                    self.expr(Ty::Int, d),
                    self.literal(Ty::Int),
                    self.literal(Ty::Int),
                    self.literal(Ty::Int)
                ),
                7 => format!("{} > {}", self.expr(Ty::Time, d), self.literal(Ty::Time)),
                _ => {
                    let ty = [Ty::Int, Ty::Num, Ty::Str][self.rng.usize(..3)];
                    let op = ["=", "<>", "<", "<=", ">", ">="][self.rng.usize(..6)];
                    format!("{} {op} {}", self.expr(ty, d), self.expr(ty, d))
                }
            },
            Ty::Time => match self.rng.u8(..2) {
                0 => format!(
                    "{} + INTERVAL '{}' SECOND",
                    self.expr(Ty::Time, d),
                    self.rng.u8(..90)
                ),
                _ => format!("{} - INTERVAL '1' MINUTE", self.expr(Ty::Time, d)),
            },
        }
    }

    fn case(&mut self, ty: Ty, d: u32) -> String {
        format!(
            "CASE WHEN {} THEN {} ELSE {} END",
            self.expr(Ty::Bool, d),
            self.expr(ty, d),
            self.expr(ty, d)
        )
    }

    fn any(&mut self, depth: u32) -> String {
        let ty = [Ty::Int, Ty::Num, Ty::Str, Ty::Bool, Ty::Time][self.rng.usize(..5)];
        self.expr(ty, depth)
    }

    fn aggregate(&mut self) -> String {
        let r = self.rng.u8(..8);
        match r {
            0 => "COUNT(*)".into(),
            1 => format!("COUNT(DISTINCT {})", self.expr(Ty::Str, 1)),
            2 => format!("SUM({})", self.expr(Ty::Int, 2)),
            3 => format!("AVG({})", self.expr(Ty::Num, 1)),
            4 => format!("MIN({})", self.expr(Ty::Str, 1)),
            5 => format!("MAX({})", self.expr(Ty::Num, 2)),
            6 => format!("COUNT(*) FILTER (WHERE {})", self.expr(Ty::Bool, 2)),
            _ => format!(
                "SUM({}) + MIN({})",
                self.expr(Ty::Int, 1),
                self.expr(Ty::Int, 1)
            ),
        }
    }
}

/// A random query over `t` (and sometimes `u`).
pub fn query(rng: &mut Rng) -> String {
    let table = if rng.u8(..5) == 0 { "u" } else { "t" };
    let shape = rng.u8(..12);
    shaped(
        Exprs {
            rng,
            table,
            comparable: false,
        },
        shape,
    )
}

/// A random query over `t` whose answer rill and Flink should agree on: no MATCH_RECOGNIZE
/// (Flink deviates from SQL:2016 in places), no ranking by times that may tie, no joins,
/// and none of the risky expressions.
pub fn comparable_query(rng: &mut Rng) -> String {
    let shape = [0, 1, 2, 3, 4, 5, 11][rng.usize(..7)];
    shaped(
        Exprs {
            rng,
            table: "t",
            comparable: true,
        },
        shape,
    )
}

fn shaped(mut e: Exprs, shape: u8) -> String {
    let table = e.table;
    match shape {
        0 | 1 => {
            let n = e.rng.usize(1..5);
            let cols: Vec<String> = (0..n).map(|i| format!("{} AS c{i}", e.any(3))).collect();
            format!(
                "SELECT {} FROM {table} WHERE {}",
                cols.join(", "),
                e.expr(Ty::Bool, 3)
            )
        }
        2 => format!(
            "SELECT k, {} AS a, {} AS b FROM {table} GROUP BY k HAVING {}",
            e.aggregate(),
            e.aggregate(),
            ["COUNT(*) > 1", "TRUE", "MIN(k) IS NOT NULL"][e.rng.usize(..3)]
        ),
        3 => format!("SELECT DISTINCT {} AS c FROM {table}", e.expr(Ty::Str, 2)),
        4 | 5 => {
            let tvf = window_tvf(e.rng, table, true);
            // SESSION windows are per key: the key is grouped by.
            let keys = if e.rng.bool() || tvf.starts_with("SESSION") {
                ", k"
            } else {
                ""
            };
            format!(
                "SELECT window_start, window_end{keys}, {} AS a, {} AS b\n\
                 FROM TABLE({tvf})\nGROUP BY window_start, window_end{keys}",
                e.aggregate(),
                e.aggregate()
            )
        }
        6 => {
            let tvf = window_tvf(e.rng, table, false);
            format!(
                "SELECT * FROM (\n  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, \
                 window_end ORDER BY ts {}) AS rownum\n  FROM TABLE({tvf})\n) WHERE rownum <= {}",
                ["ASC", "DESC"][e.rng.usize(..2)],
                e.rng.u8(1..4)
            )
        }
        7 => {
            let agg = ["SUM", "COUNT", "MAX", "MIN", "AVG"][e.rng.usize(..5)];
            let frame = if e.rng.bool() {
                format!("ROWS BETWEEN {} PRECEDING AND CURRENT ROW", e.rng.u8(..5))
            } else {
                format!(
                    "RANGE BETWEEN INTERVAL '{}' SECOND PRECEDING AND CURRENT ROW",
                    e.rng.u8(1..30)
                )
            };
            let column = column(e.rng, Ty::Int, table);
            format!(
                "SELECT k, ts, {agg}({column}) OVER (PARTITION BY k ORDER BY ts {frame}) AS o \
                 FROM {table}"
            )
        }
        8 | 9 => match_recognize(&mut e),
        10 => join(&mut e),
        _ => format!(
            "SELECT c, COUNT(*) AS n FROM (SELECT {} AS c FROM {table} WHERE {}) GROUP BY c",
            e.expr(Ty::Str, 2),
            e.expr(Ty::Bool, 2)
        ),
    }
}

/// A join of `t` and `u`: regular (any type, any extra condition, also over an aggregate),
/// interval, window, temporal, or a semi/anti join from a subquery.
fn join(e: &mut Exprs) -> String {
    let kind = ["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"][e.rng.usize(..4)];
    let condition = [
        "t.v > u.n".to_string(),
        "TRUE".to_string(),
        "t.ts BETWEEN u.ts - INTERVAL '5' SECOND AND u.ts".to_string(),
        "u.ts > t.ts AND u.ts <= t.ts + INTERVAL '3' SECOND".to_string(),
        format!("{} IS NOT NULL", e.expr(Ty::Int, 2)),
    ][e.rng.usize(..5)]
    .clone();
    match e.rng.u8(..5) {
        0 | 1 => format!("SELECT t.k, t.v, u.n FROM t {kind} u ON t.k = u.k AND {condition}"),
        2 => format!(
            "SELECT a.k, a.c, u.n FROM (SELECT k, COUNT(*) AS c FROM t GROUP BY k) a \
             {kind} u ON a.k = u.k"
        ),
        3 => {
            let (tvf_t, tvf_u) = (window_tvf(e.rng, "t", false), window_tvf(e.rng, "u", false));
            format!(
                "SELECT a.k, a.window_start, b.n FROM (SELECT * FROM TABLE({tvf_t})) a \
                 {kind} (SELECT * FROM TABLE({tvf_u})) b ON a.k = b.k \
                 AND a.window_start = b.window_start AND a.window_end = b.window_end"
            )
        }
        _ => format!(
            "SELECT k, v FROM t WHERE {}",
            [
                "k IN (SELECT k FROM u WHERE n > 0)",
                "k NOT IN (SELECT k FROM u)",
                "EXISTS (SELECT 1 FROM u WHERE u.k = t.k AND u.ts < t.ts)",
                "NOT EXISTS (SELECT 1 FROM u WHERE u.k = t.k)",
            ][e.rng.usize(..4)]
        ),
    }
}

/// A window table function over `table`; SESSION only if `session` (it feeds aggregations
/// only).
fn window_tvf(rng: &mut Rng, table: &str, session: bool) -> String {
    match rng.u8(..if session { 4 } else { 3 }) {
        0 => format!(
            "TUMBLE(TABLE {table}, DESCRIPTOR(ts), INTERVAL '{}' SECOND)",
            [1, 5, 10, 60][rng.usize(..4)]
        ),
        1 => format!(
            "HOP(TABLE {table}, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '{}' SECOND)",
            [5, 10, 15][rng.usize(..3)]
        ),
        2 => format!(
            "CUMULATE(TABLE {table}, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '{}' SECOND)",
            [2, 4, 10][rng.usize(..3)]
        ),
        _ => format!(
            "SESSION(TABLE {table} PARTITION BY k, DESCRIPTOR(ts), INTERVAL '{}' SECOND)",
            [1, 3, 10][rng.usize(..3)]
        ),
    }
}

/// A random pattern over variables A, B and C.
fn pattern(rng: &mut Rng, depth: u32) -> String {
    let atom = |rng: &mut Rng| ["A", "B", "C"][rng.usize(..3)].to_string();
    let quantifier = |rng: &mut Rng| {
        [
            "", "", "*", "+", "?", "{2}", "{1,3}", "{2,}", "*?", "+?", "??",
        ][rng.usize(..11)]
    };
    if depth == 0 {
        return format!("{}{}", atom(rng), quantifier(rng));
    }
    match rng.u8(..6) {
        0 => format!(
            "({} | {})",
            pattern(rng, depth - 1),
            pattern(rng, depth - 1)
        ),
        1 => format!("({}){}", pattern(rng, depth - 1), quantifier(rng)),
        2 => format!("PERMUTE({}, {})", atom(rng), atom(rng)),
        _ => format!("{} {}", pattern(rng, depth - 1), pattern(rng, depth - 1)),
    }
}

fn match_recognize(e: &mut Exprs) -> String {
    let pattern = pattern(e.rng, 2);
    let within = if e.rng.bool() {
        format!(" WITHIN INTERVAL '{}' SECOND", e.rng.u8(1..30))
    } else {
        String::new()
    };
    let column = column(e.rng, Ty::Int, e.table);
    // Only variables of the pattern may be defined, measured or skipped to.
    let variables: Vec<&str> = ["A", "B", "C"]
        .into_iter()
        .filter(|v| pattern.contains(v))
        .collect();
    let defines = variables
        .iter()
        .map(|v| {
            let condition = match e.rng.u8(..5) {
                0 => format!("{v}.{column} > PREV({v}.{column})"),
                1 => format!("{v}.{column} < LAST({v}.{column}, 1)"),
                2 => format!("SUM({v}.{column}) > {}", e.rng.i32(..500)),
                3 => format!(
                    "{v}.{column} IS NULL OR {v}.{column} > {}",
                    e.rng.i32(..500)
                ),
                _ => e.expr(Ty::Bool, 2),
            };
            format!("{v} AS {condition}")
        })
        .collect::<Vec<_>>()
        .join(",\n    ");
    let first = variables[0];
    let last = variables[variables.len() - 1];
    let measures = format!(
        "FIRST({first}.ts) AS first_ts, LAST({last}.{column}) AS last_value, \
         COUNT({last}.{column}) AS n, MATCH_NUMBER() AS mn, CLASSIFIER() AS cl"
    );
    let rows = if e.rng.u8(..3) == 0 {
        "ALL ROWS PER MATCH"
    } else {
        "ONE ROW PER MATCH"
    };
    let skip = match e.rng.u8(..4) {
        0 => "SKIP PAST LAST ROW".to_string(),
        1 => "SKIP TO NEXT ROW".to_string(),
        2 => format!("SKIP TO FIRST {last}"),
        _ => format!("SKIP TO LAST {first}"),
    };
    format!(
        "SELECT * FROM {} MATCH_RECOGNIZE (\n  PARTITION BY k ORDER BY ts\n  \
         MEASURES {measures}\n  {rows}\n  AFTER MATCH {skip}\n  \
         PATTERN ({pattern}){within}\n  DEFINE {defines}\n) AS m",
        e.table
    )
}
