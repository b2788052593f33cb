//! Destinations: the user's own bucket (primary) and the community service (secondary,
//! opt-in). A sink makes one attempt per call; retries, timeouts around whole uploads
//! and circuit breaking are the dispatcher's policy, so they are decided in one place.

mod error;
pub mod s3;

pub use error::SinkError;
