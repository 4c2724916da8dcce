//! `MATCH_RECOGNIZE` in SQL: a relation planner that reads the clause (with the parts the
//! parser's pre-pass moved into `DEFINE`), plans `DEFINE` and `MEASURES` against the input
//! with a copy of its columns per pattern variable (`A.price`), and builds a
//! [`MatchRecognize`] logical node. [`analyze`] turns a planned expression into one over
//! *terms*: the navigated columns, aggregates, `CLASSIFIER()` and `MATCH_NUMBER()` it reads.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion_common::{
    Column, DFSchema, DFSchemaRef, DataFusionError, ExprSchema, Result, ScalarValue, Span,
    TableReference,
};
use datafusion_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion_expr::simplify::SimplifyContext;
use datafusion_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, SortExpr, TypeSignature, UserDefinedLogicalNodeCore, Volatility,
};
use datafusion_optimizer::simplify_expressions::ExprSimplifier;
use datafusion_sql::sqlparser::ast::{
    self, AfterMatchSkip, EmptyMatchesMode, Spanned, TableFactor,
};
use datafusion_sql::sqlparser::tokenizer::Span as SqlSpan;
use rill_cep::{AfterMatch, Pattern, Program};
use rill_engine::operator::match_recognize::{ALL_VARIABLES, Navigation, RowsPerMatch};

use crate::parser::{
    FINAL_FUNCTION, PATTERN_SYMBOL, SUBSET_SYMBOL, TIMEOUTS_SYMBOL, WITHIN_SYMBOL,
};
use crate::window::{interval_millis, with_span};

/// A planned `MATCH_RECOGNIZE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MatchRecognize {
    pub input: LogicalPlan,
    pub partition: Vec<Column>,
    /// The `ORDER BY` event-time column.
    pub time: Column,
    /// `ORDER BY` keys after the time.
    pub order: Vec<SortExpr>,
    pub pattern: Pattern,
    /// The pattern's variables, by number.
    pub names: Vec<String>,
    /// `SUBSET` names and their variables, one bit each.
    pub subsets: Vec<(String, u64)>,
    /// Per variable: its condition (`None`: always true), over [`Self::variables`].
    pub defines: Vec<Option<Expr>>,
    /// Name and expression, over [`Self::variables`].
    pub measures: Vec<(String, Expr)>,
    pub rows: RowsPerMatch,
    pub after: AfterMatch,
    /// `WITHIN`, in milliseconds.
    pub within: Option<i64>,
    /// `WITH TIMEOUTS`: the partial matches `WITHIN` ends are reported too.
    pub timeouts: bool,
    /// The input's columns, unqualified, and a copy qualified by each variable and subset.
    pub variables: DFSchemaRef,
    pub schema: DFSchemaRef,
}

impl MatchRecognize {
    /// The compiled automaton.
    pub fn program(&self) -> Program {
        Program::compile(&self.pattern)
    }
}

impl PartialOrd for MatchRecognize {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (&self.input, &self.partition, &self.time, &self.pattern).partial_cmp(&(
            &other.input,
            &other.partition,
            &other.time,
            &other.pattern,
        ))
    }
}

impl UserDefinedLogicalNodeCore for MatchRecognize {
    fn name(&self) -> &str {
        "MatchRecognize"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    /// None: its conditions and measures refer to pattern variables, which the optimizer
    /// cannot resolve. Which input columns it reads, `necessary_children_exprs` says.
    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "MatchRecognize: pattern {}", self.pattern_text())?;
        if !self.partition.is_empty() {
            let keys: Vec<String> = self.partition.iter().map(|c| c.to_string()).collect();
            write!(f, " partition by {}", keys.join(", "))?;
        }
        write!(f, " order by {}", self.time)?;
        if let Some(w) = self.within {
            write!(f, " within {w} ms")?;
        }
        if self.timeouts {
            write!(f, " with timeouts")?;
        }
        Ok(())
    }

    /// With `ONE ROW PER MATCH`, the input columns the node reads: its keys, its time and
    /// order, and the columns its conditions and measures name (under any variable). The
    /// others (Nexmark's bid `extra`, say) are never held. `ALL ROWS PER MATCH` outputs them.
    fn necessary_children_exprs(&self, _output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        if matches!(self.rows, RowsPerMatch::All { .. }) {
            return None;
        }
        let mut names: HashSet<&str> = HashSet::new();
        names.extend(self.partition.iter().map(|c| c.name.as_str()));
        names.insert(&self.time.name);
        let exprs = (self.order.iter().map(|o| &o.expr))
            .chain(self.defines.iter().flatten())
            .chain(self.measures.iter().map(|(_, e)| e));
        for expr in exprs {
            names.extend(expr.column_refs().into_iter().map(|c| c.name.as_str()));
        }
        let fields = self.input.schema().fields();
        let used = (0..fields.len()).filter(|&i| names.contains(fields[i].name().as_str()));
        Some(vec![used.collect()])
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        let input = inputs.into_iter().next().expect("one input");
        // The input may have lost columns the node does not read.
        let variables = variables_schema(input.schema(), &self.names, &self.subsets)?;
        Ok(MatchRecognize {
            input,
            variables: Arc::new(variables),
            ..self.clone()
        })
    }
}

