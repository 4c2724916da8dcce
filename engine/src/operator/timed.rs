//! What the operators that hold rows until the watermark makes them final share: fire, then
//! pass the watermark on; at the end fire everything and commit the late rows' side file.

use crate::Result;
use crate::batch::Message;
use crate::late::LateRows;
use crate::time::Watermark;

/// An operator that emits what a watermark made final.
pub(crate) trait Timed {
    /// Emits what is final at `watermark`.
    fn fire(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()>;

    /// The watermark last passed downstream.
    fn watermark_mut(&mut self) -> &mut Watermark;

    /// Where its late rows go.
    fn late_rows(&mut self) -> &mut LateRows;

    /// Fires at `watermark`, then passes it on: what fired is stamped with the watermark
    /// before it, as in Flink.
    fn advance(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        self.fire(watermark, out)?;
        *self.watermark_mut() = watermark;
        out.push(Message::Watermark(watermark));
        Ok(())
    }

    /// At the end of the input: fires everything and commits the late rows.
    fn finish(&mut self, out: &mut Vec<Message>) -> Result<()> {
        self.fire(Watermark::MAX, out)?;
        self.late_rows().finish()
    }
}
