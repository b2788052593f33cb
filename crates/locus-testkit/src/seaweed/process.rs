//! Owning a `weed` process so that it never outlives the test process, and leaves nothing.
//!
//! - The child is spawned from one long-lived "keeper" thread with `PR_SET_PDEATHSIG`
//!   = SIGKILL: the kernel kills `weed` when its parent *thread* dies, so spawning from a
//!   short-lived test thread would kill it when that test ends; the keeper never exits,
//!   so `weed` dies exactly when the test process does (even by SIGKILL).
//! - Every live instance is registered; an `atexit` handler kills and cleans up whatever
//!   is still registered (the shared per-binary instance lives in a static, never dropped).
//! - Clean-up removes the instance's temp dir and the `/tmp/seaweedfs-*-<port>.sock` files
//!   named after *its* ports (HTTP ports and their gRPC port + 10000), nothing else.
//! - A run that was SIGKILLed cannot clean up; the next start sweeps such leftovers
//!   (`locus-seaweed-<pid>-<base>` dirs whose pid is gone, and their sockets if no one
//!   listens on them any more).

use std::io;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, Once, OnceLock};

/// Prefix of the per-instance temp dirs: `locus-seaweed-<pid>-<base port>`.
pub(crate) const DIR_PREFIX: &str = "locus-seaweed-";

/// What must be undone for one instance.
#[derive(Debug, Clone)]
pub(crate) struct Cleanup {
    pub id: u64,
    pub pid: u32,
    pub dir: PathBuf,
    pub ports: Vec<u16>,
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` from the keeper thread with a parent-death signal.
pub(crate) fn spawn_guarded(mut cmd: Command) -> io::Result<Child> {
    static KEEPER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("seaweed-keeper".into())
            .spawn(move || {
                // Lives as long as the process: the sender sits in a static.
                while let Ok((mut cmd, reply)) = rx.recv() {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .unwrap_or_else(|e| panic!("cannot start the seaweed keeper thread: {e}"));
        Mutex::new(tx)
    });
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let (tx, rx) = mpsc::channel();
    keeper
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, tx))
        .map_err(|_| io::Error::other("seaweed keeper thread is gone"))?;
    rx.recv()
        .map_err(|_| io::Error::other("seaweed keeper thread is gone"))?
}

fn live() -> &'static Mutex<Vec<Cleanup>> {
    static LIVE: OnceLock<Mutex<Vec<Cleanup>>> = OnceLock::new();
    LIVE.get_or_init(|| Mutex::new(Vec::new()))
}

/// Registers an instance for clean-up at process exit.
pub(crate) fn register(c: Cleanup) {
    static AT_EXIT: Once = Once::new();
    AT_EXIT.call_once(|| {
        // SAFETY: registering a plain extern "C" fn; it only touches our statics.
        unsafe {
            libc::atexit(cleanup_at_exit);
        }
    });
    live().lock().unwrap_or_else(|p| p.into_inner()).push(c);
}

/// Forgets an instance that was cleaned up by its owner.
pub(crate) fn unregister(id: u64) {
    live()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|c| c.id != id);
}

extern "C" fn cleanup_at_exit() {
    // Never block at exit: if the registry is locked, the process is in trouble anyway
    // and PR_SET_PDEATHSIG still kills the servers.
    let Ok(mut list) = live().try_lock() else {
        return;
    };
    for c in list.drain(..) {
        // SAFETY: plain syscalls on a child pid we spawned.
        unsafe {
            libc::kill(c.pid as libc::pid_t, libc::SIGKILL);
            libc::waitpid(c.pid as libc::pid_t, std::ptr::null_mut(), 0);
        }
        remove_files(&c.dir, &c.ports, false);
    }
}

/// Kills and reaps `child`, then removes its files.
pub(crate) fn stop(child: &mut Child, c: &Cleanup) {
    let _ = child.kill();
    let _ = child.wait();
    remove_files(&c.dir, &c.ports, false);
}

/// Removes `dir` and the weed sockets named after `ports`. With `only_stale`, a socket
/// that still accepts connections (someone else's live server) is left alone.
pub(crate) fn remove_files(dir: &Path, ports: &[u16], only_stale: bool) {
    let mut live = false;
    for port in ports {
        for sock in sockets_for_port(*port) {
            if only_stale && UnixStream::connect(&sock).is_ok() {
                live = true;
                continue;
            }
            let _ = std::fs::remove_file(&sock);
        }
    }
    // A server still dying keeps its sockets a moment longer: keep the dir (it names
    // the ports) so that the next sweep finds them again.
    if !live {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// `/tmp/seaweedfs-<anything>-<port>.sock`, exactly this port.
pub(crate) fn sockets_for_port(port: u16) -> Vec<PathBuf> {
    let suffix = format!("-{port}.sock");
    let Ok(entries) = std::fs::read_dir("/tmp") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            (name.starts_with("seaweedfs-") && name.ends_with(&suffix)).then(|| e.path())
        })
        .collect()
}

/// All ports an instance with HTTP ports `http` uses: those and their gRPC twins.
pub(crate) fn all_ports(http: &[u16]) -> Vec<u16> {
    http.iter()
        .copied()
        .chain(
            http.iter()
                .filter_map(|p| p.checked_add(super::GRPC_OFFSET)),
        )
        .collect()
}

/// Removes what killed runs of this crate left behind (dirs of dead pids, their sockets).
pub fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(DIR_PREFIX) else {
            continue;
        };
        let mut parts = rest.splitn(2, '-');
        let (Some(Ok(pid)), Some(Ok(base))) = (
            parts.next().map(str::parse::<i32>),
            parts.next().map(str::parse::<u16>),
        ) else {
            continue;
        };
        // SAFETY: signal 0 only checks for existence.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH);
        if alive {
            continue;
        }
        let http: Vec<u16> = (0..super::PORT_COUNT)
            .filter_map(|i| base.checked_add(i))
            .collect();
        remove_files(&e.path(), &all_ports(&http), true);
    }
}