impl MatchRecognize {
    /// The pattern with variable names.
    pub fn pattern_text(&self) -> String {
        let mut text = self.pattern.to_string();
        // `#3` -> name, highest numbers first so `#1` does not eat `#10`.
        for (i, name) in self.names.iter().enumerate().rev() {
            text = text.replace(&format!("#{i}"), name);
        }
        text
    }
}

/// The automaton of each `MATCH_RECOGNIZE` in `plan`: as text (its pattern, then each state
/// and where it goes next), or as a Graphviz digraph.
pub fn explain_automata(plan: &LogicalPlan, dot: bool) -> Vec<String> {
    use datafusion_common::tree_node::{TreeNode, TreeNodeRecursion};
    let mut automata = Vec::new();
    let _ = plan.apply(|node| {
        if let LogicalPlan::Extension(e) = node
            && let Some(m) = e.node.as_any().downcast_ref::<MatchRecognize>()
        {
            let program = m.program();
            automata.push(if dot {
                program.dot(&m.names)
            } else {
                format!(
                    "pattern: {}\n{}",
                    m.pattern_text(),
                    program.explain(&m.names)
                )
            });
        }
        Ok(TreeNodeRecursion::Continue)
    });
    automata
}

/// Plans `... MATCH_RECOGNIZE (...)`.
#[derive(Debug)]
pub struct MatchRecognizePlanner;

