//! Starting a task's runner: `posix_spawn`, which shares this process's
//! memory with the child until its exec (a `vfork`), so nothing of the
//! dispatcher is copied.
//!
//! A `fork` of the CLI per runner copied its page tables and took a
//! copy-on-write fault for every page either side wrote before the child's
//! exec: with the index's cache and a whole batch in memory, 0.8–0.9 ms per
//! runner, most of a 1,000-task batch (`perf`). The spawned child only takes
//! a session of its own, its fds and its dir, then execs the runner, which
//! parks at its gate ([`Gate`]) until the dispatch has recorded it: the
//! parked runner is already a process running the task's runner script,
//! which is what a look at a task without a recorded runner searches for.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The fd on which a gated runner reads its gate (`runner.sh`, `gated`).
pub const GATE_FD: RawFd = 3;

/// The runner's command line and environment, made ready before the spawn.
pub struct Runner {
    argv: Vec<CString>,
    envp: Vec<CString>,
    dir: CString,
}

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte"))
}

impl Runner {
    /// `program args…` in `dir`, with `base` (else this process's
    /// environment) plus `env`.
    pub fn new<'a>(
        program: &Path,
        args: impl IntoIterator<Item = &'a OsStr>,
        dir: &Path,
        base: Option<&[(OsString, OsString)]>,
        env: &[(String, String)],
    ) -> io::Result<Self> {
        let mut argv = vec![c_string(program.as_os_str().as_bytes())?];
        for arg in args {
            argv.push(c_string(arg.as_bytes())?);
        }
        let inherited: Vec<(OsString, OsString)>;
        let base = match base {
            Some(base) => base,
            None => {
                inherited = std::env::vars_os().collect();
                &inherited
            }
        };
        let mut envp = Vec::new();
        for (key, value) in base {
            if env.iter().any(|(k, _)| OsStr::new(k) == key.as_os_str()) {
                continue;
            }
            let mut entry = key.as_bytes().to_vec();
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            envp.push(c_string(&entry)?);
        }
        for (key, value) in env {
            envp.push(c_string(format!("{key}={value}").as_bytes())?);
        }
        Ok(Self {
            argv,
            envp,
            dir: c_string(dir.as_os_str().as_bytes())?,
        })
    }

    /// Starts the runner in a session of its own, stdin from `/dev/null`,
    /// stdout and stderr to `log`, and `gate`'s read end as fd [`GATE_FD`];
    /// returns its pid once it has exec'd (an exec that fails is this call's
    /// error). Of the fds this process opens, only these reach the runner:
    /// all are opened close-on-exec.
    pub fn spawn(&self, log: &File, gate: &Gate) -> io::Result<u32> {
        self.spawn_with(log, log, gate)
    }

    /// [`Runner::spawn`] with stdout to `stdout` and stderr to `/dev/null`.
    pub fn spawn_with_stdout(&self, stdout: &impl AsRawFd, gate: &Gate) -> io::Result<u32> {
        self.spawn_with(stdout, &File::open("/dev/null")?, gate)
    }

    fn spawn_with(
        &self,
        stdout: &impl AsRawFd,
        stderr: &impl AsRawFd,
        gate: &Gate,
    ) -> io::Result<u32> {
        // Above the gate's number: the dup2s onto 0-3 must not clobber them.
        let null = high_fd(&File::open("/dev/null")?)?;
        let stdout = high_fd(stdout)?;
        let stderr = high_fd(stderr)?;
        let mut argv: Vec<*mut libc::c_char> =
            self.argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
        argv.push(std::ptr::null_mut());
        let mut envp: Vec<*mut libc::c_char> =
            self.envp.iter().map(|e| e.as_ptr().cast_mut()).collect();
        envp.push(std::ptr::null_mut());
        let actions = FileActions::new()?;
        actions.dup2(null.as_raw_fd(), 0)?;
        actions.dup2(stdout.as_raw_fd(), 1)?;
        actions.dup2(stderr.as_raw_fd(), 2)?;
        actions.dup2(gate.read.as_raw_fd(), GATE_FD)?;
        actions.chdir(&self.dir)?;
        let attr = Attributes::detached()?;
        let mut pid: libc::pid_t = 0;
        // SAFETY: the actions and attributes are initialised, argv and envp
        // are NULL-terminated arrays of C strings that outlive the call.
        let rc = unsafe {
            libc::posix_spawn(
                &mut pid,
                self.argv[0].as_ptr(),
                &actions.0,
                &attr.0,
                argv.as_ptr(),
                envp.as_ptr(),
            )
        };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(pid as u32)
    }
}

