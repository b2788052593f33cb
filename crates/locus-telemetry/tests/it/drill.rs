//! Drills staged in a child process: this test binary re-run on one test (by its full
//! path, `module::test`), told by an environment variable that it is the child and
//! where its scratch dir is. Cases that can kill the process, or that mount file systems
//! in a private mount namespace, run so; the child must finish its drill (print
//! [`DONE`]) and exit 0. Lines it prints starting with `DRILL` are shown by the parent.

use locus_testkit::faults::child::ChildTest;
use locus_testkit::faults::disk::Tmpfs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Names the test a child process is to run as its drill.
pub const ROLE: &str = "LOCUS_DRILL_CHILD";
/// The child's scratch dir.
pub const DIR: &str = "LOCUS_DRILL_DIR";
/// What a child prints last when its drill is done.
pub const DONE: &str = "DRILL-CHILD-DONE";

/// Runs `test` in a child and asserts it finished its drill; returns its stdout.
pub fn in_child(test: &str, child: ChildTest) -> String {
    let base = tempfile::tempdir().unwrap();
    let out = child
        .env(ROLE, test)
        .env(DIR, base.path().to_str().unwrap())
        .timeout(Duration::from_secs(120))
        .run()
        .unwrap_or_else(|e| panic!("{test}: cannot run the child: {e}"));
    // (libtest may print "test <name> ... " in front of the child's first line)
    for line in out
        .stdout
        .lines()
        .filter_map(|l| l.find("DRILL").map(|i| &l[i..]))
    {
        println!("{line}");
    }
    assert!(
        out.succeeded_with(DONE),
        "{test}: the app died or failed its drill:\n{}",
        out.transcript()
    );
    out.stdout
}

/// In the child of `test`: its scratch dir. `None` in the parent.
pub fn child_role(test: &str) -> Option<PathBuf> {
    (std::env::var(ROLE).ok()? == test).then(|| std::env::var(DIR).unwrap().into())
}

/// A tmpfs of `bytes` mounted at `at` in the child's private mount namespace, to stage a
/// small, full or read-only disk; fails loudly (naming what it needs) when it cannot.
pub fn small_disk(at: &Path, bytes: u64) -> Tmpfs {
    Tmpfs::mount(at, bytes)
        .unwrap_or_else(|e| panic!("cannot mount a test disk (needs root/CAP_SYS_ADMIN): {e}"))
}
