//! `CROSS JOIN UNNEST(t.arr) AS u (x)` and `LEFT JOIN UNNEST(t.arr) AS u (x) ON TRUE`, with
//! `WITH ORDINALITY`, over arrays and maps.
//!
//! [`UnnestPlanner`] plans `UNNEST(...)` as an [`UnnestCollection`] with Flink's columns (an
//! element, a row's fields, a map's key and value, then the ordinality); DataFusion makes
//! of it a lateral join against a subquery reading the left side's columns. The analyzer
//! rule [`LateralUnnest`] turns that join, before optimization, into an [`UnnestJoin`] over
//! the left input, which the planner runs as the engine's stateless `Unnest`.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields};
use datafusion_common::config::ConfigOptions;
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{DFSchema, DFSchemaRef, Result, ScalarValue, TableReference, plan_err};
use datafusion_expr::logical_plan::{EmptyRelation, Extension, Join, JoinType};
use datafusion_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion_expr::{Expr, ExprSchemable, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion_optimizer::analyzer::AnalyzerRule;
use datafusion_sql::sqlparser::ast::TableFactor;
use rill_engine::format::is_multiset;

/// Plans `UNNEST(collection) [WITH ORDINALITY]`.
#[derive(Debug)]
pub struct UnnestPlanner;

impl RelationPlanner for UnnestPlanner {
    fn plan_relation(
        &self,
        relation: TableFactor,
        context: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let TableFactor::UNNEST {
            alias,
            array_exprs,
            with_offset: false,
            with_offset_alias: None,
            with_ordinality,
        } = relation
        else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let [argument] = <[_; 1]>::try_from(array_exprs)
            .or_else(|_| plan_err!("UNNEST of more than one collection is not supported yet"))?;
        // Within a lateral join, the left side's columns are outer references here.
        let collection = context.sql_to_expr(argument, &DFSchema::empty())?;
        let collection_type = collection.get_type(&DFSchema::empty())?;
        // A lone element is named as Calcite names it: after the alias `AS u`, else `f0`.
        let lone = alias.as_ref().map_or("f0".into(), |a| a.name.value.clone());
        let fields = element_fields(&collection_type, with_ordinality, &lone)?;
        let schema = DFSchema::from_unqualified_fields(fields, Default::default())?;
        let node = UnnestCollection {
            collection,
            ordinality: with_ordinality,
            schema: Arc::new(schema),
        };
        let plan = LogicalPlan::Extension(Extension {
            node: Arc::new(node),
        });
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan, alias,
        ))))
    }
}

/// The columns of an element of a collection of `collection_type`: a row's fields, a map
/// entry's key and value, or the element itself named `lone`; then, with `ordinality`, its
/// place. All nullable: LEFT JOIN pads rows without elements with NULLs.
fn element_fields(collection_type: &DataType, ordinality: bool, lone: &str) -> Result<Fields> {
    let element = match collection_type {
        DataType::List(item) => item.data_type(),
        multiset if is_multiset(multiset) => {
            return plan_err!("UNNEST of a MULTISET is not supported yet");
        }
        DataType::Map(entries, _) => entries.data_type(),
        other => return plan_err!("UNNEST takes an array or a map, not {other}"),
    };
    let mut fields: Vec<Field> = match element {
        DataType::Struct(fields) => fields.iter().map(|f| f.as_ref().clone()).collect(),
        other => vec![Field::new(lone, other.clone(), true)],
    };
    if ordinality {
        fields.push(Field::new("ordinality", DataType::Int32, true));
    }
    Ok(fields.into_iter().map(|f| f.with_nullable(true)).collect())
}

/// `UNNEST(collection)` as planned, before [`LateralUnnest`] joins it to its left side.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnnestCollection {
    collection: Expr,
    ordinality: bool,
    schema: DFSchemaRef,
}

impl PartialOrd for UnnestCollection {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (&self.collection, self.ordinality).partial_cmp(&(&other.collection, other.ordinality))
    }
}

impl UserDefinedLogicalNodeCore for UnnestCollection {
    fn name(&self) -> &str {
        "UnnestCollection"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![self.collection.clone()]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "UNNEST({})", self.collection)
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, _: Vec<LogicalPlan>) -> Result<Self> {
        Ok(UnnestCollection {
            collection: exprs.into_iter().next().expect("one expression"),
            ..self.clone()
        })
    }
}

/// Each row of `input` joined with each element of `collection`, an array or map it holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnnestJoin {
    pub input: LogicalPlan,
    /// The array or map, over the input's columns.
    pub collection: Expr,
    /// `LEFT JOIN ... ON TRUE`: a row without elements is kept once, with NULLs.
    pub outer: bool,
    /// `WITH ORDINALITY`: each element's place (from 1) is a last column.
    pub ordinality: bool,
    /// The names of the element's columns (as the `AS u (a, b)` alias gives them).
    names: Vec<(Option<TableReference>, String)>,
    /// The input's columns, then the element's.
    schema: DFSchemaRef,
}

