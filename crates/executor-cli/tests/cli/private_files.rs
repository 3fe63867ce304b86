//! Where data lives is private: a data, tasks or completions dir that someone
//! else could write into is refused (exit 6, one line); what openclaw-agent
//! creates is `0700` (dirs) and `0600` (index, WAL, shared memory, locks),
//! whatever the umask.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::helpers::{TestEnv, eventually, kill_pid, run_bounded};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn data_dir(env: &TestEnv) -> PathBuf {
    env.home().join(".local/share/openclaw")
}

/// A task that has ended but whose end no command has noticed yet: the next
/// command that looks writes its completion record.
fn ended_unnoticed(env: &TestEnv) -> String {
    let id = env.run_task("true");
    let exit = env.task_dir(&id).join("exit.json");
    assert!(eventually(Duration::from_secs(30), || exit.exists()));
    assert!(env.completion(&id).is_none());
    id
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn a_symlinked_completions_dir_is_refused() {
    let env = TestEnv::new();
    let id = ended_unnoticed(&env);
    let elsewhere = env.home().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::create_dir_all(env.completions_dir().parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&elsewhere, env.completions_dir()).unwrap();

    let run = env.run(&["status", "--task-id", &id]);
    run.assert_error(6, "it is a symbolic link");
    assert!(
        run.stderr.contains(".openclaw-agent/completions"),
        "{}",
        run.stderr
    );
    assert!(is_empty_dir(&elsewhere), "nothing written through the link");

    // A real dir again: the same command records the end.
    std::fs::remove_file(env.completions_dir()).unwrap();
    env.ok(&["status", "--task-id", &id]);
    assert_eq!(env.completion(&id).unwrap()["task_status"], "completed");
    assert_eq!(mode(&env.completions_dir()), 0o700);
}

#[test]
fn dirs_others_can_write_into_are_refused() {
    let env = TestEnv::new();
    let id = ended_unnoticed(&env);
    std::fs::create_dir_all(env.completions_dir()).unwrap();
    for bits in [0o777, 0o770, 0o1733] {
        chmod(&env.completions_dir(), bits);
        let run = env.run(&["status", "--task-id", &id]);
        run.assert_error(6, "it is writable by others");
        assert!(
            run.stderr.contains(&format!("mode {bits:04o}")),
            "{}",
            run.stderr
        );
        assert!(is_empty_dir(&env.completions_dir()));
    }
    chmod(&env.completions_dir(), 0o755);

    chmod(&env.tasks_dir(), 0o777);
    env.run(&["list"])
        .assert_error(6, "/tasks: it is writable by others");
    chmod(&env.tasks_dir(), 0o700);

    chmod(&data_dir(&env), 0o757);
    env.run(&["run", "-e", "local", "--cmd", "true"])
        .assert_error(6, "/openclaw: it is writable by others");
    chmod(&data_dir(&env), 0o700);

    // A task dir that others could write into is not written into either.
    chmod(&env.task_dir(&id), 0o777);
    env.run(&["status", "--task-id", &id])
        .assert_error(6, "it is writable by others");
    chmod(&env.task_dir(&id), 0o700);

    env.ok(&["status", "--task-id", &id]);
    assert!(env.completion(&id).is_some());
}

#[test]
fn a_symlinked_data_dir_is_refused() {
    let env = TestEnv::new();
    let real = env.home().join("real-data");
    std::fs::create_dir(&real).unwrap();
    std::fs::create_dir_all(data_dir(&env).parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&real, data_dir(&env)).unwrap();
    env.run(&["run", "-e", "local", "--cmd", "true"])
        .assert_error(6, "it is a symbolic link");
    assert!(is_empty_dir(&real));
}

#[test]
fn a_completions_dir_of_another_user_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs the tests as root; this one needs root to chown"
        );
        eprintln!("skipped: needs root to give a dir to another user");
        return;
    }
    let env = TestEnv::new();
    let id = ended_unnoticed(&env);
    std::fs::create_dir_all(env.completions_dir()).unwrap();
    // nobody: a system uid that exists everywhere (no user is created).
    std::os::unix::fs::chown(env.completions_dir(), Some(65534), Some(65534)).unwrap();
    env.run(&["status", "--task-id", &id])
        .assert_error(6, "it is owned by uid 65534, not by this user (uid 0)");
    assert!(is_empty_dir(&env.completions_dir()));
    assert!(env.completion(&id).is_none());
}

/// Runs the CLI with `umask 000`, the most permissive a user could have.
fn run_with_open_umask(env: &TestEnv, args: &[&str]) -> crate::helpers::Run {
    let mut command = env.command(args);
    // SAFETY: umask is async-signal-safe and touches nothing but the child.
    unsafe {
        command.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    run_bounded(command)
}

#[test]
fn created_files_are_private_whatever_the_umask() {
    let env = TestEnv::new();
    let run = run_with_open_umask(&env, &["run", "-e", "local", "--cmd", "true"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = run.stdout.trim().to_owned();
    let exit = env.task_dir(&id).join("exit.json");
    assert!(eventually(Duration::from_secs(30), || exit.exists()));
    let run = run_with_open_umask(&env, &["status", "--task-id", &id]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(env.completion(&id).is_some());
    let run = run_with_open_umask(&env, &["deliver-webhooks"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // The supervisor's lock, created under the same umask.
    let mut daemon = env.command(&["daemon", "--interval", "0.2"]);
    // SAFETY: as above.
    unsafe {
        daemon.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let mut daemon = daemon
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = data_dir(&env).join("daemon.lock");
    let locked = eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(&lock).is_ok_and(|pid| pid.trim() == daemon.id().to_string())
    });
    kill_pid(daemon.id(), libc::SIGKILL);
    let _ = daemon.wait();
    assert!(locked, "the supervisor did not start");

    let data = data_dir(&env);
    for dir in [
        data.clone(),
        env.tasks_dir(),
        env.task_dir(&id),
        env.home().join(".openclaw-agent"),
        env.completions_dir(),
    ] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    // The WAL and shared-memory files outlive each command (and the killed daemon).
    for file in [
        data.join("index.sqlite"),
        data.join("index.sqlite-wal"),
        data.join("index.sqlite-shm"),
        data.join("webhooks.lock"),
        data.join("daemon.lock"),
        env.completions_dir().join(format!("{id}.json")),
        env.task_dir(&id).join(".meta.json"),
    ] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

#[test]
fn an_older_wider_index_is_narrowed() {
    let env = TestEnv::new();
    env.run_task("true");
    let data = data_dir(&env);
    let names = ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"];
    for name in names {
        chmod(&data.join(name), 0o644);
    }
    env.ok(&["list"]);
    for name in names {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
}
