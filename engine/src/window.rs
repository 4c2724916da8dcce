//! Event-time windows as Flink's window table functions define them: which windows a row
//! belongs to, in milliseconds.

use std::fmt;

/// A windowing function and its parameters, all in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum WindowKind {
    /// `TUMBLE`: back-to-back windows of `size`.
    Tumble { size: i64, offset: i64 },
    /// `HOP`: windows of `size` starting every `slide`.
    Hop { slide: i64, size: i64, offset: i64 },
    /// `CUMULATE`: windows that start together every `size` and grow by `step`.
    Cumulate { step: i64, size: i64, offset: i64 },
    /// `SESSION`: rows closer than `gap` share a window.
    Session { gap: i64 },
}

/// The most windows of a HOP or CUMULATE one row may belong to.
pub const MAX_WINDOWS_PER_ROW: usize = 10_000;

impl WindowKind {
    /// Checks the parameters as Flink does, and that a row belongs to at most
    /// [`MAX_WINDOWS_PER_ROW`] windows; the message names the offending one.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, v: i64| {
            if v > 0 {
                Ok(())
            } else {
                Err(format!("the window {name} must be positive"))
            }
        };
        match *self {
            WindowKind::Tumble { size, .. } => positive("size", size),
            WindowKind::Hop { slide, size, .. } => {
                positive("slide", slide)?;
                positive("size", size)?;
                if size % slide != 0 {
                    return Err(format!(
                        "HOP window size ({size} ms) must be an integral multiple of the slide ({slide} ms)"
                    ));
                }
                Ok(())
            }
            WindowKind::Cumulate { step, size, .. } => {
                positive("step", step)?;
                positive("max size", size)?;
                if size % step != 0 {
                    return Err(format!(
                        "CUMULATE max size ({size} ms) must be an integral multiple of the step ({step} ms)"
                    ));
                }
                Ok(())
            }
            WindowKind::Session { gap } => positive("gap", gap),
        }?;
        // Where windows are not sliced (a window function read by something other than a
        // window aggregation, or an allowed lateness), each row goes to each of its windows:
        // a bound keeps a typo such as a year-long CUMULATE in steps of seconds from asking
        // for terabytes.
        if self.windows_per_row() > MAX_WINDOWS_PER_ROW {
            return Err(format!(
                "each row would belong to {} windows; rill allows at most {MAX_WINDOWS_PER_ROW} \
                 (a larger slide or step, or a smaller size)",
                self.windows_per_row()
            ));
        }
        Ok(())
    }

    /// How many windows a row belongs to at most (1 for sessions).
    pub fn windows_per_row(&self) -> usize {
        match *self {
            WindowKind::Hop { slide, size, .. } => (size / slide) as usize,
            WindowKind::Cumulate { step, size, .. } => (size / step) as usize,
            WindowKind::Tumble { .. } | WindowKind::Session { .. } => 1,
        }
    }

    /// The length of the slices HOP and CUMULATE windows are cut into (the slide, the step):
    /// every instant of a slice belongs to the same windows, and each window is a run of
    /// slices. `None` for TUMBLE and SESSION.
    pub fn slice(&self) -> Option<i64> {
        match *self {
            WindowKind::Hop { slide, .. } => Some(slide),
            WindowKind::Cumulate { step, .. } => Some(step),
            WindowKind::Tumble { .. } | WindowKind::Session { .. } => None,
        }
    }

    /// The start and end of the slice containing the instant `ts` (see [`WindowKind::slice`]).
    pub fn slice_of(&self, ts: i64) -> Option<(i64, i64)> {
        let length = self.slice()?;
        let offset = match *self {
            WindowKind::Hop { offset, .. } | WindowKind::Cumulate { offset, .. } => offset,
            _ => 0,
        };
        let start = align(ts, length, offset);
        Some((start, start + length))
    }

    /// Calls `f(start, end)` for each window containing the instant `ts`, in order of start
    /// and then end. Sessions are not aligned and have no fixed windows: nothing is called.
    #[inline]
    pub fn for_each_window(&self, ts: i64, mut f: impl FnMut(i64, i64)) {
        match *self {
            WindowKind::Tumble { size, offset } => {
                let start = align(ts, size, offset);
                f(start, start + size);
            }
            WindowKind::Hop {
                slide,
                size,
                offset,
            } => {
                let last = align(ts, slide, offset);
                let mut start = last - size + slide;
                while start <= last {
                    f(start, start + size);
                    start += slide;
                }
            }
            WindowKind::Cumulate { step, size, offset } => {
                let start = align(ts, size, offset);
                let mut end = align(ts, step, offset) + step;
                while end <= start + size {
                    f(start, end);
                    end += step;
                }
            }
            WindowKind::Session { .. } => {}
        }
    }
}

