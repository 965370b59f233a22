//! A child process in a process group of its own, so that stopping it stops
//! everything it started (nginx's workers, a shell's children) on every path:
//! when dropped, when it fails to start listening, and when `sluice bench` is
//! interrupted (Ctrl-C or SIGTERM), which no longer reaches a child in another
//! group by itself.
//!
//! Stopping sends SIGTERM to the whole group, gives the leader
//! [`ProcessGroup::grace`] to exit, then sends SIGKILL to whatever is left of
//! the group before the leader is reaped, so the group's id cannot have been
//! reused by an unrelated process.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::Once;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// How long a group's leader has to exit on SIGTERM before the group gets
/// SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

/// The groups running now, for the signal handler: 0 is a free slot. A fixed
/// array of atomics, because a signal handler may neither lock nor allocate.
static RUNNING: [AtomicI32; 16] = [const { AtomicI32::new(0) }; 16];

/// A running child that leads its own process group, stopped with its whole
/// group when dropped.
///
/// ```no_run
/// use std::process::Command;
/// use sluice_bench::process_group::ProcessGroup;
///
/// let mut server = ProcessGroup::spawn(Command::new("nginx").args(["-g", "daemon off;"]))?;
/// // ... measure it ...
/// server.stop(); // or drop it: master and workers are gone either way
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ProcessGroup {
    child: Child,
    slot: Option<usize>,
    grace: Duration,
    stopped: bool,
}

impl ProcessGroup {
    /// Starts `command` as the leader of a new process group.
    pub fn spawn(command: &mut Command) -> io::Result<Self> {
        install_signal_handlers();
        let child = command.process_group(0).spawn()?;
        let slot = register(group_id(&child));
        Ok(ProcessGroup {
            child,
            slot,
            grace: GRACE,
            stopped: false,
        })
    }

    /// Sets how long the leader has to exit on SIGTERM (default [`GRACE`]).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The leader's process id, which is also the group's id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the leader has exited, without reaping it (so the group's id
    /// stays reserved until [`ProcessGroup::stop`]).
    pub fn has_exited(&self) -> bool {
        leader_has_exited(group_id(&self.child))
    }

    /// Stops the whole group: SIGTERM, up to the grace period for the leader
    /// to exit, then SIGKILL to every member left, then reaps the leader.
    /// Stopping twice does nothing.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let group = group_id(&self.child);
        signal_group(group, libc::SIGTERM);
        let deadline = Instant::now() + self.grace;
        while !leader_has_exited(group) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // The leader is exited but not yet reaped, or still running: either
        // way the group id still names this group, and the signal handler
        // forgets it before it can name another.
        signal_group(group, libc::SIGKILL);
        if let Some(slot) = self.slot.take() {
            RUNNING[slot].store(0, Ordering::SeqCst);
        }
        let _ = self.child.wait();
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.stop();
    }
}

fn group_id(child: &Child) -> i32 {
    // A process id always fits: Linux caps them at 2^22.
    i32::try_from(child.id()).unwrap_or(i32::MAX)
}

fn signal_group(group: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals the group; it touches no
    // memory of ours. ESRCH (the group is empty) is the expected end.
    unsafe {
        libc::kill(-group, signal);
    }
}

/// Whether the process `pid`, our child, has exited, leaving it unreaped.
fn leader_has_exited(pid: i32) -> bool {
    // SAFETY: waitid writes only into `info`, which lives on this stack.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        let id = libc::id_t::try_from(pid).unwrap_or(0);
        if libc::waitid(libc::P_PID, id, &mut info, flags) != 0 {
            // Not our child any more (already reaped): nothing runs as it.
            return true;
        }
        info.si_pid() != 0
    }
}

fn register(group: i32) -> Option<usize> {
    RUNNING.iter().position(|slot| {
        slot.compare_exchange(0, group, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    })
}

fn install_signal_handlers() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: sigaction only reads and writes the two structs on this
            // stack; the handler only reads atomics and calls kill, signal
            // and raise, all async-signal-safe.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, std::ptr::null(), &mut old) != 0
                    || old.sa_sigaction == libc::SIG_IGN
                {
                    // Ignored (under nohup, or in the background): stay so.
                    continue;
                }
                libc::signal(signal, on_signal as *const () as libc::sighandler_t);
            }
        }
    });
}

/// Kills every running group, then dies of `signal` as if no handler had been
/// installed.
extern "C" fn on_signal(signal: libc::c_int) {
    for slot in &RUNNING {
        let group = slot.load(Ordering::SeqCst);
        if group > 0 {
            signal_group(group, libc::SIGKILL);
        }
    }
    // SAFETY: async-signal-safe calls; the default action ends the process.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Starts `script` under `sh` in its own group; its first line of output
    /// is the pid of a grandchild it started in the background.
    fn shell_with_grandchild(script: &str) -> (ProcessGroup, i32) {
        use std::io::BufRead;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .stdout(std::process::Stdio::piped());
        let mut group = ProcessGroup::spawn(&mut command).expect("sh starts");
        let stdout = group.child.stdout.take().expect("piped");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("sh prints the pid");
        (group, line.trim().parse().expect("a pid"))
    }

    /// Gone, or a zombie waiting for init to reap it: either way not running.
    fn is_running(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => false,
            Ok(stat) => !stat
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        }
    }

    fn wait_until_stopped(pid: i32) -> bool {
        for _ in 0..250 {
            if !is_running(pid) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn stopping_the_leader_stops_what_it_started() {
        let (group, grandchild) = shell_with_grandchild("sleep 100 & echo $!; wait");
        assert!(is_running(grandchild));
        drop(group);
        assert!(
            wait_until_stopped(grandchild),
            "the grandchild outlived its group"
        );
    }

    #[test]
    fn a_member_that_ignores_sigterm_gets_sigkill() {
        let (group, grandchild) =
            shell_with_grandchild("(trap '' TERM; sleep 100) & echo $!; wait");
        let mut group = group.grace(Duration::from_millis(200));
        group.stop();
        assert!(
            wait_until_stopped(grandchild),
            "the grandchild outlived its group"
        );
        assert!(
            RUNNING
                .iter()
                .all(|s| s.load(Ordering::SeqCst) != group.id() as i32)
        );
    }

    #[test]
    fn a_leader_that_has_exited_is_seen_without_being_reaped() {
        let mut group = ProcessGroup::spawn(&mut Command::new("true")).expect("true starts");
        let proc_entry = std::path::PathBuf::from(format!("/proc/{}", group.id()));
        for _ in 0..250 {
            if group.has_exited() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(group.has_exited());
        assert!(
            proc_entry.exists(),
            "reaped before stop: its id could be reused"
        );
        group.stop();
        assert!(!proc_entry.exists(), "stop reaps the leader");
    }
}
