//! Planning joins: DataFusion's `Join` nodes (also the semi and anti joins it makes of `IN` and
//! `EXISTS` subqueries) become regular streaming joins.

use arrow::datatypes::{DataType, TimeUnit};
use datafusion_common::{DFSchema, NullEquality, ScalarValue};
use datafusion_expr::type_coercion::binary::comparison_coercion;
use datafusion_expr::utils::{conjunction, disjunction, split_conjunction};
use datafusion_expr::{
    Between, BinaryExpr, Expr, ExprSchemable, Join, JoinType as DfJoinType, LogicalPlan, Operator,
};
use rill_engine::dataflow::NodeId;
use rill_engine::operator::{
    IntervalBounds, IntervalJoin, Join as JoinOperator, JoinSpec, JoinType, LookupJoin,
    TemporalJoin, WindowJoin,
};

use super::{StreamOperator, StreamPlanner, output_schema};
use crate::catalog::{ComputedDef, TableDef};
use crate::error::{SqlError, SqlResult};
use crate::functions::clock::PROCTIME;
use crate::temporal::{AS_OF_MARKER, decode_refusal};
use crate::window::{WINDOW_COLUMNS, WindowTvf, interval_millis};

/// A join's inputs: their plans and their nodes, left then right.
type Inputs<'p> = ([&'p LogicalPlan; 2], [NodeId; 2]);

