//! Named fault points for the recovery tests: with `RILL_FAULT=<point>:<n>` the process kills
//! itself (SIGKILL, as a crash) the n-th time it passes `<point>`. Without the variable a
//! point costs one load of a flag; points sit on checkpoint paths, never per row.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The point to fail at and on which pass.
static FAULT: LazyLock<Option<(String, u64)>> = LazyLock::new(|| {
    let spec = std::env::var("RILL_FAULT").ok()?;
    let (point, n) = spec.rsplit_once(':')?;
    Some((point.to_string(), n.parse().ok()?))
});

static PASSES: AtomicU64 = AtomicU64::new(0);

/// Passes the fault point `name`.
pub fn point(name: &str) {
    let Some((point, n)) = FAULT.as_ref() else {
        return;
    };
    if point == name && PASSES.fetch_add(1, Ordering::SeqCst) + 1 == *n {
        eprintln!("rill: fault injected at {name} (pass {n})");
        // SAFETY: kill(2) with our own pid has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
