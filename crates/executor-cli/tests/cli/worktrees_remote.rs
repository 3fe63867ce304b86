//! Worktree tasks on an SSH host (a real sshd on loopback): the worktree is
//! made and committed on the host, the work comes back over the connection.

use std::time::Duration;

use test_support::sshd::TEST_USER;

use crate::helpers::eventually;
use crate::ssh::SshTest;
use crate::worktrees::{
    ODD_SCRIPT, branch_of, checkout_state, clone, git, git_bytes, make_repo, odd_work_round_trips,
};
use test_support::accounts::give_to_test_user;

#[test]
fn ssh_worktree_tasks_are_committed_on_the_host_and_come_home() {
    let Some(t) = SshTest::new(TEST_USER) else {
        return;
    };
    let env = &t.env;
    let repo = make_repo(env, &t.workspace);
    give_to_test_user(&t.workspace);
    let before = checkout_state(env, &repo);
    let start = |cmd: &str| {
        env.ok(&["run", "-e", "box", "-w", t.ws(), "--worktree", "-c", cmd])
            .trim()
            .to_owned()
    };
    let one = start("sleep 0.3; printf 'one\\n' >> a.txt; printf '\\001\\377' > b.bin");
    let two = start("sleep 0.3; rm doomed.txt; printf 'q\\n' > \"it's \\\"q\\\" ü\"");
    let slow = start("printf 'partial\\n' > partial.txt; exec sleep 60");
    let odd = start(ODD_SCRIPT);
    for id in [&one, &two, &odd] {
        let status = env.wait_done(id);
        assert_eq!(status["status"], "completed", "{status}");
    }
    let marker = t.remote_dir(&slow).join("worktree/partial.txt");
    assert!(eventually(Duration::from_secs(20), || marker.exists()));
    env.ok(&["kill", "-t", &slow]);
    let killed = env.wait_done(&slow);
    assert_eq!(killed["status"], "killed", "{killed}");
    let remote_files = std::fs::read_dir(t.remote_dir(&slow))
        .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
        .unwrap_or_default();
    assert_eq!(
        killed["diffstat"]["files_changed"],
        1,
        "{killed}\nlog: {}\nfiles: {remote_files:?}",
        env.ok(&["logs", "-t", &slow])
    );
    assert_eq!(
        git(
            env,
            &repo,
            &["show", &format!("{}:partial.txt", branch_of(&killed))]
        ),
        "partial\n"
    );
    // The user's checkout on the host is as it was.
    assert_eq!(checkout_state(env, &repo), before);

    let base = git(env, &repo, &["rev-parse", "HEAD"]);
    for id in [&one, &two] {
        let status = env.status(id);
        let branch = branch_of(&status);
        assert_eq!(status["diffstat"]["base"], base.trim());
        let ours = env.command(&["diff", "-t", id]).output().unwrap();
        assert!(
            ours.status.success(),
            "{}",
            String::from_utf8_lossy(&ours.stderr)
        );
        let theirs = git_bytes(
            env,
            &repo,
            &["diff", "--binary", "--full-index", base.trim(), &branch],
        );
        assert_eq!(ours.stdout, theirs, "diff of {branch}");
    }
    // A bundle over the connection brings the real commits.
    let fetched = clone(env, &repo, "fetched");
    env.ok(&["fetch", "-t", &one, "--into", fetched.to_str().unwrap()]);
    let branch = branch_of(&env.status(&one));
    assert_eq!(
        git(env, &fetched, &["rev-parse", &branch]),
        git(env, &repo, &["rev-parse", &branch])
    );
    let applied = clone(env, &repo, "applied");
    env.ok(&["apply", "-t", &two, "--to", applied.to_str().unwrap()]);
    git(env, &applied, &["add", "-A"]);
    assert_eq!(
        git(env, &applied, &["write-tree"]),
        git(
            env,
            &repo,
            &[
                "rev-parse",
                &format!("{}^{{tree}}", branch_of(&env.status(&two)))
            ]
        )
    );

    odd_work_round_trips(env, &repo, &odd);

    for id in [&one, &two, &odd] {
        env.ok(&["cleanup", "-t", id]);
    }
    env.ok(&["cleanup", "-t", &slow, "--force"]);
    assert_eq!(
        git(env, &repo, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    assert_eq!(git(env, &repo, &["branch", "--list", "openclaw/*"]), "");
    for id in [&one, &two, &slow, &odd] {
        assert!(!t.remote_dir(id).exists());
    }
    assert_eq!(checkout_state(env, &repo), before);
}

#[test]
fn ssh_worktree_errors_name_the_host() {
    let Some(t) = SshTest::new(TEST_USER) else {
        return;
    };
    let env = &t.env;
    let run = env.run(&["run", "-e", "box", "-w", t.ws(), "--worktree", "-c", "true"]);
    run.assert_error(8, "is not inside a git repository");
    make_repo(env, &t.workspace);
    give_to_test_user(&t.workspace);
    let run = env.run(&[
        "run",
        "-e",
        "box",
        "-w",
        t.ws(),
        "--worktree",
        "--base",
        "nope",
        "-c",
        "true",
    ]);
    run.assert_error(8, "unknown base `nope`");
    assert_eq!(env.ok(&["list"]).trim(), "no tasks");
}

#[test]
fn sync_ships_the_repository_to_a_host_with_no_clone() {
    use std::os::unix::fs::PermissionsExt;
    let Some(t) = SshTest::new(TEST_USER) else {
        return;
    };
    let env = &t.env;
    // The repository is here (the CLI's current directory); the host has none.
    let repo = make_repo(env, &env.work);
    std::fs::write(repo.join("uncommitted.txt"), "not shipped\n").unwrap();
    let before = checkout_state(env, &repo);
    let id = env
        .ok(&[
            "run",
            "-e",
            "box",
            "--sync",
            "-c",
            "printf 'remote\\n' >> a.txt; ls > listing",
        ])
        .trim()
        .to_owned();
    let status = env.wait_done(&id);
    assert_eq!(status["status"], "completed", "{status}");
    let remote = t.remote_dir(&id);
    // The bundle and the bare copy live in the private task dir only.
    let bundle = remote.join("repo.bundle");
    assert!(bundle.exists());
    assert_eq!(
        std::fs::metadata(&bundle).unwrap().permissions().mode() & 0o077,
        0
    );
    assert_eq!(
        std::fs::metadata(&remote).unwrap().permissions().mode() & 0o077,
        0
    );
    // The base was HEAD here: the uncommitted file did not travel.
    let listing = git(env, &remote.join("worktree"), &["show", "HEAD:listing"]);
    assert!(!listing.contains("uncommitted"), "{listing}");
    assert_eq!(
        status["diffstat"]["base"],
        git(env, &repo, &["rev-parse", "HEAD"]).trim()
    );
    let diff = env.ok(&["diff", "-t", &id, "--name-only"]);
    assert_eq!(diff, "a.txt\nlisting\n");
    // Its branch comes back into the repository it was shipped from.
    env.ok(&["fetch", "-t", &id]);
    let branch = branch_of(&status);
    assert_eq!(
        git(env, &repo, &["show", &format!("{branch}:a.txt")]),
        "alpha\nremote\n"
    );
    assert_eq!(
        git(env, &repo, &["rev-parse", &branch]).trim(),
        status["diffstat"]["head"].as_str().unwrap()
    );
    env.ok(&["cleanup", "-t", &id]);
    assert!(!remote.exists());
    // Only the fetched branch was added here; the checkout is as it was.
    git(env, &repo, &["branch", "-D", &branch]);
    assert_eq!(checkout_state(env, &repo), before);
    assert_eq!(
        git(env, &repo, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
}

#[test]
fn slurm_worktree_tasks_commit_on_the_node_and_come_home() {
    use crate::slurm::{setup, slurm_executor};
    let Some(t) = setup(&slurm_executor("hpc", ""), false) else {
        return;
    };
    let env = &t.env;
    let repo = make_repo(env, &env.work);
    let before = checkout_state(env, &repo);
    let start = |cmd: &str| {
        env.ok(&["run", "-e", "hpc", "--worktree", "-c", cmd])
            .trim()
            .to_owned()
    };
    let one = start("printf 'one\\n' >> a.txt");
    let slow = start("printf 'partial\\n' > partial.txt; exec sleep 60");
    let odd = start(ODD_SCRIPT);
    let status = env.wait_done(&one);
    assert_eq!(status["status"], "completed", "{status}");
    env.wait_done(&odd);
    let marker = env.task_dir(&slow).join("worktree/partial.txt");
    assert!(eventually(Duration::from_secs(30), || marker.exists()));
    env.ok(&["kill", "-t", &slow]);
    let killed = env.wait_done(&slow);
    assert_eq!(killed["status"], "killed", "{killed}");
    assert_eq!(
        git(
            env,
            &repo,
            &["show", &format!("{}:partial.txt", branch_of(&killed))]
        ),
        "partial\n"
    );
    assert_eq!(checkout_state(env, &repo), before);
    let branch = branch_of(&status);
    let base = git(env, &repo, &["rev-parse", "HEAD"]);
    let ours = env.command(&["diff", "-t", &one]).output().unwrap();
    assert_eq!(
        ours.stdout,
        git_bytes(
            env,
            &repo,
            &["diff", "--binary", "--full-index", base.trim(), &branch]
        )
    );
    let fetched = clone(env, &repo, "fetched");
    env.ok(&["fetch", "-t", &one, "--into", fetched.to_str().unwrap()]);
    assert_eq!(
        git(env, &fetched, &["rev-parse", &branch]),
        git(env, &repo, &["rev-parse", &branch])
    );
    odd_work_round_trips(env, &repo, &odd);
    env.ok(&["cleanup", "-t", &one]);
    env.ok(&["cleanup", "-t", &odd]);
    env.ok(&["cleanup", "-t", &slow, "--force"]);
    assert_eq!(git(env, &repo, &["branch", "--list", "openclaw/*"]), "");
    assert_eq!(
        git(env, &repo, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
}

/// `--sync` to Slurm: the repository travels as a bundle with the task and
/// the node makes the worktree from the bare copy in the task dir, not from
/// the checkout (whose uncommitted file stays here).
#[test]
fn slurm_sync_builds_the_worktree_from_the_shipped_bundle() {
    use crate::slurm::{setup, slurm_executor};
    let Some(mut t) = setup(&slurm_executor("hpc", ""), false) else {
        return;
    };
    // The fetch's bundle is a private temporary file, removed afterwards.
    let tmp = t.env.home().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    t.env.set_env("TMPDIR", tmp.to_str().unwrap());
    let env = &t.env;
    let repo = make_repo(env, &env.work);
    std::fs::write(repo.join("uncommitted.txt"), "not shipped\n").unwrap();
    let before = checkout_state(env, &repo);
    let id = env
        .ok(&[
            "run",
            "-e",
            "hpc",
            "--sync",
            "-c",
            "printf 'node\\n' >> a.txt; ls > listing",
        ])
        .trim()
        .to_owned();
    let status = env.wait_done(&id);
    assert_eq!(status["status"], "completed", "{status}");
    let dir = env.task_dir(&id);
    assert!(dir.join("repo.bundle").exists());
    // The worktree belongs to the bare copy in the task dir.
    let common = git(
        env,
        &dir.join("worktree"),
        &["rev-parse", "--git-common-dir"],
    );
    assert!(common.trim().ends_with("repo.git"), "{common}");
    assert_eq!(
        env.ok(&["diff", "-t", &id, "--name-only"]),
        "a.txt\nlisting\n"
    );
    let branch = branch_of(&status);
    // The branch is not in the checkout until it is fetched.
    assert_eq!(git(env, &repo, &["branch", "--list", "openclaw/*"]), "");
    env.ok(&["fetch", "-t", &id]);
    assert_eq!(
        git(env, &repo, &["show", &format!("{branch}:a.txt")]),
        "alpha\nnode\n"
    );
    let listing = git(env, &repo, &["show", &format!("{branch}:listing")]);
    assert!(!listing.contains("uncommitted"), "{listing}");
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    env.ok(&["cleanup", "-t", &id]);
    assert!(!dir.exists());
    git(env, &repo, &["branch", "-D", &branch]);
    assert_eq!(checkout_state(env, &repo), before);
}

#[test]
fn two_real_agents_and_a_shell_task_in_worktrees_on_an_ssh_host() {
    use test_support::claude::{claude_binary, claude_env};
    use test_support::{MockAnthropic, Reply, Script};
    let Some(claude) = claude_binary() else {
        return;
    };
    let mock = MockAnthropic::start(Script::by_prompt(vec![
        (
            "agent one",
            vec![
                Reply::bash("printf 'from one\\n' > one.txt"),
                Reply::text("one done"),
            ],
        ),
        (
            "agent two",
            vec![
                Reply::bash("printf 'from two\\n' >> a.txt"),
                Reply::text("two done"),
            ],
        ),
    ]));
    let extra = format!(
        "    claude_path: {}\n{}",
        claude.display(),
        crate::helpers::FORWARD_CLAUDE_ENV
    );
    let Some(mut t) = SshTest::with_config(TEST_USER, &extra) else {
        return;
    };
    for (key, value) in claude_env(&mock.url()) {
        t.env.set_env(key, &value);
    }
    let env = &t.env;
    let repo = make_repo(env, &t.workspace);
    give_to_test_user(&t.workspace);
    let before = checkout_state(env, &repo);
    let agent = |prompt: &str| {
        env.ok(&[
            "start",
            "-e",
            "box",
            "-w",
            t.ws(),
            "--worktree",
            "-p",
            prompt,
        ])
        .trim()
        .to_owned()
    };
    let one = agent("You are agent one: write one.txt");
    let two = agent("You are agent two: extend a.txt");
    let shell = env
        .ok(&[
            "run",
            "-e",
            "box",
            "-w",
            t.ws(),
            "--worktree",
            "-c",
            "printf s > s.txt",
        ])
        .trim()
        .to_owned();
    for id in [&one, &two] {
        let run = env.run(&["wait", "-t", id, "--timeout", "90"]);
        assert_eq!(run.code, 0, "{}", env.ok(&["logs", "-t", id, "--raw"]));
    }
    env.wait_done(&shell);
    assert_eq!(checkout_state(env, &repo), before);
    assert_eq!(env.ok(&["diff", "-t", &one, "--name-only"]), "one.txt\n");
    assert_eq!(env.ok(&["diff", "-t", &two, "--name-only"]), "a.txt\n");
    assert_eq!(env.ok(&["diff", "-t", &shell, "--name-only"]), "s.txt\n");
    let target = clone(env, &repo, "target");
    env.ok(&["apply", "-t", &one, "--to", target.to_str().unwrap()]);
    env.ok(&["fetch", "-t", &two, "--into", target.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(target.join("one.txt")).unwrap(),
        "from one\n"
    );
    let branch = branch_of(&env.status(&two));
    assert_eq!(
        git(env, &target, &["show", &format!("{branch}:a.txt")]),
        "alpha\nfrom two\n"
    );
}

#[test]
fn two_real_agents_and_a_shell_task_in_worktrees_on_slurm() {
    use crate::slurm::{setup, slurm_executor};
    use test_support::claude::{claude_binary, claude_env};
    use test_support::{MockAnthropic, Reply, Script};
    let Some(claude) = claude_binary() else {
        return;
    };
    let mock = MockAnthropic::start(Script::by_prompt(vec![
        (
            "agent one",
            vec![
                Reply::bash("printf 'from one\\n' > one.txt"),
                Reply::text("one done"),
            ],
        ),
        (
            "agent two",
            vec![
                Reply::bash("printf 'from two\\n' >> a.txt"),
                Reply::text("two done"),
            ],
        ),
    ]));
    let extra = format!(
        "    claude_path: {}\n    allow_root: true\n{}",
        claude.display(),
        crate::helpers::FORWARD_CLAUDE_ENV
    );
    let Some(mut t) = setup(&slurm_executor("hpc", &extra), false) else {
        return;
    };
    for (key, value) in claude_env(&mock.url()) {
        t.env.set_env(key, &value);
    }
    let env = &t.env;
    let repo = make_repo(env, &env.work);
    let before = checkout_state(env, &repo);
    let agent = |prompt: &str| {
        env.ok(&["start", "-e", "hpc", "--worktree", "-p", prompt])
            .trim()
            .to_owned()
    };
    let one = agent("You are agent one: write one.txt");
    let two = agent("You are agent two: extend a.txt");
    let shell = env
        .ok(&["run", "-e", "hpc", "--worktree", "-c", "printf s > s.txt"])
        .trim()
        .to_owned();
    for id in [&one, &two, &shell] {
        let run = env.run(&["wait", "-t", id, "--timeout", "120"]);
        assert_eq!(run.code, 0, "{}", env.ok(&["logs", "-t", id, "--raw"]));
    }
    assert_eq!(checkout_state(env, &repo), before);
    assert_eq!(env.ok(&["diff", "-t", &one, "--name-only"]), "one.txt\n");
    assert_eq!(env.ok(&["diff", "-t", &two, "--name-only"]), "a.txt\n");
    assert_eq!(env.ok(&["diff", "-t", &shell, "--name-only"]), "s.txt\n");
    let target = clone(env, &repo, "target");
    env.ok(&["apply", "-t", &one, "--to", target.to_str().unwrap()]);
    env.ok(&["fetch", "-t", &two, "--into", target.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(target.join("one.txt")).unwrap(),
        "from one\n"
    );
    let branch = branch_of(&env.status(&two));
    assert_eq!(
        git(env, &target, &["show", &format!("{branch}:a.txt")]),
        "alpha\nfrom two\n"
    );
}