impl RelationPlanner for MatchRecognizePlanner {
    fn plan_relation(
        &self,
        relation: TableFactor,
        context: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let TableFactor::MatchRecognize {
            table,
            partition_by,
            order_by,
            measures,
            rows_per_match,
            after_match_skip,
            symbols,
            alias,
            ..
        } = relation
        else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let input = context.plan(*table)?;
        // The entries the parser moved into DEFINE.
        let mut pattern = None;
        let mut within = None;
        let mut timeouts = false;
        let mut subset_calls = Vec::new();
        let mut defined = Vec::new();
        for s in symbols {
            match s.symbol.value.as_str() {
                PATTERN_SYMBOL => pattern = Some(s.definition),
                WITHIN_SYMBOL => within = Some(s.definition),
                TIMEOUTS_SYMBOL => timeouts = true,
                SUBSET_SYMBOL => subset_calls.push(s.definition),
                _ => defined.push(s),
            }
        }
        let Some(pattern) = pattern else {
            return plan_error(None, "MATCH_RECOGNIZE needs a PATTERN");
        };
        let (pattern, names) = read_pattern(&pattern)?;
        if names.len() > 63 {
            return plan_error(None, "a pattern has at most 63 variables");
        }
        let subsets = subset_calls
            .iter()
            .map(|call| read_subset(call, &names))
            .collect::<Result<Vec<_>>>()?;
        let variables = Arc::new(variables_schema(input.schema(), &names, &subsets)?);

        let partition = partition_by
            .iter()
            .map(|e| input_column(e, input.schema(), context, "PARTITION BY"))
            .collect::<Result<Vec<_>>>()?;
        let Some(first) = order_by.first() else {
            return plan_error(None, "MATCH_RECOGNIZE needs ORDER BY its event-time column");
        };
        let time = input_column(&first.expr, input.schema(), context, "ORDER BY")?;
        let time_type = input.schema().field_from_column(&time)?.data_type().clone();
        if !matches!(time_type, DataType::Timestamp(_, _)) || first.options.asc == Some(false) {
            return plan_error(
                span_of(&first.expr.span()),
                &format!(
                    "MATCH_RECOGNIZE must be ordered by an ascending event-time column first; '{}' is {time_type}",
                    time.name
                ),
            );
        }
        let vars = Variables {
            names: &names,
            subsets: &subsets,
            time: input.schema().index_of_column(&time)?,
        };
        // Keys after the event time order rows with the same time.
        let order = order_by[1..]
            .iter()
            .map(|o| {
                Ok(SortExpr::new(
                    context.sql_to_expr(o.expr.clone(), input.schema())?,
                    o.options.asc != Some(false),
                    o.options
                        .nulls_first
                        .unwrap_or(o.options.asc == Some(false)),
                ))
            })
            .collect::<Result<Vec<_>>>()?;

        let mut defines = vec![None; names.len()];
        for d in &defined {
            let Some(var) = names.iter().position(|n| *n == d.symbol.value) else {
                return plan_error(
                    span_of(&d.symbol.span),
                    &format!(
                        "{} is defined but not a variable of the pattern ({})",
                        d.symbol.value,
                        names.join(", ")
                    ),
                );
            };
            let expr = context.sql_to_expr(vars.prepare(&d.definition, &time.name)?, &variables)?;
            let span = span_of(&d.definition.span());
            let analysis = analyze(&expr, input.schema(), &vars, Clause::Define(var))
                .map_err(|e| with_span(e, span))?;
            if analysis.expr.get_type(&analysis.terms_schema()?)? != DataType::Boolean {
                return plan_error(
                    span,
                    &format!("the condition of {} is not a boolean", d.symbol.value),
                );
            }
            defines[var] = Some(expr);
        }

        let mut planned_measures = Vec::with_capacity(measures.len());
        for m in &measures {
            let expr = context.sql_to_expr(vars.prepare(&m.expr, &time.name)?, &variables)?;
            let analysis = analyze(&expr, input.schema(), &vars, Clause::Measures)
                .map_err(|e| with_span(e, span_of(&m.expr.span())))?;
            if !timeouts && analysis.terms.contains(&Term::TimedOut) {
                return plan_error(
                    span_of(&m.expr.span()),
                    "TIMED_OUT() needs the pattern's WITHIN to end WITH TIMEOUTS",
                );
            }
            planned_measures.push((m.alias.value.clone(), expr));
        }

        let after = match after_match_skip {
            None | Some(AfterMatchSkip::PastLastRow) => AfterMatch::PastLastRow,
            Some(AfterMatchSkip::ToNextRow) => AfterMatch::ToNextRow,
            Some(AfterMatchSkip::ToFirst(ref v) | AfterMatchSkip::ToLast(ref v)) => {
                let Some(mask) = vars.mask(&v.value) else {
                    return plan_error(
                        span_of(&v.span),
                        &format!(
                            "AFTER MATCH SKIP TO {}: not a variable or SUBSET of the pattern",
                            v.value
                        ),
                    );
                };
                if matches!(after_match_skip, Some(AfterMatchSkip::ToFirst(_))) {
                    AfterMatch::ToFirst(mask)
                } else {
                    AfterMatch::ToLast(mask)
                }
            }
        };
        let rows = match rows_per_match {
            None | Some(ast::RowsPerMatch::OneRow) => RowsPerMatch::One,
            Some(ast::RowsPerMatch::AllRows(mode)) => RowsPerMatch::All {
                empty_matches: mode != Some(EmptyMatchesMode::Omit),
                unmatched: mode == Some(EmptyMatchesMode::WithUnmatched),
            },
        };
        let within = match within {
            None => None,
            Some(expr) => {
                let planned = context.sql_to_expr(expr.clone(), &DFSchema::empty())?;
                match interval_millis(&planned) {
                    Some(ms) if ms > 0 => Some(ms),
                    _ => {
                        return plan_error(
                            span_of(&expr.span()),
                            "WITHIN needs a positive INTERVAL of days, hours, minutes or seconds",
                        );
                    }
                }
            }
        };
        let schema = output_schema(
            input.schema(),
            &partition,
            &time,
            &planned_measures,
            &variables,
            rows,
        )?;
        let node = MatchRecognize {
            input,
            partition,
            time,
            order,
            pattern,
            names,
            subsets,
            defines,
            measures: planned_measures,
            rows,
            after,
            within,
            timeouts,
            variables,
            schema,
        };
        let plan = LogicalPlan::Extension(datafusion_expr::Extension {
            node: Arc::new(node),
        });
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan, alias,
        ))))
    }
}

fn span_of(span: &SqlSpan) -> Option<Span> {
    Span::try_from_sqlparser_span(*span)
}

fn plan_error<T>(span: Option<Span>, message: &str) -> Result<T> {
    Err(with_span(DataFusionError::Plan(message.to_string()), span))
}

