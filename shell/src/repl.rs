//! The interactive shell: statements end at `;` and may span lines; a standing query prints
//! rows as they arrive until its input ends or Ctrl-C cancels it. Lines starting with `\` are
//! meta-commands (`meta.rs`), `SHOW JOBS` / `STOP JOB` manage background jobs (`jobs.rs`),
//! Tab completes (`complete.rs`).

use std::path::PathBuf;

use rill_sql::Session;
use rill_sql::parser::is_complete;
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::hint::HistoryHinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Editor, Helper, Highlighter, Hinter};

use crate::Args;
use crate::complete::Words;
use crate::jobs::{JobCommand, Jobs, job_command};
use crate::meta::{self, Next, ShellState};
use crate::output::print_table;

/// Reads until a statement ends with `;`, and completes words with Tab.
#[derive(Helper, Hinter, Highlighter)]
struct StatementHelper {
    words: Words,
    /// Suggests the rest of a line from the history, in grey.
    #[rustyline(Hinter)]
    hinter: HistoryHinter,
}

impl Completer for StatementHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(self.words.complete(line, pos))
    }
}

impl Validator for StatementHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        let trimmed = input.trim();
        if trimmed.is_empty() || trimmed.starts_with('\\') || is_complete(input) {
            Ok(ValidationResult::Valid(None))
        } else {
            Ok(ValidationResult::Incomplete)
        }
    }
}

/// Lets completion see the tables, views and columns the session has now.
fn refresh(editor: &mut Editor<StatementHelper, DefaultHistory>, session: &Session) {
    if let Some(helper) = editor.helper_mut() {
        helper.words = Words::of(session);
    }
}

fn history_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    Some(PathBuf::from(home).join(".rill_history"))
}

/// Runs the shell until Ctrl-D or `\q`; true unless the terminal failed.
pub fn run(args: &Args, runtime: &tokio::runtime::Runtime) -> bool {
    let mut editor: Editor<StatementHelper, DefaultHistory> = match Editor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot open the terminal: {e}");
            return false;
        }
    };
    let mut session = Session::new(args.session_options());
    editor.set_helper(Some(StatementHelper {
        words: Words::of(&session),
        hinter: HistoryHinter::new(),
    }));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    println!(
        "rill {} — Flink SQL over streams. End statements with ';', \\? for help, \\q quits.",
        env!("CARGO_PKG_VERSION")
    );
    let cwd = std::env::current_dir()
        .ok()
        .map(|d| d.display().to_string());
    let variables = args.variables(cwd);
    let mut state = ShellState {
        args: args.clone(),
        timing: false,
        jobs: Jobs::default(),
    };
    loop {
        match editor.readline("rill> ") {
            Ok(input) => {
                let trimmed = input.trim();
                if trimmed.is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(trimmed);
                if matches!(trimmed, "quit" | "exit" | "quit;" | "exit;") {
                    break;
                }
                if trimmed.starts_with('\\') {
                    let next = meta::run(trimmed, &mut state, &mut session, runtime);
                    refresh(&mut editor, &session);
                    match next {
                        Next::Quit => break,
                        Next::Continue => continue,
                    }
                }
                let script = match variables.substitute(&input) {
                    Ok(s) => s,
                    Err(e) => {
                        eprint!("{}", e.render(&input, None));
                        continue;
                    }
                };
                let started = std::time::Instant::now();
                match job_command(&script) {
                    Some(JobCommand::Show) => {
                        let _ = print_table(&state.args, &state.jobs.table());
                    }
                    Some(JobCommand::Stop { id, savepoint }) => {
                        if state.jobs.stop(id, savepoint) {
                            let how = if savepoint { " after a savepoint" } else { "" };
                            println!("[INFO] Job {id} is stopping{how}.");
                        } else {
                            eprintln!("error: no running job {id}: SHOW JOBS lists them");
                        }
                    }
                    None => state.execute(&mut session, &script, runtime),
                }
                refresh(&mut editor, &session);
                if state.timing {
                    println!("Time: {:.3} ms", started.elapsed().as_secs_f64() * 1000.0);
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: {e}");
                return false;
            }
        }
    }
    state.jobs.stop_all();
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    true
}
