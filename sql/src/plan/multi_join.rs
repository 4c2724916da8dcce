//! Planning a tree of inner joins on one key, such as Nexmark q23's `bid JOIN person ON
//! p.id = b.bidder JOIN auction ON a.seller = b.bidder`, as one multi-way join (as Flink 2.1
//! does with `table.optimizer.multi-join.enabled`), which keeps each input's rows once instead
//! of also keeping every row of the inner join's output.

use arrow::datatypes::DataType;
use datafusion_common::NullEquality;
use datafusion_expr::type_coercion::binary::comparison_coercion;
use datafusion_expr::{Expr, ExprSchemable, Join, JoinType, LogicalPlan};
use rill_engine::dataflow::NodeId;
use rill_engine::operator::{MultiJoin, MultiJoinSpec};

use super::{StreamPlanner, output_schema};
use crate::error::SqlResult;

/// An input of a multi-way join and its key, in the join's key order.
struct Leaf<'p> {
    plan: &'p LogicalPlan,
    keys: Vec<Expr>,
}

/// Inner joins on one key, flattened.
struct Flattened<'p> {
    leaves: Vec<Leaf<'p>>,
    /// The joins' output columns, each a leaf and a column of its rows.
    columns: Vec<(usize, usize)>,
    /// The types the key's columns are compared as, in the key order of every leaf.
    key_types: Vec<DataType>,
    nulls_equal: bool,
}

/// The column `expr` is (under an alias) in `plan`'s output.
fn column_index(expr: &Expr, plan: &LogicalPlan) -> Option<usize> {
    match expr {
        Expr::Column(column) => plan.schema().index_of_column(column).ok(),
        Expr::Alias(alias) => column_index(&alias.expr, plan),
        _ => None,
    }
}