/// The pattern of `__rill_pattern AS 'text'`, with errors placed in the statement.
fn read_pattern(expr: &ast::Expr) -> Result<(Pattern, Vec<String>)> {
    let ast::Expr::Value(ast::ValueWithSpan {
        value: ast::Value::SingleQuotedString(text),
        span,
    }) = expr
    else {
        return plan_error(None, "internal error: the pattern was not carried as text");
    };
    let at = |offset: usize| {
        // The location `offset` bytes into the pattern text.
        let mut location = span.start;
        for c in text[..offset.min(text.len())].chars() {
            if c == '\n' {
                location.line += 1;
                location.column = 1;
            } else {
                location.column += 1;
            }
        }
        let mut end = location;
        end.column += 1;
        span_of(&SqlSpan::new(location, end))
    };
    let (pattern, names) = Pattern::parse(text).map_err(|e| {
        with_span(
            DataFusionError::Plan(format!("PATTERN: {}", e.message)),
            at(e.at),
        )
    })?;
    // Bounded quantifiers unroll and PERMUTE lists every order: refuse what would not fit.
    const MAX_STEPS: u64 = 100_000;
    if pattern.compiled_size() > MAX_STEPS {
        return plan_error(
            span_of(span),
            &format!(
                "this pattern compiles to more than {MAX_STEPS} steps (large bounded quantifiers or PERMUTE of many items)"
            ),
        );
    }
    if !Program::compile(&pattern).can_match() {
        return plan_error(
            span_of(span),
            "this pattern can never match: '$' is followed by a variable or '^' comes after one",
        );
    }
    Ok((pattern, names))
}

/// `u(a, b)`: the subset `u` of variables `a` and `b`.
fn read_subset(call: &ast::Expr, names: &[String]) -> Result<(String, u64)> {
    let malformed = || {
        plan_error(
            span_of(&call.span()),
            "expected SUBSET name = (variable, ...)",
        )
    };
    let ast::Expr::Function(f) = call else {
        return malformed();
    };
    let ast::FunctionArguments::List(list) = &f.args else {
        return malformed();
    };
    let mut mask = 0u64;
    for arg in &list.args {
        let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(ast::Expr::Identifier(v))) = arg
        else {
            return malformed();
        };
        let Some(var) = names.iter().position(|n| *n == v.value) else {
            return plan_error(
                span_of(&v.span),
                &format!("SUBSET: {} is not a variable of the pattern", v.value),
            );
        };
        mask |= 1 << var;
    }
    let name = f.name.to_string();
    if names.contains(&name) {
        return plan_error(
            span_of(&f.name.span()),
            &format!("SUBSET {name} has the name of a pattern variable"),
        );
    }
    Ok((name, mask))
}

/// The input's columns unqualified, then a copy qualified by each variable and subset.
/// (`merge` admits `price` next to `A.price`, which DataFusion resolves: the unqualified name
/// is the one field without qualifier.)
fn variables_schema(
    input: &DFSchema,
    names: &[String],
    subsets: &[(String, u64)],
) -> Result<DFSchema> {
    let mut schema = DFSchema::from_unqualified_fields(input.fields().clone(), Default::default())?;
    for qualifier in names.iter().chain(subsets.iter().map(|(n, _)| n)) {
        let fields: Vec<(Option<TableReference>, Arc<Field>)> = input
            .fields()
            .iter()
            .map(|f| (Some(TableReference::bare(qualifier.as_str())), f.clone()))
            .collect();
        schema.merge(&DFSchema::new_with_metadata(fields, Default::default())?);
    }
    Ok(schema)
}

/// An input column named by `expr`.
fn input_column(
    expr: &ast::Expr,
    schema: &DFSchema,
    context: &mut dyn RelationPlannerContext,
    clause: &str,
) -> Result<Column> {
    match context.sql_to_expr(expr.clone(), schema)? {
        Expr::Column(c) => Ok(c),
        _ => plan_error(
            span_of(&expr.span()),
            &format!("{clause} takes columns only"),
        ),
    }
}

/// The output columns: the partition keys and measures, and for `ALL ROWS PER MATCH` the
/// time column and the other input columns too (SQL:2016's order).
fn output_schema(
    input: &DFSchema,
    partition: &[Column],
    time: &Column,
    measures: &[(String, Expr)],
    variables: &DFSchema,
    rows: RowsPerMatch,
) -> Result<DFSchemaRef> {
    let mut fields = Vec::new();
    let input_field = |c: &Column| -> Result<Arc<Field>> {
        Ok(Arc::new(
            input
                .field_from_column(c)?
                .as_ref()
                .clone()
                .with_nullable(true),
        ))
    };
    for c in partition {
        fields.push(input_field(c)?);
    }
    let all = matches!(rows, RowsPerMatch::All { .. });
    if all {
        fields.push(input_field(time)?);
    }
    for (name, expr) in measures {
        fields.push(Arc::new(Field::new(name, expr.get_type(variables)?, true)));
    }
    if all {
        for (i, f) in input.fields().iter().enumerate() {
            let c = Column::from(input.qualified_field(i));
            if !partition.contains(&c) && c != *time {
                fields.push(Arc::new(f.as_ref().clone().with_nullable(true)));
            }
        }
    }
    Ok(Arc::new(DFSchema::from_unqualified_fields(
        fields.into(),
        Default::default(),
    )?))
}

