//! Running scripts: each statement in turn, results to the chosen output, errors rendered
//! with the script line and a caret.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use rill_engine::format::OutputFormat;
use rill_engine::format::millis_text;
use rill_engine::{EngineError, JobMetrics};
use rill_sql::parser::{RawStatement, split_script};
use rill_sql::script::Variables;
use rill_sql::session::RESULT_MODE;
use rill_sql::{Outcome, Session, SqlError};

use crate::Args;
use crate::jobs::Jobs;
use crate::output::{print_table, result_sink};
use crate::progress::Progress;
use crate::stop::{self, StopSignal};

/// How a script ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// A statement failed (the error is printed).
    Failure,
    /// A signal stopped it.
    Stopped(StopSignal),
}

/// Runs a SQL file.
pub async fn run_file(args: &Args, file: &Path) -> Exit {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return Exit::Failure;
        }
    };
    let dir = std::fs::canonicalize(file)
        .ok()
        .and_then(|p| p.parent().map(|d| d.display().to_string()));
    let origin = file.display().to_string();
    run_script(args, &text, Some(&origin), args.variables(dir)).await
}

/// Runs every statement of `text` in a new session, stopping at the first error (or going on
/// with `--continue-on-error`) or at SIGINT or SIGTERM.
pub async fn run_script(
    args: &Args,
    text: &str,
    origin: Option<&str>,
    variables: Variables,
) -> Exit {
    let mut session = Session::new(args.session_options());
    let script = match variables.substitute(text) {
        Ok(s) => s,
        Err(e) => {
            eprint!("{}", e.render(text, origin));
            return Exit::Failure;
        }
    };
    let statements = match split_script(&script) {
        Ok(statements) => statements,
        Err(e) => {
            eprint!("{}", e.render(&script, origin));
            return Exit::Failure;
        }
    };
    let mut exit = Exit::Success;
    for raw in statements {
        if let Some(signal) = stop::received() {
            eprintln!(
                "rill: stopped by {} before the next statement",
                signal.name()
            );
            return Exit::Stopped(signal);
        }
        let failure = match execute(args, &mut session, &raw, &mut Context::Batch).await {
            Ok(()) => continue,
            Err(Failure::Stopped(signal)) => return Exit::Stopped(signal),
            Err(failure) => failure,
        };
        exit = Exit::Failure;
        // In a file, errors without a place of their own name the statement's line.
        let statement = || {
            if let Some(file) = origin {
                eprintln!(" --> {file}:{}: in the statement starting here", raw.line);
            }
        };
        match failure {
            Failure::Sql(e) => {
                eprint!("{}", e.render(&script, origin));
                if e.position.is_none() {
                    statement();
                }
            }
            Failure::Run(message) => {
                eprintln!("error: {message}");
                statement();
            }
            Failure::Stopped(_) => unreachable!("returned above"),
        }
        if !args.continue_on_error {
            break;
        }
    }
    exit
}

/// Where statements run: a batch script, or the shell with its background jobs.
pub enum Context<'a> {
    Batch,
    Shell(&'a mut Jobs),
}

impl Context<'_> {
    fn interactive(&self) -> bool {
        matches!(self, Context::Shell(_))
    }
}

/// Why a script stopped.
pub enum Failure {
    /// A statement is wrong.
    Sql(SqlError),
    /// A job failed while running.
    Run(String),
    /// A signal stopped a batch run (the shell's Ctrl-C cancels a query: a `Run` failure).
    Stopped(StopSignal),
}

impl From<SqlError> for Failure {
    fn from(e: SqlError) -> Self {
        Failure::Sql(e)
    }
}

/// Runs the statements of `script` one after the other in `session`; in the shell,
/// statements that change the session are confirmed and `INSERT` jobs run in the background.
pub async fn execute_all(
    args: &Args,
    session: &mut Session,
    script: &str,
    context: &mut Context<'_>,
) -> Result<(), Failure> {
    for raw in split_script(script)? {
        execute(args, session, &raw, context).await?;
    }
    Ok(())
}

