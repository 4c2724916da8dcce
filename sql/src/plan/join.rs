//! Planning joins: DataFusion's `Join` nodes (also the semi and anti joins it makes of `IN` and
//! `EXISTS` subqueries) become regular streaming joins.

use datafusion::common::NullEquality;
use datafusion::logical_expr::type_coercion::binary::comparison_coercion;
use datafusion::logical_expr::utils::disjunction;
use datafusion::logical_expr::{Expr, ExprSchemable, Join, JoinType as DfJoinType, LogicalPlan};
use rill_engine::dataflow::NodeId;
use rill_engine::operator::{Join as JoinOperator, JoinSpec, JoinType};

use super::{StreamPlanner, output_schema};
use crate::error::{SqlError, SqlResult};

impl StreamPlanner<'_> {
    /// A regular join: both inputs kept in state, any changelog in; updating out when an
    /// input updates or the join pads or retracts rows of its own accord.
    pub(super) fn join(&mut self, join: &Join) -> SqlResult<NodeId> {
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
        let right_node = self.plan(right)?;
        let joined = left.schema().join(right.schema())?;
        let key_types = on
            .iter()
            .map(|(l, r)| {
                let (lt, rt) = (l.get_type(left.schema())?, r.get_type(right.schema())?);
                comparison_coercion(&lt, &rt)
                    .ok_or_else(|| SqlError::new(format!("cannot join on {l} ({lt}) = {r} ({rt})")))
            })
            .collect::<SqlResult<Vec<_>>>()?;
        let keys = |side: &LogicalPlan, exprs: Vec<&Expr>| {
            exprs
                .into_iter()
                .map(|e| self.physical(e, side.schema()))
                .collect::<SqlResult<Vec<_>>>()
        };
        let spec = JoinSpec {
            join_type,
            keys: [
                keys(left, on.iter().map(|(l, _)| l).collect())?,
                keys(right, on.iter().map(|(_, r)| r).collect())?,
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
        let node = self.dataflow.add_operator(
            Box::new(JoinOperator::new(spec)?),
            vec![left_node, right_node],
        );
        let pads_or_retracts = matches!(
            join_type,
            JoinType::Left | JoinType::Right | JoinType::Full | JoinType::Anti
        );
        if pads_or_retracts
            || self.updating.contains(&left_node)
            || self.updating.contains(&right_node)
        {
            self.updating.insert(node);
        }
        self.no_time_attribute.insert(node);
        Ok(node)
    }
}