/// The start of the window of `size` (shifted by `offset`) that contains `ts`.
#[inline]
fn align(ts: i64, size: i64, offset: i64) -> i64 {
    ts - (ts - offset).rem_euclid(size)
}

impl fmt::Display for WindowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WindowKind::Tumble { size, offset } => {
                write!(f, "TUMBLE(size={size}ms, offset={offset}ms)")
            }
            WindowKind::Hop {
                slide,
                size,
                offset,
            } => write!(f, "HOP(slide={slide}ms, size={size}ms, offset={offset}ms)"),
            WindowKind::Cumulate { step, size, offset } => {
                write!(
                    f,
                    "CUMULATE(step={step}ms, size={size}ms, offset={offset}ms)"
                )
            }
            WindowKind::Session { gap } => write!(f, "SESSION(gap={gap}ms)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(kind: WindowKind, ts: i64) -> Vec<(i64, i64)> {
        let mut all = Vec::new();
        kind.for_each_window(ts, |s, e| all.push((s, e)));
        all
    }

    #[test]
    fn tumble_aligns_to_epoch_and_offset() {
        let t = WindowKind::Tumble {
            size: 60,
            offset: 0,
        };
        assert_eq!(windows(t, 0), vec![(0, 60)]);
        assert_eq!(windows(t, 59), vec![(0, 60)]);
        assert_eq!(windows(t, 60), vec![(60, 120)]);
        assert_eq!(windows(t, -1), vec![(-60, 0)]);
        let shifted = WindowKind::Tumble {
            size: 60,
            offset: 10,
        };
        assert_eq!(windows(shifted, 5), vec![(-50, 10)]);
        assert_eq!(windows(shifted, 10), vec![(10, 70)]);
    }

    #[test]
    fn hop_gives_size_over_slide_windows() {
        let h = WindowKind::Hop {
            slide: 30,
            size: 60,
            offset: 0,
        };
        assert_eq!(windows(h, 45), vec![(0, 60), (30, 90)]);
        assert_eq!(windows(h, 30), vec![(0, 60), (30, 90)]);
        assert_eq!(windows(h, 29), vec![(-30, 30), (0, 60)]);
    }

    #[test]
    fn cumulate_windows_grow_by_step_until_the_max() {
        let c = WindowKind::Cumulate {
            step: 10,
            size: 30,
            offset: 0,
        };
        assert_eq!(windows(c, 0), vec![(0, 10), (0, 20), (0, 30)]);
        assert_eq!(windows(c, 15), vec![(0, 20), (0, 30)]);
        assert_eq!(windows(c, 29), vec![(0, 30)]);
        assert_eq!(windows(c, 30), vec![(30, 40), (30, 50), (30, 60)]);
    }

    #[test]
    fn a_slice_belongs_to_the_windows_of_each_of_its_instants() {
        let kinds = [
            WindowKind::Hop {
                slide: 20,
                size: 60,
                offset: 5,
            },
            WindowKind::Cumulate {
                step: 10,
                size: 30,
                offset: 0,
            },
        ];
        for kind in kinds {
            for ts in -100..100 {
                let (start, end) = kind.slice_of(ts).unwrap();
                assert!(start <= ts && ts < end && end - start == kind.slice().unwrap());
                assert_eq!(windows(kind, ts), windows(kind, start), "{kind} at {ts}");
                // Window bounds fall on slice bounds.
                for (s, e) in windows(kind, ts) {
                    assert_eq!(kind.slice_of(s).unwrap().0, s);
                    assert_eq!(kind.slice_of(e - 1).unwrap().1, e);
                }
            }
        }
        assert_eq!(WindowKind::Tumble { size: 9, offset: 0 }.slice_of(3), None);
    }

    #[test]
    fn parameters_are_checked() {
        assert!(
            WindowKind::Hop {
                slide: 40,
                size: 60,
                offset: 0
            }
            .validate()
            .is_err()
        );
        assert!(
            WindowKind::Tumble { size: 0, offset: 0 }
                .validate()
                .is_err()
        );
        assert!(
            WindowKind::Cumulate {
                step: 10,
                size: 30,
                offset: 0
            }
            .validate()
            .is_ok()
        );
    }
}
