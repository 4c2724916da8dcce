//! `SKEW_CORRECTED(event, sent, received, device [, n])`, rill's computed column for event
//! times stamped by devices whose clocks are off: the event time plus the least
//! `received − sent` over the device's last `n` events (100 unless given). See
//! `rill_engine::source::SkewCorrection` for how and why.

use arrow::datatypes::{DataType, Schema, TimeUnit};
use datafusion_sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments, Value,
};
use rill_engine::source::SkewColumns;

use crate::error::{SqlError, SqlResult};

/// The function's name.
pub const SKEW_CORRECTED: &str = "SKEW_CORRECTED";

/// How many of a device's last events the estimate is over, unless the call says.
const DEFAULT_EVENTS: usize = 100;

/// The columns of `stored` a `SKEW_CORRECTED` call reads and its result's type, or `None`
/// when `expr` is not such a call.
pub fn skew_corrected(
    expr: &SqlExpr,
    stored: &Schema,
) -> Option<SqlResult<(SkewColumns, DataType)>> {
    let SqlExpr::Function(f) = expr else {
        return None;
    };
    if f.name.0.len() != 1 || !f.name.to_string().eq_ignore_ascii_case(SKEW_CORRECTED) {
        return None;
    }
    let usage = || {
        SqlError::new(format!(
            "{SKEW_CORRECTED} takes the columns of the event time and the send time by the \
             device's clock, the receive time by the server's and the device, and how many \
             of the device's last events to estimate its clock's offset over (default \
             {DEFAULT_EVENTS})"
        ))
        .with_hint(format!(
            "e.g. event_time AS {SKEW_CORRECTED}(device_time, sent_at, received_at, device, 100)"
        ))
    };
    let FunctionArguments::List(list) = &f.args else {
        return Some(Err(usage()));
    };
    let args: Vec<&SqlExpr> = (list.args.iter())
        .filter_map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect();
    if args.len() != list.args.len() || !(4..=5).contains(&args.len()) {
        return Some(Err(usage()));
    }
    let column = |e: &SqlExpr| -> SqlResult<usize> {
        let SqlExpr::Identifier(ident) = e else {
            return Err(usage());
        };
        stored.index_of(&ident.value).map_err(|_| {
            SqlError::new(format!(
                "{SKEW_CORRECTED} reads stored columns; '{}' is not one of this table's",
                ident.value
            ))
        })
    };
    Some((|| {
        let [event, sent, received, device] = [args[0], args[1], args[2], args[3]].map(column);
        let (event, sent, received, device) = (event?, sent?, received?, device?);
        // A time column's zone, if it is one.
        let zone_of = |at: usize| {
            let field = stored.field(at);
            match field.data_type() {
                DataType::Timestamp(_, zone) => Ok(zone.clone()),
                _ => Err(SqlError::new(format!(
                    "{SKEW_CORRECTED} reads times: '{}' is not a TIMESTAMP or TIMESTAMP_LTZ",
                    field.name()
                ))),
            }
        };
        let zone = zone_of(event)?;
        zone_of(sent)?;
        zone_of(received)?;
        let events = match args.get(4) {
            None => DEFAULT_EVENTS,
            Some(SqlExpr::Value(v)) => match &v.value {
                Value::Number(n, _) => n.parse().ok().filter(|n| *n > 0).ok_or_else(usage)?,
                _ => return Err(usage()),
            },
            Some(_) => return Err(usage()),
        };
        // The event time's type, at milliseconds (Flink's rowtime precision).
        let result = DataType::Timestamp(TimeUnit::Millisecond, zone);
        let columns = SkewColumns {
            event,
            sent,
            received,
            device,
            events,
        };
        Ok((columns, result))
    })())
}
