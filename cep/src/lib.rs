//! Row pattern recognition as SQL:2016 defines it for `MATCH_RECOGNIZE`, independent of SQL and
//! Arrow: a [`Pattern`] over numbered variables, and matchers that find the preferred match
//! of a pattern in a partition's rows, given which variables' conditions hold.
//!
//! [`backtrack`] is the reference matcher: it explores the pattern in preference order and
//! is exponential in the worst case; faster matchers are checked against it.

pub mod backtrack;
pub mod matcher;
pub mod pattern;
pub mod program;

pub use backtrack::{AfterMatch, Match, SkipError, find_matches};
pub use matcher::{Conditions, EXCLUDED, Matcher, Outcome, Partition, Scratch};
pub use pattern::{ParseError, Pattern};
pub use program::Program;