impl<'p> Flattened<'p> {
    /// `plan` when it is such joins, maybe under a projection of their columns.
    fn of_plan(plan: &'p LogicalPlan) -> Option<Flattened<'p>> {
        match plan {
            LogicalPlan::Join(join) => Flattened::of(join),
            LogicalPlan::Projection(projection) => {
                let LogicalPlan::Join(join) = projection.input.as_ref() else {
                    return None;
                };
                let mut flat = Flattened::of(join)?;
                let input = projection.input.as_ref();
                flat.columns = (projection.expr.iter())
                    .map(|e| Some(flat.columns[column_index(e, input)?]))
                    .collect::<Option<_>>()?;
                Some(flat)
            }
            _ => None,
        }
    }

    /// `join` and the joins under it, when all are inner joins whose only condition is the
    /// equality of one key: each join's key columns on a side that is itself such a join are
    /// that join's key columns. A side that is not such a join is a leaf.
    fn of(join: &'p Join) -> Option<Flattened<'p>> {
        if join.join_type != JoinType::Inner
            || join.filter.is_some()
            || join.null_aware
            || join.on.is_empty()
        {
            return None;
        }
        let key_types = (join.on.iter())
            .map(|(l, r)| {
                let l = l.get_type(join.left.schema()).ok()?;
                let r = r.get_type(join.right.schema()).ok()?;
                comparison_coercion(&l, &r)
            })
            .collect::<Option<Vec<_>>>()?;
        let nulls_equal = join.null_equality == NullEquality::NullEqualsNull;
        // Each side flattened, and where each of this join's key pairs is in its key order.
        let (lefts, rights): (Vec<Expr>, Vec<Expr>) = join.on.iter().cloned().unzip();
        let mut sides = Vec::with_capacity(2);
        for (plan, exprs) in [(join.left.as_ref(), lefts), (join.right.as_ref(), rights)] {
            let nested = Flattened::of_plan(plan)
                .filter(|nested| nested.nulls_equal == nulls_equal)
                .and_then(|nested| {
                    let order = nested.positions(plan, &exprs, &key_types)?;
                    Some((nested, order))
                });
            sides.push(nested.unwrap_or_else(|| {
                let leaf = Flattened {
                    columns: (0..plan.schema().fields().len()).map(|c| (0, c)).collect(),
                    leaves: vec![Leaf { plan, keys: exprs }],
                    key_types: key_types.clone(),
                    nulls_equal,
                };
                (leaf, (0..join.on.len()).collect())
            }));
        }
        let [(mut flat, left), (right, order)]: [_; 2] = sides.try_into().ok()?;
        // The key order is the left side's: pair `i` is at `left[i]`.
        let shift = flat.leaves.len();
        for leaf in right.leaves {
            let mut keys = leaf.keys.clone();
            for (i, &at) in order.iter().enumerate() {
                keys[left[i]] = leaf.keys[at].clone();
            }
            flat.leaves.push(Leaf { keys, ..leaf });
        }
        (flat.columns).extend(right.columns.iter().map(|&(leaf, c)| (leaf + shift, c)));
        for (i, &at) in left.iter().enumerate() {
            flat.key_types[at] = key_types[i].clone();
        }
        Some(flat)
    }

    /// Where each of `exprs` (columns of `plan`, these joins, compared as `types`) is in the
    /// key order, when they are the key's columns, each once.
    fn positions(
        &self,
        plan: &LogicalPlan,
        exprs: &[Expr],
        types: &[DataType],
    ) -> Option<Vec<usize>> {
        if exprs.len() != self.key_types.len() {
            return None;
        }
        let mut order = Vec::with_capacity(exprs.len());
        for (expr, data_type) in exprs.iter().zip(types) {
            let (leaf, column) = self.columns[column_index(expr, plan)?];
            let leaf = &self.leaves[leaf];
            let at = (leaf.keys.iter()).position(|k| column_index(k, leaf.plan) == Some(column))?;
            if order.contains(&at) || self.key_types[at] != *data_type {
                return None;
            }
            order.push(at);
        }
        Some(order)
    }
}

impl StreamPlanner<'_> {
    /// `join` as one multi-way join, when it and the joins under it are inner joins of three
    /// or more inputs on one key, none of which is windowed or keeps its rows for a limited
    /// time (a chain of two-way joins keeps the same rows for other times).
    pub(super) fn multi_join(&mut self, join: &Join) -> SqlResult<Option<NodeId>> {
        let Some(flat) = Flattened::of(join) else {
            return Ok(None);
        };
        let timed = |leaf: &Leaf| {
            self.state_ttl_of(leaf.plan).is_some() || self.window_bounds(leaf.plan).is_some()
        };
        if flat.leaves.len() < 3 || flat.leaves.iter().any(timed) {
            return Ok(None);
        }
        let mut nodes = Vec::with_capacity(flat.leaves.len());
        let mut keys = Vec::with_capacity(flat.leaves.len());
        for leaf in &flat.leaves {
            nodes.push(self.plan(leaf.plan)?);
            keys.push(self.physicals(&leaf.keys, leaf.plan.schema())?);
        }
        let spec = MultiJoinSpec {
            keys,
            key_types: flat.key_types,
            nulls_equal: flat.nulls_equal,
            inputs: (flat.leaves.iter())
                .map(|leaf| output_schema(leaf.plan.schema()))
                .collect(),
            columns: flat.columns,
            output: output_schema(&join.schema),
        };
        let keyed = (nodes.iter().zip(&spec.keys))
            .map(|(node, keys)| {
                let typed = keys.iter().cloned().zip(spec.key_types.clone()).collect();
                (*node, typed)
            })
            .collect();
        let memory = self.join_memory;
        let node = self.add_keyed(keyed, spec.output.clone(), |_| {
            Ok(Box::new(
                MultiJoin::new(spec.clone())?.spilling_beyond(memory),
            ))
        })?;
        if let Some(shared) = &mut self.shared {
            let widths: Vec<usize> = spec.inputs.iter().map(|s| s.fields().len()).collect();
            let kept = vec![true; nodes.len()];
            shared.concatenate(node, &nodes, &kept, &widths, widths.iter().sum());
            let starts: Vec<usize> = (widths.iter())
                .scan(0, |start, width| {
                    Some(std::mem::replace(start, *start + width))
                })
                .collect();
            let picked: Vec<Option<usize>> = (spec.columns.iter())
                .map(|&(input, column)| Some(starts[input] + column))
                .collect();
            shared.derive(node, node, &picked);
        }
        if nodes.iter().any(|n| self.updating.contains(n)) {
            self.updating.insert(node);
            self.folded_changes.insert(node);
        }
        self.no_time_attribute.insert(node);
        Ok(Some(node))
    }
}
