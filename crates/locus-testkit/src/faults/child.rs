//! Re-running one test of the current test binary in a child process, for faults that
//! must not touch the test runner itself: a file-size limit (`RLIMIT_FSIZE`, inherited by
//! the child only) or mounts (a private mount namespace via `unshare --mount`, so a tmpfs
//! mounted there disappears with the child, even if it dies).
//!
//! The child runs with `--exact --nocapture --test-threads=1`; the test recognises it by
//! an environment variable the parent sets and does its work there. The parent gets the
//! exit status and the output, and should check both plus a marker line the child prints
//! at its end (so a filtered-out or skipped child is not mistaken for success).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the child did.
#[derive(Debug)]
pub struct ChildOutput {
    /// Exit code (`None`: killed by a signal, see `signal`).
    pub code: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    /// Whether it was killed for running past the timeout.
    pub timed_out: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl ChildOutput {
    /// Exit code 0, not timed out, and `marker` printed on its own line.
    pub fn succeeded_with(&self, marker: &str) -> bool {
        // (libtest may print "test <name> ... " in front of the child's first line)
        self.code == Some(0)
            && !self.timed_out
            && self.stdout.lines().any(|l| l.trim().ends_with(marker))
    }

    /// Both streams, for assertion messages.
    pub fn transcript(&self) -> String {
        format!(
            "code {:?}, signal {:?}, timed out {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.signal, self.timed_out, self.stdout, self.stderr
        )
    }
}

/// A child run of one test of this binary.
#[derive(Debug)]
pub struct ChildTest {
    test: String,
    env: Vec<(String, String)>,
    fsize_limit: Option<u64>,
    private_mounts: bool,
    wrapper: Vec<String>,
    timeout: Duration,
}

impl ChildTest {
    /// Runs test `test` (its full path as `cargo test` names it, e.g. `full_disk_child`).
    pub fn new(test: &str) -> ChildTest {
        ChildTest {
            test: test.to_owned(),
            env: Vec::new(),
            fsize_limit: None,
            private_mounts: false,
            wrapper: Vec::new(),
            timeout: Duration::from_secs(60),
        }
    }

    /// Sets an environment variable in the child.
    pub fn env(mut self, key: &str, value: &str) -> ChildTest {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Limits the size of files the child may create or grow (`RLIMIT_FSIZE`, bytes).
    /// Going past it raises SIGXFSZ, which kills the child: the parent sees the signal.
    pub fn fsize_limit(mut self, bytes: u64) -> ChildTest {
        self.fsize_limit = Some(bytes);
        self
    }

    /// Runs the child in its own mount namespace (`unshare --mount --propagation
    /// private`): mounts it makes are invisible outside and vanish with it.
    pub fn private_mounts(mut self) -> ChildTest {
        self.private_mounts = true;
        self
    }

    /// Runs the child under a wrapper command, e.g. `faketime -f @1969-12-31 23:59:00`
    /// or `prlimit --as=…` (`program` and its arguments, the child's command after them).
    /// A wrapper that is not installed is a loud failure at `run`, naming the program.
    pub fn wrapped(mut self, program_and_args: &[&str]) -> ChildTest {
        self.wrapper = program_and_args.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Kills the child after this long (default 60 s).
    pub fn timeout(mut self, d: Duration) -> ChildTest {
        self.timeout = d;
        self
    }

    /// Runs it and waits (at most the timeout).
    pub fn run(self) -> Result<ChildOutput, String> {
        let exe = std::env::current_exe().map_err(|e| format!("no current exe: {e}"))?;
        let mut cmd = if self.private_mounts {
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private"]).arg(&exe);
            c
        } else if let Some((program, args)) = self.wrapper.split_first() {
            let mut c = Command::new(program);
            c.args(args).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args([
            self.test.as_str(),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ]);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(limit) = self.fsize_limit {
            use std::os::unix::process::CommandExt;
            // SAFETY: only setrlimit, which is async-signal-safe, runs between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: limit as libc::rlim_t,
                        rlim_max: limit as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().map_err(|e| {
            if self.private_mounts {
                format!("cannot run `unshare` (util-linux) for a private mount namespace: {e}")
            } else if let Some(program) = self.wrapper.first() {
                format!("cannot run the wrapper `{program}` (install it: apt-get install {program}): {e}")
            } else {
                format!("cannot run {}: {e}", exe.display())
            }
        })?;
        // Drain both pipes on threads so a chatty child cannot block on a full pipe.
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        let out_t = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(o) = out.as_mut() {
                let _ = std::io::Read::read_to_string(o, &mut s);
            }
            s
        });
        let err_t = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(e) = err.as_mut() {
                let _ = std::io::Read::read_to_string(e, &mut s);
            }
            s
        });
        let until = Instant::now() + self.timeout;
        let mut timed_out = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
                Ok(None) => {
                    timed_out = true;
                    let _ = child.kill();
                    match child.wait() {
                        Ok(s) => break s,
                        Err(e) => return Err(format!("cannot reap the child: {e}")),
                    }
                }
                Err(e) => return Err(format!("cannot wait for the child: {e}")),
            }
        };
        use std::os::unix::process::ExitStatusExt;
        Ok(ChildOutput {
            code: status.code(),
            signal: status.signal(),
            timed_out,
            stdout: out_t.join().unwrap_or_default(),
            stderr: err_t.join().unwrap_or_default(),
        })
    }
}