/// Where an expression is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clause {
    /// The condition of the variable.
    Define(usize),
    Measures,
}

/// The variables and subsets of a `MATCH_RECOGNIZE`.
pub struct Variables<'a> {
    pub names: &'a [String],
    pub subsets: &'a [(String, u64)],
    /// The input's `ORDER BY` time column, which `MATCH_ROWTIME()` reads.
    pub time: usize,
}

impl Variables<'_> {
    /// The variables a qualifier stands for.
    fn mask(&self, qualifier: &str) -> Option<u64> {
        if let Some(i) = self.names.iter().position(|n| n == qualifier) {
            return Some(1 << i);
        }
        self.subsets
            .iter()
            .find(|(n, _)| n == qualifier)
            .map(|(_, m)| *m)
    }

    /// `expr` ready to plan: `X.col` is refused, at the spot, for an `X` that is neither a
    /// variable nor a subset, `CLASSIFIER(X)` becomes `CLASSIFIER('X')` (so `X` is not
    /// taken for a column), and `COUNT(X.*)` counts X's rows as `COUNT(X.time)` (the
    /// event time, which every matched row has).
    fn prepare(&self, expr: &ast::Expr, time: &str) -> Result<ast::Expr> {
        let unknown = |name: &ast::Ident| {
            let mut known: Vec<&str> = self.names.iter().map(String::as_str).collect();
            known.extend(self.subsets.iter().map(|(n, _)| n.as_str()));
            with_span(
                DataFusionError::Plan(format!(
                    "{} is not a pattern variable (the pattern has {})",
                    name.value,
                    known.join(", ")
                )),
                span_of(&name.span),
            )
        };
        let mut expr = expr.clone();
        let flow = ast::visit_expressions_mut(&mut expr, |e| {
            match e {
                ast::Expr::CompoundIdentifier(parts)
                    if parts.len() == 2 && self.mask(&parts[0].value).is_none() =>
                {
                    return ControlFlow::Break(unknown(&parts[0]));
                }
                ast::Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("COUNT") => {
                    if let ast::FunctionArguments::List(list) = &mut f.args
                        && let [ast::FunctionArg::Unnamed(arg)] = list.args.as_mut_slice()
                        && let ast::FunctionArgExpr::QualifiedWildcard(name) = arg
                    {
                        let var = ast::Ident::new(name.to_string());
                        if self.mask(&var.value).is_none() {
                            return ControlFlow::Break(unknown(&var));
                        }
                        let column =
                            ast::Expr::CompoundIdentifier(vec![var, ast::Ident::new(time)]);
                        *arg = ast::FunctionArgExpr::Expr(column);
                    }
                }
                ast::Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("CLASSIFIER") => {
                    if let ast::FunctionArguments::List(list) = &mut f.args
                        && let [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(arg))] =
                            list.args.as_mut_slice()
                        && let ast::Expr::Identifier(name) = arg
                    {
                        if self.mask(&name.value).is_none() {
                            return ControlFlow::Break(unknown(name));
                        }
                        *arg = ast::Expr::value(ast::Value::SingleQuotedString(name.value.clone()));
                    }
                }
                _ => {}
            }
            ControlFlow::Continue(())
        });
        match flow {
            ControlFlow::Break(e) => Err(e),
            ControlFlow::Continue(()) => Ok(expr),
        }
    }
}

/// A leaf of an analyzed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// An input column at a navigated row.
    Column {
        column: usize,
        at: Navigation,
        running: bool,
    },
    /// An aggregate call over input columns, over the rows of `vars`.
    Aggregate {
        call: Expr,
        vars: u64,
        running: bool,
    },
    /// `CLASSIFIER()`: the variable of a navigated row.
    Classifier {
        at: Navigation,
        running: bool,
    },
    MatchNumber,
    /// `TIMED_OUT()`.
    TimedOut,
}

/// An expression over terms: `expr` reads column `__tN` for term N.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub expr: Expr,
    pub terms: Vec<Term>,
    pub types: Vec<DataType>,
}

impl Analysis {
    /// The column name of term `i`.
    pub fn term_name(i: usize) -> String {
        format!("__t{i}")
    }

