//! `rill`: run Flink SQL over streams from files (`-f`), strings (`-c`) or an interactive shell.

mod complete;
mod jobs;
mod live;
mod meta;
mod output;
mod progress;
mod repl;
mod run;
mod stop;

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rill_engine::format::OutputFormat;
use rill_sql::SessionOptions;
use rill_sql::script::Variables;
use run::Exit;

/// A streaming SQL and complex-event-processing engine speaking Flink SQL.
#[derive(Debug, Clone, Parser)]
#[command(name = "rill", version, about)]
pub struct Args {
    /// Run the statements of a SQL file.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        conflicts_with = "command"
    )]
    file: Option<PathBuf>,
    /// Run the statements of a string.
    #[arg(
        short = 'c',
        long = "command",
        value_name = "SQL",
        allow_hyphen_values = true
    )]
    command: Option<String>,
    /// Define ${NAME} for the script (repeatable).
    #[arg(short = 'D', value_name = "NAME=VALUE", value_parser = parse_define)]
    define: Vec<(String, String)>,
    /// Write query results to a file instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: Option<PathBuf>,
    /// Result format [default: table on a terminal, csv otherwise].
    #[arg(long, value_parser = parse_format)]
    format: Option<OutputFormat>,
    /// Sort result rows by all columns (waits for the end of the input).
    #[arg(long)]
    sort: bool,
    /// Print a header line with the column names (CSV and changelog formats).
    #[arg(long)]
    header: bool,
    /// Flink's `'table'` result mode: the materialized result, redrawn in place on a terminal.
    #[arg(skip)]
    live_table: bool,
    /// Go on with the next statements of a file when one fails (the exit code is still 1).
    #[arg(long)]
    continue_on_error: bool,
    /// Rows per batch read by sources.
    #[arg(long, default_value_t = 8192, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
    /// Instances of each keyed operator, unless the SQL sets 'parallelism.default'
    /// [default: the number of cores].
    #[arg(short = 'p', long, value_parser = clap::value_parser!(u32).range(1..))]
    parallelism: Option<u32>,
}

fn parse_define(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected NAME=VALUE, found '{s}'"))
}

pub(crate) fn parse_format(s: &str) -> Result<OutputFormat, String> {
    OutputFormat::from_name(s)
        .ok_or_else(|| format!("unknown format '{s}' (csv, json, table, changelog)"))
}

impl Args {
    /// The result format: as given, else a table for people and CSV for programs.
    fn result_format(&self) -> OutputFormat {
        self.format.unwrap_or(
            if self.output.is_none() && std::io::stdout().is_terminal() {
                OutputFormat::Table
            } else {
                OutputFormat::Csv
            },
        )
    }

    /// The options of the session the statements run in.
    fn session_options(&self) -> SessionOptions {
        SessionOptions {
            batch_size: self.batch_size as usize,
            parallelism: (self.parallelism.map(|n| n as usize))
                .unwrap_or_else(rill_sql::session::default_parallelism),
        }
    }

    fn variables(&self, sql_dir: Option<String>) -> Variables {
        Variables {
            defines: self.define.iter().cloned().collect::<HashMap<_, _>>(),
            sql_dir,
        }
    }
}

/// Stack of the thread that parses and plans. Plans and expressions are trees walked by
/// recursion (in DataFusion and in rill); deep SQL — a sum of thousands of terms, CASE within
/// CASE, views of views — needs far more than a default thread's 8 MiB. Only the pages used
/// are ever backed by memory.
const PLANNING_STACK: usize = 1 << 30;

/// Operators allocate and free Arrow buffers of hundreds of kilobytes batch after batch.
/// glibc maps each such buffer from the system and unmaps it when freed, and every batch
/// page-faults its memory in again: 30-40 % of the CPU time of Nexmark q0 (JSON in, a
/// filter, a blackhole out). Kept in the heap below 32 MiB, and the heap trimmed only past
/// 64 MiB free, they are reused instead.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets the allocator's parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

fn main() -> ExitCode {
    keep_freed_memory();
    let args = Args::parse();
    // Lifecycle logs (start, checkpoints, restores, errors) on stderr, as `RUST_LOG` asks
    // (e.g. `RUST_LOG=info`); none by default, where stderr carries rill's own messages.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let planning = std::thread::Builder::new()
        .name("rill".into())
        .stack_size(PLANNING_STACK)
        .spawn(move || run(args));
    match planning.map(|thread| thread.join()) {
        Ok(Ok(exit)) => exit,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(rill_engine::EXPRESSION_STACK)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let batch = args.file.is_some() || args.command.is_some();
    if batch && let Err(e) = runtime.block_on(async { stop::listen() }) {
        eprintln!("error: cannot catch signals: {e}");
        return ExitCode::FAILURE;
    }
    let exit = if let Some(file) = &args.file {
        runtime.block_on(run::run_file(&args, file))
    } else if let Some(sql) = &args.command {
        let cwd = std::env::current_dir()
            .ok()
            .map(|d| d.display().to_string());
        runtime.block_on(run::run_script(&args, sql, None, args.variables(cwd)))
    } else if repl::run(&args, &runtime) {
        Exit::Success
    } else {
        Exit::Failure
    };
    // Every job has finished here; idle blocking threads need not be waited for (dropping
    // the runtime can wait out their 10 s keep-alive).
    runtime.shutdown_background();
    match exit {
        Exit::Success => ExitCode::SUCCESS,
        Exit::Failure => ExitCode::FAILURE,
        Exit::Stopped(signal) => ExitCode::from(signal.exit_code()),
    }
}