impl StreamPlanner<'_> {
    /// A join, of the kind Flink would pick: temporal (`FOR SYSTEM_TIME AS OF`), window (on
    /// `window_start` and `window_end`), interval (bounds between time attributes), else
    /// regular; inner joins of three or more inputs on one key, multi-way.
    pub(super) fn join(&mut self, join: &Join) -> SqlResult<NodeId> {
        if let Some(node) = self.multi_join(join)? {
            return Ok(node);
        }
        let (join_type, swap) = match join.join_type {
            DfJoinType::Inner => (JoinType::Inner, false),
            DfJoinType::Left => (JoinType::Left, false),
            DfJoinType::Right => (JoinType::Right, false),
            DfJoinType::Full => (JoinType::Full, false),
            DfJoinType::LeftSemi => (JoinType::Semi, false),
            DfJoinType::LeftAnti => (JoinType::Anti, false),
            DfJoinType::RightSemi => (JoinType::Semi, true),
            DfJoinType::RightAnti => (JoinType::Anti, true),
            DfJoinType::LeftMark | DfJoinType::RightMark => {
                return Err(SqlError::new(
                    "a subquery (IN / EXISTS) combined with other conditions by OR or NOT \
                     is not supported on streams yet",
                ));
            }
        };
        let (left, right) = match swap {
            false => (join.left.as_ref(), join.right.as_ref()),
            true => (join.right.as_ref(), join.left.as_ref()),
        };
        let mut on: Vec<(Expr, Expr)> = join
            .on
            .iter()
            .map(|(l, r)| match swap {
                false => (l.clone(), r.clone()),
                true => (r.clone(), l.clone()),
            })
            .collect();
        let mut filter = join.filter.clone();
        if join.null_aware {
            // `NOT IN`: a row is dropped by a right row with an equal key or any NULL key, as
            // Flink plans it: (l IS NULL OR r IS NULL OR l = r), a join on no key.
            let conditions = on.drain(..).map(|(l, r)| {
                disjunction([l.clone().is_null(), r.clone().is_null(), l.eq(r)])
                    .expect("three terms")
            });
            filter = conditions.chain(filter).reduce(Expr::and);
        }
        let left_node = self.plan(left)?;
        let unbounded_before = std::mem::replace(&mut self.unbounded_input, false);
        let right_node = self.plan(right)?;
        let right_unbounded = self.unbounded_input;
        self.unbounded_input |= unbounded_before;
        let joined = left.schema().join(right.schema())?;
        let key_types = on
            .iter()
            .map(|(l, r)| {
                let (lt, rt) = (l.get_type(left.schema())?, r.get_type(right.schema())?);
                comparison_coercion(&lt, &rt)
                    .ok_or_else(|| SqlError::new(format!("cannot join on {l} ({lt}) = {r} ({rt})")))
            })
            .collect::<SqlResult<Vec<_>>>()?;
        let keys = |side: &LogicalPlan, exprs: Vec<Expr>| self.physicals(&exprs, side.schema());
        let spec = JoinSpec {
            join_type,
            keys: [
                keys(left, on.iter().map(|(l, _)| l.clone()).collect())?,
                keys(right, on.iter().map(|(_, r)| r.clone()).collect())?,
            ],
            key_types,
            nulls_equal: join.null_equality == NullEquality::NullEqualsNull,
            filter: filter
                .as_ref()
                .map(|f| self.physical(f, &joined))
                .transpose()?,
            inputs: [output_schema(left.schema()), output_schema(right.schema())],
            output: output_schema(&join.schema),
        };
        let left_len = left.schema().fields().len();
        if let Some(as_of) = filter.as_ref().and_then(|f| as_of(f, &joined, left_len)) {
            let spec = JoinSpec {
                filter: (as_of.residual)
                    .map(|f| self.physical(&f, &joined))
                    .transpose()?,
                ..spec
            };
            if self.proctime_attributes(left).contains(&as_of.times[0]) {
                return self.lookup_join(spec, [left_node, right_node], right_unbounded);
            }
            if let Some(refusal) = as_of.refusal {
                return Err(refusal);
            }
            return self.temporal_join(spec, [left_node, right_node], as_of.times);
        }
        let inputs = ([left, right], [left_node, right_node]);
        if let Some(node) = self.window_join(&spec, &on, inputs)? {
            return Ok(node);
        }
        if let Some(node) = self.interval_join(&spec, filter.as_ref(), &joined, inputs)? {
            return Ok(node);
        }
        self.regular_join(spec, inputs)
    }

    /// Both inputs kept in state, any changelog in; updating out when an input updates or
    /// the join pads or retracts rows of its own accord.
    fn regular_join(
        &mut self,
        spec: JoinSpec,
        ([left, right], [left_node, right_node]): Inputs,
    ) -> SqlResult<NodeId> {
        let join_type = spec.join_type;
        let ttl = [self.state_ttl_of(left), self.state_ttl_of(right)];
        let memory = self.join_memory;
        let node = self.add_join([left_node, right_node], &spec, |_| {
            let join = JoinOperator::new(spec.clone(), ttl)?;
            Ok(Box::new(join.spilling_beyond(memory)))
        })?;
        let pads_or_retracts = matches!(
            join_type,
            JoinType::Left | JoinType::Right | JoinType::Full | JoinType::Anti
        );
        if pads_or_retracts
            || self.updating.contains(&left_node)
            || self.updating.contains(&right_node)
        {
            self.updating.insert(node);
            self.folded_changes.insert(node);
        }
        self.no_time_attribute.insert(node);
        Ok(node)
    }

    /// A window join, when both inputs are windowed and the keys pair their `window_start`
    /// and `window_end`.
    fn window_join(
        &mut self,
        spec: &JoinSpec,
        on: &[(Expr, Expr)],
        ([left, right], [left_node, right_node]): Inputs,
    ) -> SqlResult<Option<NodeId>> {
        let (Some(l), Some(r)) = (self.window_bounds(left), self.window_bounds(right)) else {
            return Ok(None);
        };
        let is_pair = |(a, b): &(Expr, Expr), i: usize, j: usize| match (a, b) {
            (Expr::Column(a), Expr::Column(b)) => {
                left.schema().index_of_column(a).ok() == Some(i)
                    && right.schema().index_of_column(b).ok() == Some(j)
            }
            _ => false,
        };
        if !(on.iter().any(|p| is_pair(p, l.0, r.0)) && on.iter().any(|p| is_pair(p, l.1, r.1))) {
            return Ok(None);
        }
        self.append_only_join_inputs("a window join", [left_node, right_node])?;
        let node = self.add_join([left_node, right_node], spec, |planner| {
            let late = [
                planner
                    .late_rows(left_node, spec.inputs[0].clone(), false)?
                    .1,
                planner
                    .late_rows(right_node, spec.inputs[1].clone(), false)?
                    .1,
            ];
            Ok(Box::new(WindowJoin::new(spec.clone(), [l.1, r.1], late)?))
        })?;
        Ok(Some(node))
    }

    /// An interval join, when the condition bounds the time attributes of both inputs.
    fn interval_join(
        &mut self,
        spec: &JoinSpec,
        filter: Option<&Expr>,
        joined: &DFSchema,
        ([left, right], [left_node, right_node]): Inputs,
    ) -> SqlResult<Option<NodeId>> {
        let (Some(filter), false) = (filter, spec.join_type.is_semi_or_anti()) else {
            return Ok(None);
        };
        let times = [self.time_attributes(left), self.time_attributes(right)];
        let left_len = left.schema().fields().len();
        let Some((bounds, residual)) = interval_bounds(filter, joined, left_len, &times) else {
            return Ok(None);
        };
        self.append_only_join_inputs("an interval join", [left_node, right_node])?;
        let spec = JoinSpec {
            filter: residual.map(|f| self.physical(&f, joined)).transpose()?,
            ..spec.clone()
        };
        let node = self.add_join([left_node, right_node], &spec, |_| {
            Ok(Box::new(IntervalJoin::new(spec.clone(), bounds)?))
        })?;
        Ok(Some(node))
    }

    /// Adds a join made by `make` over `inputs`, keyed on both sides by `spec`'s equi-keys
    /// (as their common types).
    fn add_join(
        &mut self,
        inputs: [NodeId; 2],
        spec: &JoinSpec,
        make: impl FnMut(&mut Self) -> SqlResult<Box<dyn StreamOperator>>,
    ) -> SqlResult<NodeId> {
        let keyed = inputs
            .into_iter()
            .zip(&spec.keys)
            .map(|(node, keys)| {
                (
                    node,
                    keys.iter().cloned().zip(spec.key_types.clone()).collect(),
                )
            })
            .collect();
        let node = self.add_keyed(keyed, spec.output.clone(), make)?;
        if let Some(shared) = &mut self.shared {
            // A side an outer join pads with NULLs is not that table's rows any more.
            let kept = match spec.join_type {
                JoinType::Left => [true, false],
                JoinType::Right => [false, true],
                JoinType::Full => [false, false],
                _ => [true, true],
            };
            let widths = spec.inputs.clone().map(|schema| schema.fields().len());
            shared.concatenate(node, &inputs, &kept, &widths, spec.output.fields().len());
        }
        Ok(node)
    }

    /// Refuses updating inputs for `what`, as Flink does.
    fn append_only_join_inputs(&self, what: &str, nodes: [NodeId; 2]) -> SqlResult<()> {
        if nodes.iter().any(|n| self.updating.contains(n)) {
            return Err(SqlError::new(format!(
                "{what} needs append-only inputs (as in Flink), but an input of this one is \
                 an updating result"
            )));
        }
        self.no_processing_time_windows(what, &nodes)
    }

    /// `probe JOIN versioned FOR SYSTEM_TIME AS OF probe.time`: an event-time temporal join
    /// (a table without a primary key or time attribute was refused by its marker).
    fn temporal_join(
        &mut self,
        spec: JoinSpec,
        [left_node, right_node]: [NodeId; 2],
        times: [usize; 2],
    ) -> SqlResult<NodeId> {
        if !matches!(spec.join_type, JoinType::Inner | JoinType::Left) {
            return Err(SqlError::new(format!(
                "a temporal join (FOR SYSTEM_TIME AS OF) is INNER or LEFT, not {}",
                spec.join_type.name()
            )));
        }
        let node = self.add_join([left_node, right_node], &spec, |_| {
            Ok(Box::new(TemporalJoin::new(spec.clone(), times)?))
        })?;
        // Results have the probe rows' change kinds.
        if self.updating.contains(&left_node) {
            self.updating.insert(node);
        }
        Ok(node)
    }

    /// `probe JOIN table FOR SYSTEM_TIME AS OF probe.proctime`: a lookup join, against a table
    /// that ends (read once, then probed; Flink only looks up connectors that can be queried
    /// by key, so it refuses this for today's filesystem connector).
    fn lookup_join(
        &mut self,
        spec: JoinSpec,
        [left_node, right_node]: [NodeId; 2],
        right_unbounded: bool,
    ) -> SqlResult<NodeId> {
        if !matches!(spec.join_type, JoinType::Inner | JoinType::Left) {
            return Err(SqlError::new(format!(
                "a lookup join (FOR SYSTEM_TIME AS OF a PROCTIME() attribute) is INNER or \
                 LEFT, not {}",
                spec.join_type.name()
            )));
        }
        if spec.key_types.is_empty() {
            return Err(SqlError::new(
                "Temporal table join requires an equality condition on fields of table: a \
                 lookup join finds the table's rows by key",
            ));
        }
        if right_unbounded {
            return Err(SqlError::new(
                "a lookup join (FOR SYSTEM_TIME AS OF a PROCTIME() attribute) reads its table \
                 to the end before joining, but this table never ends (standard input, a \
                 followed file or an unbounded topic)",
            )
            .with_hint(
                "join on event time instead: give the table a PRIMARY KEY and a WATERMARK, \
                 and the probe side's rowtime after AS OF",
            ));
        }
        if self.shared.is_some() {
            return Err(SqlError::new(
                "a lookup join in a job shared by several processes is not supported yet",
            ));
        }
        let node = self.add_join([left_node, right_node], &spec, |_| {
            Ok(Box::new(LookupJoin::new(spec.clone())?))
        })?;
        // Results have the probe rows' change kinds and time attributes.
        self.inherit(node, left_node);
        Ok(node)
    }

    /// The `window_start` and `window_end` columns of `plan`'s rows, when its rows belong to
    /// windows: rows of a window table function or of a window aggregation, passed on
    /// unchanged through filters, aliases and projections.
    pub(super) fn window_bounds(&self, plan: &LogicalPlan) -> Option<(usize, usize)> {
        let named = |schema: &DFSchema| {
            let index = |name: &str| schema.index_of_column_by_name(None, name);
            Some((index(WINDOW_COLUMNS[0])?, index(WINDOW_COLUMNS[1])?))
        };
        match plan {
            LogicalPlan::Extension(e) if e.node.as_any().is::<WindowTvf>() => {
                named(e.node.schema())
            }
            LogicalPlan::Aggregate(a) => {
                let (start, end) = self.window_bounds(&a.input)?;
                let position = |i| passed_on(&a.group_expr, a.input.schema(), i);
                Some((position(start)?, position(end)?))
            }
            LogicalPlan::Filter(f) => self.window_bounds(&f.input),
            LogicalPlan::SubqueryAlias(a) => self.window_bounds(&a.input),
            LogicalPlan::Projection(p) => {
                let (start, end) = self.window_bounds(&p.input)?;
                let position = |i| passed_on(&p.expr, p.input.schema(), i);
                Some((position(start)?, position(end)?))
            }
            _ => None,
        }
    }

    /// The columns of `plan`'s rows that are processing-time attributes: `PROCTIME()`, in a
    /// table's computed column or a projection, passed on unchanged through filters, aliases
    /// and projections.
    pub(super) fn proctime_attributes(&self, plan: &LogicalPlan) -> Vec<usize> {
        let columns = |table: &TableDef| {
            (table.computed.iter())
                .filter(|(_, def)| matches!(def, ComputedDef::Expr(e) if is_proctime(e)))
                .map(|(i, _)| table.schema.field(*i).name().clone())
                .collect()
        };
        self.attributes(plan, &columns, is_proctime)
    }

    /// Refuses to order `what` by column `time` of `plan`'s rows when it is a `PROCTIME()`
    /// attribute: rill orders by event time only, and would otherwise order by the clock's
    /// readings against the event-time watermark.
    pub(super) fn event_time_only(
        &self,
        plan: &LogicalPlan,
        time: usize,
        what: &str,
    ) -> SqlResult<()> {
        if self.proctime_attributes(plan).contains(&time) {
            return Err(SqlError::new(format!(
                "{what} on processing time (a PROCTIME() attribute) is not supported yet: \
                 use an event-time attribute (a column with a WATERMARK)"
            )));
        }
        Ok(())
    }

    /// The columns of `plan`'s rows that are time attributes: a table's watermarked column,
    /// passed on unchanged through filters, aliases and projections.
    pub(super) fn time_attributes(&self, plan: &LogicalPlan) -> Vec<usize> {
        let columns = |table: &TableDef| table.watermark.iter().map(|w| w.column.clone()).collect();
        self.attributes(plan, &columns, |_| false)
    }

    /// The columns of `plan`'s rows that are a kind of attribute: the `columns` of a table
    /// that have it, and the expressions of a projection that `make` it, passed on unchanged
    /// through filters, aliases and projections.
    fn attributes(
        &self,
        plan: &LogicalPlan,
        columns: &dyn Fn(&TableDef) -> Vec<String>,
        make: fn(&Expr) -> bool,
    ) -> Vec<usize> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                let Some(table) = self.tables.get(scan.table_name.table()) else {
                    return Vec::new();
                };
                (columns(table).iter())
                    .filter_map(|name| scan.projected_schema.index_of_column_by_name(None, name))
                    .collect()
            }
            LogicalPlan::Filter(f) => self.attributes(&f.input, columns, make),
            LogicalPlan::SubqueryAlias(a) => self.attributes(&a.input, columns, make),
            LogicalPlan::Projection(p) => {
                let input = self.attributes(&p.input, columns, make);
                let passes = |e: &Expr| {
                    make(&e.clone().unalias())
                        || column_of(e, p.input.schema()).is_some_and(|i| input.contains(&i))
                };
                (0..p.expr.len()).filter(|&i| passes(&p.expr[i])).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// Whether `expr` is a call of `PROCTIME()`.
pub(super) fn is_proctime(expr: &Expr) -> bool {
    matches!(expr, Expr::ScalarFunction(f) if f.func.name() == PROCTIME)
}

/// The input column `expr` is (maybe renamed), in `input`.
pub(super) fn column_of(expr: &Expr, input: &DFSchema) -> Option<usize> {
    match expr.clone().unalias() {
        Expr::Column(c) => input.index_of_column(&c).ok(),
        _ => None,
    }
}

/// The first of `exprs` that passes on input column `column` of `input` unchanged.
fn passed_on(exprs: &[Expr], input: &DFSchema, column: usize) -> Option<usize> {
    exprs
        .iter()
        .position(|e| column_of(e, input) == Some(column))
}

/// The time bounds of an interval join in `filter` (over the joined rows, the first
/// `left_len` columns the left input's), and the rest of the condition: bounds on both
/// sides of `l.t - r.t`, where `l.t` and `r.t` are time attributes (in `times`) of the two
/// inputs, each maybe plus or minus an interval. Without both bounds it is a regular join.
fn interval_bounds(
    filter: &Expr,
    joined: &DFSchema,
    left_len: usize,
    times: &[Vec<usize>; 2],
) -> Option<(IntervalBounds, Option<Expr>)> {
    let mut conjuncts = Vec::new();
    for conjunct in split_conjunction(filter) {
        match conjunct {
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) => {
                conjuncts.push(expr.as_ref().clone().gt_eq(low.as_ref().clone()));
                conjuncts.push(expr.as_ref().clone().lt_eq(high.as_ref().clone()));
            }
            other => conjuncts.push(other.clone()),
        }
    }
    // A time attribute of either input, maybe plus or minus an interval: (side, column, ms).
    let term = |expr: &Expr| -> Option<(usize, usize, i64)> {
        let (column, offset) = match expr {
            Expr::Column(c) => (c, 0),
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let Expr::Column(c) = left.as_ref() else {
                    return None;
                };
                let ms = interval_millis(right)?;
                match op {
                    Operator::Plus => (c, ms),
                    Operator::Minus => (c, -ms),
                    _ => return None,
                }
            }
            _ => return None,
        };
        let index = joined.index_of_column(column).ok()?;
        let (side, local) = match index < left_len {
            true => (0, index),
            false => (1, index - left_len),
        };
        let is_millis = matches!(
            joined.field(index).data_type(),
            DataType::Timestamp(TimeUnit::Millisecond, _)
        );
        (times[side].contains(&local) && is_millis).then_some((side, local, offset))
    };
    let (mut lower, mut upper) = (None::<i64>, None::<i64>);
    let mut columns = [None, None];
    let mut rest = Vec::new();
    for conjunct in conjuncts {
        let bound = match &conjunct {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => match (term(left), term(right)) {
                (Some(a), Some(b)) if a.0 != b.0 => Some((a, *op, b)),
                _ => None,
            },
            _ => None,
        };
        let Some(((side_a, col_a, off_a), op, (_, col_b, off_b))) = bound else {
            rest.push(conjunct);
            continue;
        };
        // l + x op r + y  is  l - r op y - x;  r + x op l + y  is  l - r op' x - y.
        let (op, value, left_col, right_col) = match side_a {
            0 => (op, off_b - off_a, col_a, col_b),
            _ => (op.swap()?, off_a - off_b, col_b, col_a),
        };
        if columns[0].is_some_and(|c| c != left_col) || columns[1].is_some_and(|c| c != right_col) {
            rest.push(conjunct);
            continue;
        }
        columns = [Some(left_col), Some(right_col)];
        let tighten_lower = |l: &mut Option<i64>, v: i64| *l = Some(l.map_or(v, |l| l.max(v)));
        let tighten_upper = |u: &mut Option<i64>, v: i64| *u = Some(u.map_or(v, |u| u.min(v)));
        match op {
            Operator::GtEq => tighten_lower(&mut lower, value),
            Operator::Gt => tighten_lower(&mut lower, value.saturating_add(1)),
            Operator::LtEq => tighten_upper(&mut upper, value),
            Operator::Lt => tighten_upper(&mut upper, value.saturating_sub(1)),
            Operator::Eq => {
                tighten_lower(&mut lower, value);
                tighten_upper(&mut upper, value);
            }
            _ => rest.push(conjunct),
        }
    }
    let (Some(lower), Some(upper), [Some(left), Some(right)]) = (lower, upper, columns) else {
        return None;
    };
    let bounds = IntervalBounds {
        times: [left, right],
        lower,
        upper,
    };
    Some((bounds, conjunction(rest)))
}