/// Runs one statement in `session`.
async fn execute(
    args: &Args,
    session: &mut Session,
    raw: &RawStatement,
    context: &mut Context<'_>,
) -> Result<(), Failure> {
    let statement = raw.parse()?;
    let outcome = session.execute(&statement).await?;
    if let Outcome::Shared(job) = outcome {
        return match context {
            Context::Shell(jobs) => {
                let id = jobs.submit_shared(&raw.text, session.clone(), *job);
                println!(
                    "[INFO] Job {id} submitted, shared with the processes of its consumer group: \
                     SHOW JOBS follows this process's share, STOP JOB '{id}' stops it."
                );
                Ok(())
            }
            Context::Batch => run_shared(session, &job).await,
        };
    }
    // `SET 'sql-client.execution.result-mode'` chooses the format, as in Flink's client.
    let mode = match session.setting(RESULT_MODE) {
        Some("changelog") => Some((OutputFormat::Changelog, false)),
        Some("tableau") => Some((OutputFormat::Table, false)),
        Some("table") => Some((OutputFormat::Table, true)),
        _ => None,
    };
    match mode {
        Some((format, live_table)) => {
            let mut args = args.clone();
            args.format = Some(format);
            args.live_table = live_table;
            run_outcome(&args, outcome, &raw.text, context).await
        }
        None => run_outcome(args, outcome, &raw.text, context).await,
    }
}

/// Shows or runs what `statement` produced.
async fn run_outcome(
    args: &Args,
    outcome: Outcome,
    statement: &str,
    context: &mut Context<'_>,
) -> Result<(), Failure> {
    let run_error = |e: std::io::Error| Failure::Run(e.to_string());
    let interactive = context.interactive();
    match outcome {
        Outcome::Done(message) => {
            if interactive {
                println!("[INFO] {message}");
            }
            Ok(())
        }
        Outcome::Table(batch) => print_table(args, &batch).map_err(run_error),
        Outcome::Text(text) => {
            println!("{}", text.trim_end());
            Ok(())
        }
        Outcome::Query(mut plan) => {
            warn(&plan.dataflow);
            let sink = result_sink(args, plan.schema.clone(), plan.updating)
                .map_err(|e| Failure::Run(e.to_string()))?;
            plan.dataflow.add_sink(sink, plan.output);
            if !resume(&mut plan.dataflow)? {
                return Ok(());
            }
            run_job(args, plan.dataflow, interactive).await
        }
        Outcome::Shared(_) => unreachable!("run by execute"),
        Outcome::Insert(mut dataflow) => {
            warn(&dataflow);
            if !resume(&mut dataflow)? {
                return Ok(());
            }
            match context {
                Context::Shell(jobs) => {
                    let id = jobs.submit(statement, dataflow);
                    println!(
                        "[INFO] Job {id} submitted: SHOW JOBS follows it, STOP JOB '{id}' stops it."
                    );
                    Ok(())
                }
                Context::Batch => run_job(args, dataflow, false).await,
            }
        }
    }
}

/// Runs this process's share of a job shared by a consumer group, until the job is done, it
/// fails, or a signal stops it (its tasks then stop at savepoints, for the others to resume).
/// Its progress, lag and end-of-run summary are those of this process's share.
async fn run_shared(session: &Session, job: &rill_sql::session::SharedJob) -> Result<(), Failure> {
    let started = Instant::now();
    let metrics = std::sync::Arc::new(JobMetrics::default());
    let progress = std::io::stderr()
        .is_terminal()
        .then(|| Progress::start(metrics.clone()));
    let said = |text: String| eprintln!("rill: {text}");
    let report_line = |text: String| match &progress {
        Some(progress) => progress.println(&format!("rill: {text}")),
        None => said(text),
    };
    let stopping = Box::pin(async {
        stop::wait().await;
    });
    let result = rill_sql::shared::run(session, job, &report_line, stopping, metrics.clone()).await;
    if let Some(progress) = progress {
        progress.finish();
    }
    report(&metrics);
    result.map_err(Failure::Run)?;
    if let Some(signal) = stop::received() {
        return Err(Failure::Stopped(signal));
    }
    if std::io::stderr().is_terminal() {
        summary(&metrics, started.elapsed());
    }
    Ok(())
}

/// Restores a checkpointed job from its latest checkpoint, saying so on stderr; false when
/// that checkpoint is of a finished run (its output is complete: nothing is left to run).
fn resume(dataflow: &mut rill_engine::Dataflow) -> Result<bool, Failure> {
    match dataflow.resume().map_err(|e| Failure::Run(e.to_string()))? {
        None => Ok(true),
        Some(resumed) if resumed.finished => {
            eprintln!(
                "rill: checkpoint {} of this job is of a finished run: its output is \
                 complete and nothing is left to run (remove the checkpoint directory to \
                 run it afresh)",
                resumed.path.display()
            );
            Ok(false)
        }
        Some(resumed) => {
            eprintln!(
                "rill: resuming from checkpoint {} ({})",
                resumed.id,
                resumed.path.display()
            );
            Ok(true)
        }
    }
}

/// Prints the warnings of a job's planning on stderr.
fn warn(dataflow: &rill_engine::Dataflow) {
    for warning in dataflow.warnings() {
        eprintln!("warning: {warning}");
    }
}

