//! The shell's meta-commands, in the style of psql: `\?`, `\d [name]`, `\i file`, `\o [file]`,
//! `\format name`, `\timing`, `\q`.

use std::path::PathBuf;

use rill_sql::Session;
use rill_sql::session::RESULT_MODE;

use crate::Args;
use crate::jobs::Jobs;
use crate::run::{Context, Failure, execute_all};

/// The help text of `\?`.
const HELP: &str = "\
Statements end with ';' and may span lines. Meta-commands:
  \\?               this help
  \\d               list tables and views
  \\d NAME          describe a table
  \\i FILE          run the statements of a file
  \\o [FILE]        write each query's results to FILE (no FILE: to the terminal)
  \\format NAME     result format: table, csv, json or changelog
  \\mode NAME       result mode, as Flink's client: table (current rows, redrawn in
                   place), tableau (rows as they come) or changelog
  \\timing          show how long each statement takes (toggle)
  \\q               quit (also Ctrl-D); Ctrl-C cancels a running query
";

/// Settings the meta-commands change, and the background jobs.
pub struct ShellState {
    /// The command line, with `\o` and `\format` applied.
    pub args: Args,
    /// Whether statements are timed.
    pub timing: bool,
    pub jobs: Jobs,
}

impl ShellState {
    /// Runs `script` in `session` as typed in the shell.
    pub fn execute(
        &mut self,
        session: &mut Session,
        script: &str,
        runtime: &tokio::runtime::Runtime,
    ) {
        let mut context = Context::Shell(&mut self.jobs);
        let result = runtime.block_on(execute_all(&self.args, session, script, &mut context));
        report(script, result);
    }
}

/// What a meta-command asks of the shell loop.
pub enum Next {
    Continue,
    Quit,
}

/// Runs the meta-command `line` (starting with `\`).
pub fn run(
    line: &str,
    state: &mut ShellState,
    session: &mut Session,
    runtime: &tokio::runtime::Runtime,
) -> Next {
    let mut words = line.trim().trim_end_matches(';').split_whitespace();
    let command = words.next().unwrap_or_default();
    let argument = words.next();
    let sql = |text: String, state: &mut ShellState, session: &mut Session| {
        state.execute(session, &text, runtime);
    };
    match (command, argument) {
        ("\\q", _) => return Next::Quit,
        ("\\?" | "\\h" | "\\help", _) => print!("{HELP}"),
        ("\\d", None) => sql("SHOW TABLES".into(), state, session),
        ("\\d", Some(name)) => sql(format!("DESCRIBE {name}"), state, session),
        ("\\i", Some(file)) => match std::fs::read_to_string(file) {
            Ok(text) => {
                let dir = std::fs::canonicalize(file)
                    .ok()
                    .and_then(|p| p.parent().map(|d| d.display().to_string()));
                match state.args.variables(dir).substitute(&text) {
                    Ok(script) => state.execute(session, &script, runtime),
                    Err(e) => eprint!("{}", e.render(&text, Some(file))),
                }
            }
            Err(e) => eprintln!("error: cannot read {file}: {e}"),
        },
        ("\\o", file) => {
            state.args.output = file.map(PathBuf::from);
            match file {
                Some(f) => println!("[INFO] Query results go to {f}."),
                None => println!("[INFO] Query results go to the terminal."),
            }
        }
        ("\\format", Some(name)) => match crate::parse_format(name) {
            Ok(format) => {
                state.args.format = Some(format);
                println!("[INFO] Result format: {name}.");
            }
            Err(e) => eprintln!("error: {e}"),
        },
        ("\\mode", Some(mode)) => sql(
            format!("SET '{RESULT_MODE}' = '{}'", mode.replace('\'', "")),
            state,
            session,
        ),
        ("\\timing", None) => {
            state.timing = !state.timing;
            println!(
                "[INFO] Timing is {}.",
                if state.timing { "on" } else { "off" }
            );
        }
        _ => eprintln!(
            "error: unknown meta-command {}: \\? lists them",
            line.trim()
        ),
    }
    Next::Continue
}

/// Prints a statement's failure.
pub fn report(script: &str, result: Result<(), Failure>) {
    match result {
        Ok(()) => {}
        Err(Failure::Sql(e)) => eprint!("{}", e.render(script, None)),
        Err(Failure::Run(message)) => eprintln!("error: {message}"),
        Err(Failure::Stopped(signal)) => eprintln!("stopped by {}", signal.name()),
    }
}