    /// The terms as a schema.
    pub fn terms_schema(&self) -> Result<DFSchema> {
        let fields: Vec<Field> = self
            .types
            .iter()
            .enumerate()
            .map(|(i, t)| Field::new(Self::term_name(i), t.clone(), true))
            .collect();
        DFSchema::from_unqualified_fields(fields.into(), Default::default())
    }
}

/// Turns `expr` (planned over the variables schema) into an expression over terms, checking
/// the navigation functions' use.
pub fn analyze(
    expr: &Expr,
    input: &DFSchema,
    vars: &Variables,
    clause: Clause,
) -> Result<Analysis> {
    let mut analysis = Analysis {
        expr: Expr::Literal(ScalarValue::Null, None),
        terms: vec![],
        types: vec![],
    };
    analyze_into(expr, input, vars, clause, &mut analysis)?;
    Ok(analysis)
}

/// [`analyze`] adding to the terms already in `analysis`; sets `analysis.expr`.
pub fn analyze_into(
    expr: &Expr,
    input: &DFSchema,
    vars: &Variables,
    clause: Clause,
    analysis: &mut Analysis,
) -> Result<()> {
    let mut walk = Walk {
        input,
        vars,
        clause,
        running: true,
        terms: std::mem::take(&mut analysis.terms),
        types: std::mem::take(&mut analysis.types),
    };
    let rewritten = walk.expr(expr)?;
    analysis.expr = rewritten;
    analysis.terms = walk.terms;
    analysis.types = walk.types;
    Ok(())
}

struct Walk<'a> {
    input: &'a DFSchema,
    vars: &'a Variables<'a>,
    clause: Clause,
    running: bool,
    terms: Vec<Term>,
    types: Vec<DataType>,
}

/// The navigation functions, and the functions only `MATCH_RECOGNIZE` knows.
const NAVIGATIONS: [&str; 4] = ["first", "last", "prev", "next"];

