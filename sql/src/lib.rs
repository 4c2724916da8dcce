//! rill's SQL layer: the Flink SQL dialect, the catalog of tables and views, and the planner
//! that turns a query into an engine dataflow.
//!
//! Text is split into statements and parsed with sqlparser (plus a token pre-pass for the
//! Flink clauses sqlparser lacks); DataFusion resolves names and types into a `LogicalPlan`;
//! [`plan`] maps that plan onto engine operators.

pub mod catalog;
pub mod changelog;
pub mod connector;
pub mod context;
pub mod error;
pub mod flink;
pub mod functions;
pub mod group_window;
mod insert;
pub mod late;
pub mod match_recognize;
pub mod nesting;
pub mod parser;
pub mod plan;
pub mod script;
pub mod session;
pub mod shared;
pub mod skew;
mod subquery;
pub mod temporal;
pub mod types;
pub mod units;
pub mod unnest;
pub mod window;

pub use error::{SqlError, SqlResult};
pub use parser::{ParsedStatement, parse_script};
pub use session::{Outcome, Session, SessionOptions};
