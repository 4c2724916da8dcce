//! Planning `TO_CHANGELOG` and `FROM_CHANGELOG` (see [`crate::changelog`]).

use rill_engine::dataflow::NodeId;
use rill_engine::operator::{FromChangelog, Operator as StreamOperator, ToChangelog};

use super::{StreamPlanner, output_schema};
use crate::changelog::{ChangelogNode, Changes};
use crate::error::{SqlError, SqlResult};

impl StreamPlanner<'_> {
    /// A changelog function's stateless operator. Its rows have no time attribute, as a
    /// process table function's in Flink; `FROM_CHANGELOG`'s update, `TO_CHANGELOG`'s do not.
    pub(super) fn changelog(&mut self, node: &ChangelogNode) -> SqlResult<NodeId> {
        let input = self.plan(&node.input)?;
        let schema = output_schema(&node.schema);
        let width = node.input.schema().fields().len();
        // Where each output column comes from in the input.
        let (operator, columns): (Box<dyn StreamOperator>, Vec<Option<usize>>) =
            match &node.function {
                Changes::ToRows(codes) => {
                    if self.folded_changes.contains(&input) {
                        return Err(SqlError::new(
                            "TO_CHANGELOG over the updates of a GROUP BY or a regular join is \
                             not supported yet: the changes rill makes of them depend on batch \
                             sizes (a GROUP BY folds a batch's updates of a group into one, as \
                             Flink's mini-batch does)",
                        ));
                    }
                    let columns = std::iter::once(None).chain((0..width).map(Some));
                    let operator = ToChangelog::new(codes.clone(), schema);
                    (Box::new(operator), columns.collect())
                }
                Changes::FromRows { op, codes } => {
                    if self.updating.contains(&input) {
                        return Err(SqlError::new(
                            "FROM_CHANGELOG takes an append-only table, whose rows name their \
                             changes",
                        ));
                    }
                    let columns = (0..width).filter(|c| c != op).map(Some);
                    let operator = FromChangelog::new(*op, codes.clone(), schema);
                    (Box::new(operator), columns.collect())
                }
            };
        let changes = self.dataflow.add_operator(operator, vec![input]);
        if matches!(node.function, Changes::FromRows { .. }) {
            self.updating.insert(changes);
        }
        self.no_time_attribute.insert(changes);
        if let Some(policy) = self.late.get(&input).cloned() {
            self.late.insert(changes, policy);
        }
        if let Some(shared) = &mut self.shared {
            shared.derive(changes, input, &columns);
        }
        Ok(changes)
    }
}
