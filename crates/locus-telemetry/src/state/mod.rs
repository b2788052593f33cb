//! Every state file's type and format, in one place below the behaviour that uses it.
//!
//! Why: the data dir's small JSON files (the session marker, breakers, upload cursors,
//! retention confirmations, the community state, the verbosity request) are read by the
//! library and by tools (`locus-diag`, through [`crate::data_dir::DataDir`]), and
//! written through the file door ([`crate::state_file`]). Their types used to live in the
//! modules that act on them, so `data_dir.rs` imported from the modules that imported
//! it back. Now the layers point one way: behaviour (`breaker`, `crash`, `worker`,
//! `recorder`) → `data_dir` (names and typed reads) → `state` (types and formats) and
//! `state_file`/`door` (how a file is read and replaced), which depend on nothing above
//! them. Each type is re-exported where it used to be defined.

mod marker;
mod breaker;
mod verbosity;
mod cursor;
mod retention;
mod community;

pub use marker::*;
pub use breaker::*;
pub use verbosity::*;
pub use cursor::*;
pub use retention::*;
pub use community::*;
