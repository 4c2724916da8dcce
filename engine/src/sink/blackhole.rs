//! The `blackhole` connector: discards rows (for throughput runs).

use super::Sink;
use crate::Result;
use crate::batch::ChangeBatch;

/// Discards every row.
#[derive(Debug, Default)]
pub struct BlackholeSink;

impl Sink for BlackholeSink {
    fn name(&self) -> &str {
        "blackhole"
    }

    fn on_batch(&mut self, _batch: &ChangeBatch) -> Result<()> {
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
