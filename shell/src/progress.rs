//! The progress bar of batch runs on stderr: bytes of the input files read, rows per second,
//! the sources' watermark and the lag of log sources.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rill_engine::JobMetrics;
use rill_engine::format::millis_text;

/// A progress bar that follows a job's counters until dropped.
pub struct Progress {
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts drawing `metrics` on stderr, ten times a second.
    pub fn start(metrics: Arc<JobMetrics>) -> Progress {
        let style = ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {msg}")
            .expect("a valid template");
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(10))
            .with_style(style);
        let shown = bar.clone();
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                let total = JobMetrics::get(&metrics.bytes_total);
                shown.set_length(total);
                shown.set_position(JobMetrics::get(&metrics.bytes_read).min(total));
                let rows = JobMetrics::get(&metrics.rows_in) as f64;
                let rate = rows / started.elapsed().as_secs_f64().max(1e-3);
                let watermark = metrics
                    .latest_watermark()
                    .map_or("none".to_string(), millis_text);
                let lag = metrics
                    .lag_text()
                    .map_or(String::new(), |l| format!(", {l}"));
                shown.set_message(format!("{rate:.0} rows/s, watermark {watermark}{lag}"));
            }
        });
        Progress { bar, task }
    }

    /// Prints a line above the bar.
    pub fn println(&self, line: &str) {
        self.bar.println(line);
    }

    /// Stops and clears the bar.
    pub fn finish(self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}
