//! One module per subcommand.

pub mod buffer;
pub mod cat;
pub mod debug;
pub mod demo;
pub mod export;
pub mod lifecycle;
pub mod ls;
pub mod preview;
pub mod redact;
pub mod scrub;
pub mod status;
pub mod verbosity;
