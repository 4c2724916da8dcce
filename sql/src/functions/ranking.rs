//! `ROW_NUMBER`, `RANK` and `DENSE_RANK` with Flink's result type, `BIGINT NOT NULL`
//! (DataFusion's are `BIGINT UNSIGNED`). rill's operators compute them: the Top-N operators
//! number rows, and an `OVER` ordered by event time counts them (`plan/over.rs`); DataFusion's
//! evaluators never run.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion_common::{Result, not_impl_err};
use datafusion_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion_expr::{PartitionEvaluator, Signature, WindowUDF, WindowUDFImpl};
use datafusion_functions_window::{rank, row_number};

/// The functions, to register over DataFusion's.
pub fn functions() -> Vec<WindowUDF> {
    [
        row_number::row_number_udwf(),
        rank::rank_udwf(),
        rank::dense_rank_udwf(),
    ]
    .into_iter()
    .map(|f| WindowUDF::new_from_impl(Ranking(f)))
    .collect()
}

/// DataFusion's function `.0` with Flink's type.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Ranking(Arc<WindowUDF>);

impl WindowUDFImpl for Ranking {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn aliases(&self) -> &[String] {
        self.0.aliases()
    }

    fn signature(&self) -> &Signature {
        self.0.signature()
    }

    fn partition_evaluator(
        &self,
        _: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        not_impl_err!(
            "{} is computed by rill's Top-N and OVER operators",
            self.name()
        )
    }

    fn field(&self, args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(args.name(), DataType::Int64, false)))
    }

    fn sort_options(&self) -> Option<arrow::compute::SortOptions> {
        self.0.sort_options()
    }
}
