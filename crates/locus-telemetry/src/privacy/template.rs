//! Message templates live in `locus-privacy` (`locus_privacy::template`): the grammar and
//! the vocabulary are shared with the community collector, which refuses any crash
//! message that is not a template, so there is one copy of both. This module only keeps
//! the path `crate::privacy::template` the device code uses.

pub use locus_privacy::template::*;