/// `posix_spawn_file_actions_t`, destroyed when dropped.
struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new() -> io::Result<Self> {
        let mut actions = MaybeUninit::uninit();
        // SAFETY: init writes the whole struct when it returns 0.
        check(unsafe { libc::posix_spawn_file_actions_init(actions.as_mut_ptr()) })?;
        // SAFETY: initialised just above.
        Ok(Self(unsafe { actions.assume_init() }))
    }

    fn dup2(&self, from: RawFd, to: RawFd) -> io::Result<()> {
        // SAFETY: the actions are initialised; glibc only appends to them.
        check(unsafe {
            libc::posix_spawn_file_actions_adddup2(std::ptr::from_ref(&self.0).cast_mut(), from, to)
        })
    }

    fn chdir(&self, dir: &CString) -> io::Result<()> {
        // SAFETY: as above; glibc copies the path.
        check(unsafe {
            libc::posix_spawn_file_actions_addchdir_np(
                std::ptr::from_ref(&self.0).cast_mut(),
                dir.as_ptr(),
            )
        })
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

/// `posix_spawnattr_t`, destroyed when dropped.
struct Attributes(libc::posix_spawnattr_t);

impl Attributes {
    /// A session of its own (before the id is printed, a signal to this
    /// process's group, a Ctrl-C or a closed terminal, must not reach it), no
    /// signal blocked, and SIGPIPE back to its default as `Command` does:
    /// this process ignores it, the runner's shell could not undo that, and
    /// the payload must see a broken pipe.
    fn detached() -> io::Result<Self> {
        let mut attr = MaybeUninit::uninit();
        // SAFETY: init writes the whole struct when it returns 0.
        check(unsafe { libc::posix_spawnattr_init(attr.as_mut_ptr()) })?;
        // SAFETY: initialised just above.
        let mut attr = Self(unsafe { attr.assume_init() });
        // SAFETY: plain sigset and attribute setters on initialised values.
        unsafe {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            let mut pipe: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut pipe);
            libc::sigaddset(&mut pipe, libc::SIGPIPE);
            check(libc::posix_spawnattr_setsigmask(&mut attr.0, &none))?;
            check(libc::posix_spawnattr_setsigdefault(&mut attr.0, &pipe))?;
            check(libc::posix_spawnattr_setflags(
                &mut attr.0,
                // libc types the flags apart; all fit in the attribute's short.
                libc::POSIX_SPAWN_SETSID
                    | (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short,
            ))?;
        }
        Ok(attr)
    }
}

impl Drop for Attributes {
    fn drop(&mut self) {
        // SAFETY: initialised in `detached`, destroyed once.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    match rc {
        0 => Ok(()),
        rc => Err(io::Error::from_raw_os_error(rc)),
    }
}

/// Holds started runners before their work until the dispatch has recorded
/// them: no payload starts before the index names its runner, and a batch's
/// runners take no CPU from its own spawns and index writes. Each runner
/// reads the pipe on [`GATE_FD`] first thing (`runner.sh`, `gated`) and goes
/// on at its end: [`Gate::open`] closes the only write end, and so does the
/// dispatcher's death, after which the runner runs as it would have had the
/// gate been opened. Its row was committed as claimed before the spawn; until
/// the spawn returns, the child still holds its copy of the task's dispatch
/// lock (close-on-exec), and once it has exec'd it is a process running the
/// task's runner script, which a look at a task without a recorded runner
/// finds.
pub struct Gate {
    read: OwnedFd,
    write: OwnedFd,
}

impl Gate {
    pub fn new() -> io::Result<Self> {
        let (read, write) = pipe()?;
        // Above GATE_FD, so that its dup2 in the child is a real one.
        let read = high_fd(&read)?;
        Ok(Self { read, write })
    }

    /// Lets every runner started with this gate go on.
    pub fn open(self) {
        drop(self.write);
    }
}

/// A pipe, both ends close-on-exec: (read, write).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just opened and nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A close-on-exec duplicate of `fd` numbered above [`GATE_FD`].
fn high_fd(fd: &impl AsRawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd returns a new fd this process owns.
    let fd = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, GATE_FD + 1) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runner that parks at its gate, as `runner.sh` does, then runs `script`.
    fn gated_runner(dir: &Path, script: &str, env: &[(String, String)]) -> (File, Runner) {
        let log = File::create(dir.join("log")).expect("log");
        let script = format!("read gate <&{GATE_FD}; exec {GATE_FD}<&-; {script}");
        let runner = Runner::new(
            Path::new("/bin/sh"),
            ["-c", &script, "sh", "it's"].map(OsStr::new),
            dir,
            None,
            env,
        )
        .expect("runner");
        (log, runner)
    }

    fn wait_for(pid: u32) -> i32 {
        let mut status = 0;
        // SAFETY: waitpid on this test's own child.
        unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
        libc::WEXITSTATUS(status)
    }

    #[test]
    fn a_base_environment_replaces_this_process_s() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = File::create(dir.path().join("log")).expect("log");
        let base = [
            (OsString::from("OC_BASE"), OsString::from("b\nc $(x)")),
            (OsString::from("OC_OVER"), OsString::from("base")),
        ];
        let runner = Runner::new(
            Path::new("/bin/sh"),
            ["-c", "read gate <&3; env"].map(OsStr::new),
            dir.path(),
            Some(&base),
            &[("OC_OVER".to_owned(), "added".to_owned())],
        )
        .expect("runner");
        let gate = Gate::new().expect("pipe");
        let pid = runner.spawn(&log, &gate).expect("spawn");
        gate.open();
        assert_eq!(wait_for(pid), 0);
        let text = std::fs::read_to_string(dir.path().join("log")).expect("read log");
        let mut vars: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL="))
            .collect();
        vars.sort_unstable();
        // Nothing of this process's own (PATH, HOME) reaches the runner.
        assert_eq!(vars, ["OC_BASE=b", "OC_OVER=added", "c $(x)"]);
    }

    #[test]
    fn a_runner_whose_dispatcher_dies_before_opening_the_gate_runs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, runner) = gated_runner(dir.path(), "echo ran", &[]);
        let gate = Gate::new().expect("pipe");
        let first = runner.spawn(&log, &gate).expect("spawn");
        let second = runner.spawn(&log, &gate).expect("spawn");
        // The dispatcher's death closes its end as dropping the gate does; a
        // second runner started meanwhile holds no copy that keeps it shut.
        drop(gate);
        assert_eq!(wait_for(first), 0);
        assert_eq!(wait_for(second), 0);
        let text = std::fs::read_to_string(dir.path().join("log")).expect("read log");
        assert_eq!(text, "ran\nran\n");
    }

    #[test]
    fn the_runner_gets_its_args_env_dir_session_fds_and_output() {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = "echo \"$1 $OC_X $(pwd)\"; read x; echo \"read $?\"; \
                      cat /proc/$$/stat; grep SigIgn /proc/$$/status; ls -l /proc/$$/fd";
        let (log, runner) =
            gated_runner(dir.path(), script, &[("OC_X".to_owned(), "a b".to_owned())]);
        let gate = Gate::new().expect("pipe");
        let pid = runner.spawn(&log, &gate).expect("spawn");
        let info = crate::process::read_process(pid).expect("alive");
        assert_eq!(info.session, pid, "a session of its own once spawned");
        // The spawn returns once the child has switched to the new program;
        // its arguments are laid out just after.
        let held = crate::process::command_line(pid).expect("cmdline");
        assert!(held.starts_with(b"/bin/sh\0-c\0"), "exec'd once spawned");
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(
            std::fs::metadata(dir.path().join("log"))
                .expect("log")
                .len(),
            0,
            "nothing runs before the gate opens"
        );
        gate.open();
        assert_eq!(wait_for(pid), 0);
        let text = std::fs::read_to_string(dir.path().join("log")).expect("read log");
        let mut lines = text.lines();
        let cwd = std::fs::canonicalize(dir.path()).expect("canonical");
        assert_eq!(
            lines.next(),
            Some(format!("it's a b {}", cwd.display()).as_str())
        );
        // stdin is /dev/null: `read` meets its end at once.
        assert_eq!(lines.next(), Some("read 1"), "{text}");
        // A session of its own: its session id is its pid.
        let stat = lines.next().expect("stat");
        let fields: Vec<&str> = stat.rsplit_once(") ").expect("stat").1.split(' ').collect();
        assert_eq!(fields[3], pid.to_string(), "{text}");
        // SIGPIPE (bit 13) is not ignored, as it is in this process.
        let ignored = lines
            .next()
            .and_then(|l| l.strip_prefix("SigIgn:"))
            .expect("SigIgn");
        let mask = u64::from_str_radix(ignored.trim(), 16).expect("hex mask");
        assert_eq!(mask & (1 << 12), 0, "{text}");
        // The gate was closed by the script, and the log is only 1 and 2: the
        // spawn's own duplicates stayed here (this test may have inherited
        // other fds, which pass on).
        let fds: Vec<(&str, &str)> = lines.filter_map(|l| l.rsplit_once(" -> ")).collect();
        let log = dir.path().join("log");
        for (fd, target) in fds {
            let fd = fd.rsplit(' ').next().expect("fd");
            assert_ne!(fd, "3", "{text}");
            if Path::new(target) == log {
                assert!(fd == "1" || fd == "2", "{text}");
            }
        }
    }

    #[test]
    fn a_runner_that_cannot_be_executed_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = File::create(dir.path().join("log")).expect("log");
        let runner =
            Runner::new(Path::new("/nonexistent/sh"), [], dir.path(), None, &[]).expect("runner");
        let err = runner
            .spawn(&log, &Gate::new().expect("pipe"))
            .expect_err("no such program");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
