//! One module per subcommand.

pub mod buffer;
pub mod cat;
pub mod debug;
pub mod demo;
pub mod lifecycle;
pub mod ls;
pub mod preview;
pub mod scrub;
pub mod status;