/// Runs a job to its end (or until Ctrl-C), then reports skipped rows on stderr.
async fn run_job(
    args: &Args,
    dataflow: rill_engine::Dataflow,
    interactive: bool,
) -> Result<(), Failure> {
    let started = Instant::now();
    tracing::info!(nodes = %dataflow.describe().trim().replace('\n', "; "), "job started");
    let mut job = dataflow.start();
    let metrics = job.metrics();
    // A progress bar in batch runs on a terminal, unless results are drawn there too.
    let results_on_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let progress = (!interactive && std::io::stderr().is_terminal() && !results_on_terminal)
        .then(|| Progress::start(metrics.clone()));
    let finished = tokio::select! {
        result = job.wait() => Ok(result),
        // The shell's Ctrl-C cancels the query; a batch run stops at SIGINT or SIGTERM.
        _ = tokio::signal::ctrl_c(), if interactive => Err(None),
        signal = stop::wait(), if !interactive => Err(Some(signal)),
    };
    let result = match finished {
        // A reader that stopped reading (`| head`) ends the query quietly.
        Ok(Err(EngineError::OutputClosed)) => Ok(()),
        Ok(result) => result.map_err(|e| Failure::Run(e.to_string())),
        Err(signal) => {
            job.cancel();
            // Sources blocked on a read (standard input) may not notice at once: the
            // others have stopped, and uncommitted files are gone, by then.
            let _ = tokio::time::timeout(Duration::from_secs(2), job.wait()).await;
            Err(match signal {
                None => Failure::Run("query cancelled".into()),
                Some(signal) => Failure::Stopped(signal),
            })
        }
    };
    if let Some(progress) = progress {
        progress.finish();
    }
    match &result {
        Ok(()) => tracing::info!("job finished"),
        Err(Failure::Stopped(signal)) => tracing::info!(signal = signal.name(), "job stopped"),
        Err(Failure::Run(e)) => tracing::error!(error = %e, "job failed"),
        Err(Failure::Sql(e)) => tracing::error!(error = %e.message, "job failed"),
    }
    report(&metrics);
    if let Some(last) = job.checkpoints().last() {
        eprintln!("rill: last checkpoint {last}");
    }
    if let Err(Failure::Stopped(signal)) = &result {
        eprintln!(
            "rill: stopped by {} after {} rows in and {} rows out; files not yet committed \
             were discarded",
            signal.name(),
            JobMetrics::get(&metrics.rows_in),
            JobMetrics::get(&metrics.rows_out),
        );
    } else if std::io::stderr().is_terminal() {
        summary(&metrics, started.elapsed());
    }
    result
}

/// One line for people watching: rows in and out, late rows dropped, malformed rows, each
/// source's latest watermark, log sources' lag, elapsed time.
fn summary(metrics: &JobMetrics, elapsed: Duration) {
    let watermarks: Vec<String> = metrics
        .source_watermarks()
        .into_iter()
        .map(|(source, w)| format!("{source} {}", millis_text(w)))
        .collect();
    let watermarks = if watermarks.is_empty() {
        "none".to_string()
    } else {
        watermarks.join(", ")
    };
    let lag = metrics
        .lag_text()
        .map_or(String::new(), |l| format!("{l}, "));
    eprintln!(
        "{} rows in, {} rows out, {} late rows dropped, {} malformed rows, \
         watermark {watermarks}, {lag}state {}, {:.2} s",
        JobMetrics::get(&metrics.rows_in),
        JobMetrics::get(&metrics.rows_out),
        JobMetrics::get(&metrics.late_rows),
        JobMetrics::get(&metrics.malformed_rows),
        crate::jobs::mebibytes(metrics.state_bytes()),
        elapsed.as_secs_f64()
    );
}

/// Rows that were dropped, or malformed and read with ignore-parse-errors, on stderr.
fn report(metrics: &JobMetrics) {
    let late = JobMetrics::get(&metrics.late_rows);
    if late > 0 {
        eprintln!(
            "warning: dropped {late} late row{} (they came after the watermark had passed them)",
            if late == 1 { "" } else { "s" }
        );
    }
    let malformed = JobMetrics::get(&metrics.malformed_rows);
    if malformed == 0 {
        return;
    }
    eprintln!(
        "warning: ignored parse errors in {malformed} malformed row{}",
        if malformed == 1 { "" } else { "s" }
    );
    for example in metrics.malformed_examples() {
        eprintln!("  {example}");
    }
    if malformed as usize > metrics.malformed_examples().len() {
        eprintln!("  ...");
    }
}
