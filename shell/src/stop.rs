//! Stopping a batch run (`-f`, `-c`) on SIGINT and SIGTERM. The signals are caught for the
//! whole run, so one that arrives while a statement is planned still stops the script before
//! its next step; a running job is cancelled (sources stop, uncommitted files are discarded)
//! and rill exits with 128 + the signal's number, as shells report a process killed by it.
//! (The interactive shell keeps the defaults: Ctrl-C cancels the running query.)

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;

/// A signal that asks rill to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// Ctrl-C.
    Interrupt,
    Terminate,
}

impl StopSignal {
    fn number(self) -> i32 {
        match self {
            StopSignal::Interrupt => 2,
            StopSignal::Terminate => 15,
        }
    }

    /// The signal's name, as `kill -l` prints it.
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }

    /// The exit code of a run it stopped.
    pub fn exit_code(self) -> u8 {
        128 + self.number() as u8
    }
}

/// How long a stop may take before rill exits anyway: an operator busy with one huge batch
/// does not look at the signal until it is done.
const GRACE: Duration = Duration::from_secs(5);

/// The last signal received (0: none) and a wake-up for whoever waits for one.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
static NOTIFY: Notify = Notify::const_new();

/// Starts catching SIGINT and SIGTERM; call once, inside the runtime.
pub fn listen() -> std::io::Result<()> {
    for kind in [StopSignal::Interrupt, StopSignal::Terminate] {
        let mut stream = signal(SignalKind::from_raw(kind.number()))?;
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                RECEIVED.store(kind.number(), Ordering::SeqCst);
                NOTIFY.notify_waiters();
                std::thread::spawn(move || {
                    std::thread::sleep(GRACE);
                    eprintln!(
                        "rill: stopped by {}, still busy after {} s: exiting now",
                        kind.name(),
                        GRACE.as_secs()
                    );
                    std::process::exit(kind.exit_code().into());
                });
            }
        });
    }
    // Past a `ulimit -f` limit a write then fails with EFBIG, reported with the file's path,
    // rather than the process being killed by SIGXFSZ.
    // SAFETY: setting a signal's disposition to "ignore" has no preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    Ok(())
}

/// The signal received, if any, without waiting.
pub fn received() -> Option<StopSignal> {
    match RECEIVED.load(Ordering::SeqCst) {
        2 => Some(StopSignal::Interrupt),
        15 => Some(StopSignal::Terminate),
        _ => None,
    }
}

/// Waits for a signal.
pub async fn wait() -> StopSignal {
    loop {
        let notified = NOTIFY.notified();
        if let Some(signal) = received() {
            return signal;
        }
        notified.await;
    }
}