impl UnnestJoin {
    /// The join, its element columns typed from the collection's type (which the analyzer
    /// may change, as it types literals), named `names`.
    fn try_new(
        input: LogicalPlan,
        collection: Expr,
        outer: bool,
        ordinality: bool,
        names: Vec<(Option<TableReference>, String)>,
    ) -> Result<Self> {
        let collection_type = collection.get_type(input.schema())?;
        let fields = element_fields(&collection_type, ordinality, "f0")?;
        if fields.len() != names.len() {
            return plan_err!(
                "UNNEST gives {} columns, but {} names are given",
                fields.len(),
                names.len()
            );
        }
        let elements = names
            .iter()
            .zip(fields.iter())
            .map(|((qualifier, name), f)| {
                (
                    qualifier.clone(),
                    Arc::new(f.as_ref().clone().with_name(name)),
                )
            })
            .collect();
        let elements = DFSchema::new_with_metadata(elements, Default::default())?;
        let schema = Arc::new(input.schema().join(&elements)?);
        Ok(UnnestJoin {
            input,
            collection,
            outer,
            ordinality,
            names,
            schema,
        })
    }
}

impl PartialOrd for UnnestJoin {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (&self.input, &self.collection, self.outer, self.ordinality).partial_cmp(&(
            &other.input,
            &other.collection,
            other.outer,
            other.ordinality,
        ))
    }
}

impl UserDefinedLogicalNodeCore for UnnestJoin {
    fn name(&self) -> &str {
        "UnnestJoin"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![self.collection.clone()]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let join = if self.outer { "LEFT" } else { "CROSS" };
        write!(f, "UnnestJoin: {join} JOIN UNNEST({})", self.collection)
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        UnnestJoin::try_new(
            inputs.into_iter().next().expect("one input"),
            exprs.into_iter().next().expect("one expression"),
            self.outer,
            self.ordinality,
            self.names.clone(),
        )
    }
}

/// Turns lateral joins against `UNNEST` into [`UnnestJoin`] nodes.
#[derive(Debug)]
pub struct LateralUnnest;

impl AnalyzerRule for LateralUnnest {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        // From the top, so that a join is seen before the UNNEST under it.
        plan.transform_down(|node| match node {
            LogicalPlan::Join(join) => match unnested(&join.right).cloned() {
                Some(unnest) => unnest_join(join, &unnest).map(Transformed::yes),
                None => Ok(Transformed::no(LogicalPlan::Join(join))),
            },
            // `FROM UNNEST(ARRAY[...])`: the elements of one row of no columns.
            LogicalPlan::Extension(e) if e.node.as_any().is::<UnnestCollection>() => {
                let unnest: &UnnestCollection = e.node.as_any().downcast_ref().expect("checked");
                let one_row = LogicalPlan::EmptyRelation(EmptyRelation {
                    produce_one_row: true,
                    schema: Arc::new(DFSchema::empty()),
                });
                let node = UnnestJoin::try_new(
                    one_row,
                    unnest.collection.clone(),
                    false,
                    unnest.ordinality,
                    names(&unnest.schema, 0),
                )?;
                Ok(Transformed::yes(LogicalPlan::Extension(Extension {
                    node: Arc::new(node),
                })))
            }
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "rill_lateral_unnest"
    }
}

/// The `UNNEST` that `plan` is, under aliases, renaming projections and the subquery of a
/// lateral join, if it is one.
fn unnested(plan: &LogicalPlan) -> Option<&UnnestCollection> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => unnested(&a.input),
        LogicalPlan::Subquery(s) => unnested(&s.subquery),
        LogicalPlan::Projection(p) => unnested(&p.input),
        LogicalPlan::Extension(e) => e.node.as_any().downcast_ref(),
        _ => None,
    }
}

/// The [`UnnestJoin`] of `join` against `unnest`.
fn unnest_join(join: Join, unnest: &UnnestCollection) -> Result<LogicalPlan> {
    let condition_is_true = join.on.is_empty()
        && matches!(
            &join.filter,
            None | Some(Expr::Literal(ScalarValue::Boolean(Some(true)), _))
        );
    let outer = match join.join_type {
        JoinType::Inner if condition_is_true => false,
        JoinType::Left if condition_is_true => true,
        _ => {
            return plan_err!(
                "UNNEST is joined by CROSS JOIN UNNEST(...) or LEFT JOIN UNNEST(...) ON TRUE"
            );
        }
    };
    let collection = unnest.collection.clone().transform(|e| {
        Ok(match e {
            Expr::OuterReferenceColumn(_, column) => Transformed::yes(Expr::Column(column)),
            e => Transformed::no(e),
        })
    })?;
    let left_columns = join.left.schema().fields().len();
    let node = UnnestJoin::try_new(
        Arc::unwrap_or_clone(join.left),
        collection.data,
        outer,
        unnest.ordinality,
        names(&join.schema, left_columns),
    )?;
    Ok(LogicalPlan::Extension(Extension {
        node: Arc::new(node),
    }))
}

/// The qualified names of the columns of `schema` from `skip` on.
fn names(schema: &DFSchema, skip: usize) -> Vec<(Option<TableReference>, String)> {
    (schema.iter().skip(skip))
        .map(|(qualifier, field)| (qualifier.cloned(), field.name().clone()))
        .collect()
}
