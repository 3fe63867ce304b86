//! Worktree tasks in Docker and Podman containers (real engines): the
//! worktree is made on the engine's host and mounted at the task's
//! workspace; the work is committed there when the task ends.

use std::time::Duration;

use crate::container::{Engine, Runtime};
use crate::helpers::eventually;
use crate::worktrees::{branch_of, checkout_state, clone, git, git_bytes, make_repo};

fn worktrees_in_containers(engine: &Engine) {
    let (env, data) = engine.env("");
    let repo = data.join("proj");
    std::fs::create_dir(&repo).unwrap();
    make_repo(&env, &repo);
    let before = checkout_state(&env, &repo);
    let start = |cmd: &str| {
        env.ok(&[
            "run",
            "-e",
            "box",
            "-w",
            "/data/proj",
            "--worktree",
            "-c",
            cmd,
        ])
        .trim()
        .to_owned()
    };
    let one = start("printf 'one\\n' >> a.txt; pwd > where");
    let two = start("rm doomed.txt; printf 'x\\n' > \"sp ace 'q' ü\"; printf '\\001\\377' > b.bin");
    let slow = start("printf 'partial\\n' > partial.txt; exec sleep 60");
    for id in [&one, &two] {
        let status = env.wait_done(id);
        assert_eq!(status["status"], "completed", "{status}");
        assert_eq!(status["workspace"], "/data/proj");
    }
    let marker = env.task_dir(&slow).join("worktree/partial.txt");
    assert!(eventually(Duration::from_secs(30), || marker.exists()));
    env.ok(&["kill", "-t", &slow, "--grace", "2"]);
    let killed = env.wait_done(&slow);
    assert_eq!(killed["status"], "killed", "{killed}");
    assert_eq!(
        git(
            &env,
            &repo,
            &["show", &format!("{}:partial.txt", branch_of(&killed))]
        ),
        "partial\n"
    );
    // The payload worked in its worktree, mounted where the workspace is;
    // the user's checkout behind it is untouched.
    assert_eq!(checkout_state(&env, &repo), before);
    let one_status = env.status(&one);
    let branch = branch_of(&one_status);
    assert_eq!(
        git(&env, &repo, &["show", &format!("{branch}:where")]),
        "/data/proj\n"
    );
    let base = git(&env, &repo, &["rev-parse", "HEAD"]);
    for id in [&one, &two] {
        let ours = env.command(&["diff", "-t", id]).output().unwrap();
        assert!(
            ours.status.success(),
            "{}",
            String::from_utf8_lossy(&ours.stderr)
        );
        let theirs = git_bytes(
            &env,
            &repo,
            &[
                "diff",
                "--binary",
                "--full-index",
                base.trim(),
                &branch_of(&env.status(id)),
            ],
        );
        assert_eq!(ours.stdout, theirs);
    }
    assert_eq!(env.status(&two)["diffstat"]["files_changed"], 3);
    let fetched = clone(&env, &repo, "fetched");
    env.ok(&["fetch", "-t", &one, "--into", fetched.to_str().unwrap()]);
    assert_eq!(
        git(&env, &fetched, &["rev-parse", &branch]),
        git(&env, &repo, &["rev-parse", &branch])
    );
    let applied = clone(&env, &repo, "applied");
    env.ok(&["apply", "-t", &two, "--to", applied.to_str().unwrap()]);
    git(&env, &applied, &["add", "-A"]);
    assert_eq!(
        git(&env, &applied, &["write-tree"]),
        git(
            &env,
            &repo,
            &[
                "rev-parse",
                &format!("{}^{{tree}}", branch_of(&env.status(&two)))
            ]
        )
    );
    for id in [&one, &two] {
        env.ok(&["cleanup", "-t", id]);
    }
    env.ok(&["cleanup", "-t", &slow, "--force"]);
    for id in [&one, &two, &slow] {
        assert!(engine.containers_of(id).is_empty());
        assert!(!env.task_dir(id).exists());
    }
    assert_eq!(git(&env, &repo, &["branch", "--list", "openclaw/*"]), "");
    assert_eq!(
        git(&env, &repo, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    assert_eq!(checkout_state(&env, &repo), before);
    // A workspace outside the volumes cannot have a worktree here.
    env.run(&["run", "-e", "box", "-w", "/tmp", "--worktree", "-c", "true"])
        .assert_error(5, "inside one of the executor's volumes");
}

#[test]
fn docker_worktrees() {
    if let Some(engine) = Engine::get(Runtime::Docker) {
        worktrees_in_containers(&engine);
    }
}

#[test]
fn podman_worktrees() {
    if let Some(engine) = Engine::get(Runtime::Podman) {
        worktrees_in_containers(&engine);
    }
}