impl Walk<'_> {
    fn term(&mut self, term: Term, data_type: DataType) -> Expr {
        self.terms.push(term);
        self.types.push(data_type);
        Expr::Column(Column::from_name(Analysis::term_name(self.terms.len() - 1)))
    }

    /// The variables of a column's qualifier (all for none), and its input index.
    fn column(&self, c: &Column) -> Result<(u64, usize)> {
        let vars = match &c.relation {
            None => ALL_VARIABLES,
            Some(q) => self
                .vars
                .mask(q.table())
                .ok_or_else(|| DataFusionError::Plan(format!("{q} is not a pattern variable")))?,
        };
        let index = self
            .input
            .index_of_column_by_name(None, &c.name)
            .ok_or_else(|| DataFusionError::Plan(format!("column {} not found", c.name)))?;
        Ok((vars, index))
    }

    fn expr(&mut self, expr: &Expr) -> Result<Expr> {
        use datafusion_common::tree_node::{Transformed, TreeNode};
        match expr {
            Expr::Column(c) => {
                let (vars, column) = self.column(c)?;
                let data_type = self.input.field(column).data_type().clone();
                Ok(self.term(
                    Term::Column {
                        column,
                        at: Navigation {
                            vars,
                            first: false,
                            offset: 0,
                            physical: 0,
                        },
                        running: self.running,
                    },
                    data_type,
                ))
            }
            Expr::ScalarFunction(ScalarFunction { func, args }) => match func.name() {
                "first" | "last" => self.logical(func.name() == "first", args),
                "prev" | "next" => self.physical(func.name() == "prev", args),
                FINAL_FUNCTION => {
                    if let Clause::Define(_) = self.clause {
                        return Err(DataFusionError::Plan(
                            "FINAL is allowed in MEASURES only".into(),
                        ));
                    }
                    let [arg] = args.as_slice() else {
                        return Err(DataFusionError::Plan("FINAL takes one navigation".into()));
                    };
                    let outer = std::mem::replace(&mut self.running, false);
                    let inner = self.expr(arg);
                    self.running = outer;
                    inner
                }
                "classifier" => {
                    // CLASSIFIER(U): the variable of the last row of U.
                    let vars = match args.as_slice() {
                        [] => ALL_VARIABLES,
                        [Expr::Literal(ScalarValue::Utf8(Some(name)), _)] => {
                            self.vars.mask(name).ok_or_else(|| {
                                DataFusionError::Plan(format!("{name} is not a pattern variable"))
                            })?
                        }
                        _ => {
                            return Err(DataFusionError::Plan(
                                "CLASSIFIER takes a pattern variable or none".into(),
                            ));
                        }
                    };
                    let at = Navigation {
                        vars,
                        ..Navigation::CURRENT
                    };
                    Ok(self.term(
                        Term::Classifier {
                            at,
                            running: self.running,
                        },
                        DataType::Utf8,
                    ))
                }
                "match_number" | "match_rowtime" | "timed_out"
                    if matches!(self.clause, Clause::Define(_)) =>
                {
                    Err(DataFusionError::Plan(format!(
                        "{}() is allowed in MEASURES only",
                        func.name().to_uppercase()
                    )))
                }
                "match_number" => Ok(self.term(Term::MatchNumber, DataType::Int64)),
                "timed_out" => Ok(self.term(Term::TimedOut, DataType::Boolean)),
                // The time of the match's last row: a time attribute for windows downstream.
                "match_rowtime" => {
                    let column = self.vars.time;
                    let data_type = self.input.field(column).data_type().clone();
                    let at = Navigation::CURRENT;
                    Ok(self.term(
                        Term::Column {
                            column,
                            at,
                            running: false,
                        },
                        data_type,
                    ))
                }
                _ => self.children(expr),
            },
            Expr::AggregateFunction(AggregateFunction { func, params }) => {
                if params.distinct || params.filter.is_some() || !params.order_by.is_empty() {
                    return Err(DataFusionError::Plan(format!(
                        "{}: DISTINCT, FILTER and ORDER BY are not supported in MATCH_RECOGNIZE aggregates",
                        func.name()
                    )));
                }
                // The aggregate's columns must all belong to one variable (or none: all rows).
                let mut vars = None;
                let mut args = Vec::with_capacity(params.args.len());
                for arg in &params.args {
                    let mut error = None;
                    let plain = arg
                        .clone()
                        .transform(|e| match &e {
                            Expr::Column(c) => {
                                match self.column(c) {
                                    Ok((v, index)) => {
                                        if vars.is_some_and(|old| old != v) {
                                            error = Some("the columns of an aggregate must belong to one pattern variable");
                                        }
                                        vars = Some(v);
                                        let (q, f) = self.input.qualified_field(index);
                                        Ok(Transformed::yes(Expr::Column(Column::new(q.cloned(), f.name()))))
                                    }
                                    Err(e) => Err(e),
                                }
                            }
                            Expr::ScalarFunction(f) if NAVIGATIONS.contains(&f.func.name()) => {
                                error = Some("navigation functions cannot be used inside an aggregate");
                                Ok(Transformed::no(e))
                            }
                            Expr::AggregateFunction(_) => {
                                error = Some("aggregates cannot nest");
                                Ok(Transformed::no(e))
                            }
                            _ => Ok(Transformed::no(e)),
                        })?
                        .data;
                    if let Some(message) = error {
                        return Err(DataFusionError::Plan(message.into()));
                    }
                    args.push(plain);
                }
                let mut call = expr.clone();
                if let Expr::AggregateFunction(a) = &mut call {
                    a.params.args = args;
                }
                // The argument types the function takes (an INT column summed as BIGINT).
                let simplifier = ExprSimplifier::new(SimplifyContext::default());
                let call = simplifier.coerce(call, self.input)?;
                let data_type = call.get_type(self.input)?;
                Ok(self.term(
                    Term::Aggregate {
                        call,
                        vars: vars.unwrap_or(ALL_VARIABLES),
                        running: self.running,
                    },
                    data_type,
                ))
            }
            _ => self.children(expr),
        }
    }

    fn children(&mut self, expr: &Expr) -> Result<Expr> {
        use datafusion_common::tree_node::{Transformed, TreeNode};
        let mut failed = None;
        let rewritten = expr.clone().map_children(|child| match self.expr(&child) {
            Ok(e) => Ok(Transformed::yes(e)),
            Err(e) => {
                failed = Some(e);
                Ok(Transformed::no(child))
            }
        })?;
        match failed {
            Some(e) => Err(e),
            None => Ok(rewritten.data),
        }
    }

    /// `FIRST(x [, n])` / `LAST(x [, n])`: every column of `x` at the n-th first or last row
    /// of its variable.
    fn logical(&mut self, first: bool, args: &[Expr]) -> Result<Expr> {
        let name = if first { "FIRST" } else { "LAST" };
        let offset = offset_argument(name, args, 0)?;
        let before = self.terms.len();
        let inner = self.expr(&args[0])?;
        let mut vars = None;
        for term in &mut self.terms[before..] {
            match term {
                Term::Column { at, .. } | Term::Classifier { at, .. }
                    if at.offset == 0 && at.physical == 0 && !at.first =>
                {
                    if vars.is_some_and(|v| v != at.vars) {
                        return Err(DataFusionError::Plan(format!(
                            "the columns inside {name} must belong to one pattern variable"
                        )));
                    }
                    vars = Some(at.vars);
                    at.first = first;
                    at.offset = offset;
                }
                _ => {
                    return Err(DataFusionError::Plan(format!(
                        "{name} takes columns of one pattern variable, not navigations or aggregates"
                    )));
                }
            }
        }
        if vars.is_none() {
            return Err(DataFusionError::Plan(format!("{name} needs a column")));
        }
        Ok(inner)
    }

    /// `PREV(x [, n])` / `NEXT(x [, n])`: `x` (columns, or `FIRST`/`LAST` of them) n rows
    /// before or after.
    fn physical(&mut self, prev: bool, args: &[Expr]) -> Result<Expr> {
        let name = if prev { "PREV" } else { "NEXT" };
        let offset = offset_argument(name, args, 1)?;
        let before = self.terms.len();
        let inner = self.expr(&args[0])?;
        if self.terms.len() == before {
            return Err(DataFusionError::Plan(format!("{name} needs a column")));
        }
        for term in &mut self.terms[before..] {
            match term {
                Term::Column { at, .. } | Term::Classifier { at, .. } if at.physical == 0 => {
                    at.physical = if prev {
                        -i64::from(offset)
                    } else {
                        i64::from(offset)
                    };
                }
                _ => {
                    return Err(DataFusionError::Plan(format!(
                        "{name} takes columns, or FIRST/LAST of them; it cannot nest PREV, NEXT or aggregates"
                    )));
                }
            }
        }
        Ok(inner)
    }
}

