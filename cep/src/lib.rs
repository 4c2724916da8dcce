//! Row pattern recognition as SQL:2016 defines it for `MATCH_RECOGNIZE`, independent of SQL and
//! Arrow: a [`Pattern`] over numbered variables, and matchers that find the preferred match
//! of a pattern in a partition's rows, given which variables' conditions hold.
//!
//! A pattern compiles to a [`Program`]. [`matcher`] runs it as a streaming Pike VM, one row
//! at a time, with per-partition state apart from the matcher; [`backtrack`] is the reference
//! matcher: it explores the pattern in preference order, is exponential in the worst case,
//! and the streaming matcher is checked against it.

pub mod backtrack;
pub mod matcher;
pub mod pattern;
pub mod program;

pub use backtrack::{AfterMatch, Found, Match, SkipError, find_matches, find_matches_within};
pub use matcher::{Conditions, EXCLUDED, KEPT_ROWS, Matcher, Outcome, Partition, Path, Scratch};
pub use pattern::{ParseError, Pattern};
pub use program::Program;
