//! Where query results go: the sink for a query's rows and the printing of small results.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use rill_engine::format::{OutputFormat, RowWriter};
use rill_engine::sink::{Destination, Sink, WriterSink};
use rill_engine::{ChangeBatch, EngineError};

use crate::Args;
use crate::live::LiveTable;

/// The sink that receives a query's result rows, as the command line asks. An `updating`
/// result shows each row's change kind (an `op` column) unless `--sort` materializes it.
pub fn result_sink(
    args: &Args,
    schema: arrow::datatypes::SchemaRef,
    updating: bool,
) -> Result<Box<dyn Sink>, EngineError> {
    let destination = match &args.output {
        Some(path) => Destination::File(path.clone()),
        None => Destination::Stream(Box::new(std::io::stdout())),
    };
    if args.live_table && args.output.is_none() && std::io::stdout().is_terminal() {
        return Ok(Box::new(LiveTable::new(schema)));
    }
    let format = args.result_format();
    // Off a terminal, the table mode writes the final rows once, like --sort.
    let sort = args.sort || args.live_table;
    let changes = updating && !sort;
    let sink = WriterSink::new(
        "result",
        schema,
        match format {
            OutputFormat::Csv if changes => OutputFormat::Changelog,
            format => format,
        },
        args.header,
        sort,
        destination,
    )?;
    let sink = if changes && format == OutputFormat::Table {
        sink.with_ops()
    } else {
        sink
    };
    // On a terminal, a table fits its width.
    let sink = match terminal_width(args) {
        Some(columns) if format == OutputFormat::Table => sink.fit_width(columns),
        _ => sink,
    };
    Ok(Box::new(sink))
}

/// The width of the terminal results are drawn on, if they are.
pub fn terminal_width(args: &Args) -> Option<usize> {
    (args.output.is_none() && std::io::stdout().is_terminal())
        .then(|| console::Term::stdout().size().1 as usize)
}

/// Prints a small result (SHOW, DESCRIBE, EXPLAIN): a table on a terminal, else CSV with header.
pub fn print_table(args: &Args, batch: &RecordBatch) -> std::io::Result<()> {
    let format = match args.result_format() {
        OutputFormat::Table => OutputFormat::Table,
        OutputFormat::Json => OutputFormat::Json,
        _ => OutputFormat::Csv,
    };
    let mut out = std::io::stdout().lock();
    let mut writer = RowWriter::new(format, Arc::clone(batch.schema_ref()), true);
    if let Some(columns) = terminal_width(args) {
        writer = writer.fit_width(columns);
    }
    let batch = ChangeBatch::inserts(batch.clone());
    writer.begin(&mut out, Some(&batch))?;
    writer.write_batch(&mut out, &batch)?;
    writer.finish(&mut out, batch.num_rows() as u64)?;
    out.flush()
}