/// A join on `FOR SYSTEM_TIME AS OF`, as its marker says (see [`crate::temporal`]).
struct AsOf {
    /// The probe time column of the left input and the version time column (or, for a table
    /// that cannot be versioned, some column) of the right input.
    times: [usize; 2],
    /// Why the right input cannot be versioned, if it cannot.
    refusal: Option<SqlError>,
    /// The rest of the join's condition.
    residual: Option<Expr>,
}

/// The marker of a temporal join in `filter`, over the joined rows whose first `left_len`
/// columns are the left input's.
fn as_of(filter: &Expr, joined: &DFSchema, left_len: usize) -> Option<AsOf> {
    let conjuncts = split_conjunction(filter);
    let (at, args) = conjuncts.iter().enumerate().find_map(|(i, c)| match c {
        Expr::ScalarFunction(f) if f.func.name() == AS_OF_MARKER => Some((i, &f.args)),
        _ => None,
    })?;
    let index = |e: &Expr| match e {
        Expr::Column(c) => joined.index_of_column(c).ok(),
        _ => None,
    };
    let (probe, version) = (index(&args[0])?, index(&args[1])?);
    if probe >= left_len || version < left_len {
        return None;
    }
    let refusal = match &args[2] {
        Expr::Literal(ScalarValue::Utf8(Some(text)), _) => decode_refusal(text),
        _ => None,
    };
    // The join's residual condition: the marker's fourth argument, and any other conjunct.
    let rest = conjuncts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != at)
        .map(|(_, c)| (*c).clone())
        .chain(args.get(3).cloned());
    Some(AsOf {
        times: [probe, version - left_len],
        refusal,
        residual: conjunction(rest),
    })
}
