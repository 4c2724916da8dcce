//! Work spread over threads, its results handed on in the order of the work: how a source
//! decodes a file or generates events on every core while everything downstream sees the rows
//! of a sequential read.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{channel, sync_channel};
use std::sync::{Arc, Mutex};

use super::decode::panic_message;
use crate::{EngineError, Result};

/// Does `jobs` on `workers` threads and hands their results to `emit` in the jobs' order,
/// giving out a job only while fewer than `in_flight` are out and not yet handed on. Each
/// worker keeps a `S` from job to job (a decoder's buffers), made again after a job fails.
///
/// A job's error, or its panic (reported as an internal error while `what`), fails the run in
/// the job's turn, once the results before it are handed on; an error of `jobs` itself (the
/// input) fails it at once. Returns false as soon as `emit` does: the jobs given out are then
/// dropped.
pub(crate) fn in_order<J: Send, T: Send, S: Default>(
    workers: usize,
    in_flight: usize,
    what: &str,
    jobs: impl Iterator<Item = Result<J>>,
    work: &(impl Fn(&mut S, J) -> Result<T> + Sync),
    mut emit: impl FnMut(T) -> Result<bool>,
) -> Result<bool> {
    std::thread::scope(|scope| {
        let (queue, queued) = sync_channel::<(u64, J)>(workers);
        let queued = Arc::new(Mutex::new(queued));
        let (done_tx, done) = channel::<(u64, Result<T>)>();
        for _ in 0..workers {
            let (done_tx, queued) = (done_tx.clone(), queued.clone());
            crate::spawn_scoped(scope, move || {
                let mut kept = S::default();
                loop {
                    // One lock per job: jobs are large (a megabyte of a file, a batch).
                    let next = queued.lock().expect("job queue").recv();
                    let Ok((seq, job)) = next else { break };
                    // A panic must still answer for its job, or the run waits forever.
                    let result =
                        std::panic::catch_unwind(AssertUnwindSafe(|| work(&mut kept, job)))
                            .unwrap_or_else(|panic| {
                                Err(EngineError::Other(format!(
                                    "internal error while {what}: {}",
                                    panic_message(panic.as_ref())
                                )))
                            });
                    if result.is_err() {
                        kept = S::default();
                    }
                    if done_tx.send((seq, result)).is_err() {
                        break;
                    }
                }
            })?;
        }
        drop(done_tx);
        let mut jobs = jobs.fuse();
        let (mut sent, mut emitted) = (0u64, 0u64);
        let mut ready = BTreeMap::new();
        // Returning leaves the scope, which closes the queue: the workers finish.
        loop {
            while sent - emitted < in_flight as u64 {
                let Some(job) = jobs.next() else { break };
                queue.send((sent, job?)).map_err(|_| worker_lost(what))?;
                sent += 1;
            }
            if emitted == sent {
                return Ok(true);
            }
            let (seq, result) = done.recv().map_err(|_| worker_lost(what))?;
            ready.insert(seq, result);
            while let Some(result) = ready.remove(&emitted) {
                emitted += 1;
                if !emit(result?)? {
                    return Ok(false);
                }
            }
        }
    })
}

fn worker_lost(what: &str) -> EngineError {
    EngineError::Other(format!("internal error: a thread stopped while {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Squares of `0..n`, each job sleeping a little longer the earlier it is, so that later
    /// jobs finish first.
    fn squares(n: u64, workers: usize, in_flight: usize, stop_at: Option<u64>) -> Vec<u64> {
        let mut out = Vec::new();
        let jobs = (0..n).map(Ok);
        let work = |_: &mut (), i: u64| {
            std::thread::sleep(std::time::Duration::from_micros((n - i) % 7 * 100));
            Ok(i * i)
        };
        let stopped = !in_order(workers, in_flight, "squaring", jobs, &work, |square| {
            out.push(square);
            Ok(stop_at != Some(square))
        })
        .unwrap();
        assert_eq!(stopped, stop_at.is_some());
        out
    }

    #[test]
    fn results_come_in_the_order_of_the_jobs() {
        let expected: Vec<u64> = (0..200).map(|i| i * i).collect();
        for (workers, in_flight) in [(1, 1), (2, 1), (3, 6), (4, 100)] {
            assert_eq!(squares(200, workers, in_flight, None), expected);
        }
        assert_eq!(squares(0, 2, 4, None), Vec::<u64>::new());
        assert_eq!(
            squares(200, 3, 6, Some(100)),
            vec![0, 1, 4, 9, 16, 25, 36, 49, 64, 81, 100]
        );
    }

    #[test]
    fn a_failing_or_panicking_job_fails_the_run_in_its_turn() {
        for panics in [false, true] {
            let mut out = Vec::new();
            let work = |made: &mut u32, i: u64| {
                *made += 1;
                match i {
                    5 if panics => panic!("job {i} broke"),
                    5 => Err(EngineError::Other(format!("job {i} failed"))),
                    i => Ok(i),
                }
            };
            let err = in_order(2, 4, "counting", (0..50).map(Ok), &work, |i| {
                out.push(i);
                Ok(true)
            })
            .unwrap_err()
            .to_string();
            assert_eq!(out, vec![0, 1, 2, 3, 4]);
            let expected = match panics {
                true => "internal error while counting: job 5 broke",
                false => "job 5 failed",
            };
            assert!(err.contains(expected), "{err}");
        }
        // An error of the jobs themselves (the input) fails the run at once: with one job in
        // flight, after the jobs before it are handed on.
        let jobs = (0..10).map(|i| match i {
            7 => Err(EngineError::Other("no more input".into())),
            i => Ok(i),
        });
        let mut out = Vec::new();
        let err = in_order(2, 1, "copying", jobs, &|_: &mut (), i| Ok(i), |i| {
            out.push(i);
            Ok(true)
        });
        assert_eq!(err.unwrap_err().to_string(), "no more input");
        assert_eq!(out, (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn no_more_jobs_than_in_flight_are_out_at_once() {
        let given = std::sync::atomic::AtomicU64::new(0);
        let jobs = (0..100).map(|i| {
            given.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(i)
        });
        let mut out = 0;
        in_order(2, 3, "counting", jobs, &|_: &mut (), i| Ok(i), |i| {
            // The job handed on and at most two after it were given out.
            assert!(given.load(std::sync::atomic::Ordering::SeqCst) <= i + 3);
            out += 1;
            Ok(true)
        })
        .unwrap();
        assert_eq!(out, 100);
    }
}