/// The constant non-negative offset argument of a navigation function.
fn offset_argument(name: &str, args: &[Expr], default: u32) -> Result<u32> {
    match args {
        [_] => Ok(default),
        [_, Expr::Literal(v, _)] => match v.clone().cast_to(&DataType::UInt32) {
            Ok(ScalarValue::UInt32(Some(n))) => Ok(n),
            _ => Err(DataFusionError::Plan(format!(
                "{name}'s offset must be a non-negative integer, found {v}"
            ))),
        },
        [_, other] => Err(DataFusionError::Plan(format!(
            "{name}'s offset must be a constant, found {other}"
        ))),
        _ => Err(DataFusionError::Plan(format!(
            "{name} takes a column and an optional offset"
        ))),
    }
}

/// Placeholders for `FIRST`, `LAST`, `PREV`, `NEXT`, `FINAL`, `CLASSIFIER()`,
/// `MATCH_NUMBER()` and `MATCH_ROWTIME()`, so that expressions using them plan; [`analyze`]
/// replaces them.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Placeholder {
    name: &'static str,
    signature: Signature,
    /// The result type, or `None` for the first argument's.
    result: Option<DataType>,
}

impl ScalarUDFImpl for Placeholder {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &self.result {
            Some(t) => Ok(t.clone()),
            None => args
                .first()
                .cloned()
                .ok_or_else(|| DataFusionError::Plan(format!("{} needs an argument", self.name))),
        }
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(DataFusionError::Plan(format!(
            "{}() is only allowed inside MATCH_RECOGNIZE",
            self.name.to_uppercase()
        )))
    }
}

/// The placeholder functions.
pub fn placeholders() -> Vec<ScalarUDF> {
    let navigation = |name| Placeholder {
        name,
        signature: Signature::variadic_any(Volatility::Immutable),
        result: None,
    };
    vec![
        ScalarUDF::new_from_impl(navigation("first")),
        ScalarUDF::new_from_impl(navigation("last")),
        ScalarUDF::new_from_impl(navigation("prev")),
        ScalarUDF::new_from_impl(navigation("next")),
        ScalarUDF::new_from_impl(navigation(FINAL_FUNCTION)),
        ScalarUDF::new_from_impl(Placeholder {
            name: "classifier",
            signature: Signature::one_of(
                vec![
                    TypeSignature::Nullary,
                    TypeSignature::Exact(vec![DataType::Utf8]),
                ],
                Volatility::Immutable,
            ),
            result: Some(DataType::Utf8),
        }),
        ScalarUDF::new_from_impl(Placeholder {
            name: "match_number",
            signature: Signature::nullary(Volatility::Immutable),
            result: Some(DataType::Int64),
        }),
        ScalarUDF::new_from_impl(Placeholder {
            name: "timed_out",
            signature: Signature::nullary(Volatility::Immutable),
            result: Some(DataType::Boolean),
        }),
        ScalarUDF::new_from_impl(Placeholder {
            name: "match_rowtime",
            signature: Signature::nullary(Volatility::Immutable),
            result: Some(DataType::Timestamp(TimeUnit::Millisecond, None)),
        }),
    ]
}
