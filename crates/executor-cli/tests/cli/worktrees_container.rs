//! Worktree tasks in Docker and Podman containers (real engines): the
//! worktree is made on the engine's host and mounted at the task's
//! workspace; the work is committed there when the task ends.

use std::time::Duration;

use crate::container::{Engine, on_both_engines};
use crate::helpers::eventually;
use crate::worktrees::{
    ODD_SCRIPT, branch_of, checkout_state, clone, git, git_bytes, make_repo, odd_work_round_trips,
};

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
    let odd = start(ODD_SCRIPT);
    for id in [&one, &two, &odd] {
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
    odd_work_round_trips(&env, &repo, &odd);
    for id in [&one, &two, &odd] {
        env.ok(&["cleanup", "-t", id]);
    }
    env.ok(&["cleanup", "-t", &slow, "--force"]);
    for id in [&one, &two, &slow, &odd] {
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

/// Two real claude agents and a shell task, each in a worktree mounted at
/// the workspace of its container.
fn agents_in_container_worktrees(engine: &Engine) {
    use test_support::claude::claude_env;
    use test_support::{MockAnthropic, Reply, Script};
    let Some(image) = std::env::var("OPENCLAW_TEST_CLAUDE_IMAGE")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        crate::container::missing("the claude test image (OPENCLAW_TEST_CLAUDE_IMAGE)");
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
    let mut env = crate::helpers::TestEnv::new();
    if let Some(host) = &engine.docker_host {
        env.set_env("DOCKER_HOST", host);
    }
    let names: Vec<&str> = claude_env(&mock.url())
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    for (key, value) in claude_env(&mock.url()) {
        env.set_env(key, &value);
    }
    env.write_config(&format!(
        "executors:\n  - name: agent\n    type: container\n    image: {image}\n    runtime: {}\n    \
         network: host\n    allow_root: true\n    claude_path: /usr/local/bin/claude\n    \
         volumes: [\"{}:/work\"]\n    env: [{}]\n",
        engine.name(),
        env.work.display(),
        names.join(", ")
    ));
    let repo = make_repo(&env, &env.work);
    let before = checkout_state(&env, &repo);
    let start = |kind: &str, text: &str| {
        env.ok(&[
            "start",
            "-e",
            "agent",
            "-w",
            "/work",
            "--worktree",
            kind,
            text,
        ])
        .trim()
        .to_owned()
    };
    let one = start("-p", "You are agent one: write one.txt");
    let two = start("-p", "You are agent two: extend a.txt");
    let shell = env
        .ok(&[
            "run",
            "-e",
            "agent",
            "-w",
            "/work",
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
    assert_eq!(checkout_state(&env, &repo), before);
    assert_eq!(env.ok(&["diff", "-t", &one, "--name-only"]), "one.txt\n");
    assert_eq!(env.ok(&["diff", "-t", &two, "--name-only"]), "a.txt\n");
    assert_eq!(env.ok(&["diff", "-t", &shell, "--name-only"]), "s.txt\n");
    let target = clone(&env, &repo, "target");
    env.ok(&["apply", "-t", &one, "--to", target.to_str().unwrap()]);
    env.ok(&["fetch", "-t", &two, "--into", target.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(target.join("one.txt")).unwrap(),
        "from one\n"
    );
    let branch = branch_of(&env.status(&two));
    assert_eq!(
        git(&env, &target, &["show", &format!("{branch}:a.txt")]),
        "alpha\nfrom two\n"
    );
    for id in [&one, &two, &shell] {
        env.ok(&["cleanup", "-t", id, "--force"]);
    }
}

/// The work of a container task is committed on this machine when the
/// container ends, with no CLI running: the result files and the commit are
/// there before any `openclaw-agent` command runs again, also for a container
/// SIGKILLed behind our back (its runner recorded nothing).
fn committed_without_a_cli(engine: &Engine) {
    let (env, data) = engine.env("");
    let repo = data.join("proj");
    std::fs::create_dir(&repo).unwrap();
    make_repo(&env, &repo);
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
    let done = start("printf 'done\\n' > done.txt");
    let killed = start("printf 'partial\\n' > partial.txt; exec sleep 300");
    let marker = env.task_dir(&killed).join("worktree/partial.txt");
    assert!(eventually(Duration::from_secs(60), || marker.exists()));
    let run = engine.cli(&["kill", &format!("openclaw-{killed}")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // No openclaw-agent command from here until both results are on disk.
    for (id, file, text) in [
        (&done, "done.txt", "done\n"),
        (&killed, "partial.txt", "partial\n"),
    ] {
        let result = env.task_dir(id).join("result.json");
        assert!(
            eventually(Duration::from_secs(60), || result.exists()),
            "no result.json for {id} without a CLI"
        );
        assert!(env.task_dir(id).join("result.patch").exists());
        let result: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
        let branch = result["branch"].as_str().unwrap();
        assert_eq!(
            git(&env, &repo, &["show", &format!("{branch}:{file}")]),
            text
        );
        assert_eq!(
            git(&env, &repo, &["rev-parse", branch]).trim(),
            result["head"]
        );
        assert_eq!(result["files_changed"], 1);
    }
    // The CLI then reads the recorded result as it is.
    assert_eq!(env.wait_done(&done)["diffstat"]["files_changed"], 1);
    assert_eq!(env.wait_done(&killed)["diffstat"]["files_changed"], 1);
    for id in [&done, &killed] {
        env.ok(&["cleanup", "-t", id, "--force"]);
    }
}

/// `--sync` to a container: the checkout the CLI runs in (outside every
/// volume) gets a worktree here, mounted at the task's workspace.
fn sync_mounts_this_checkout_in_a_container(engine: &Engine) {
    let (env, _) = engine.env("");
    let repo = make_repo(&env, &env.work);
    std::fs::write(repo.join("uncommitted.txt"), "not shipped\n").unwrap();
    let before = checkout_state(&env, &repo);
    let id = env
        .ok(&[
            "run",
            "-e",
            "box",
            "-w",
            "/src",
            "--sync",
            "-c",
            "printf 'c\\n' >> a.txt; pwd > where; ls > listing",
        ])
        .trim()
        .to_owned();
    let status = env.wait_done(&id);
    assert_eq!(status["status"], "completed", "{status}");
    let branch = branch_of(&status);
    assert_eq!(
        env.ok(&["diff", "-t", &id, "--name-only"]),
        "a.txt\nlisting\nwhere\n"
    );
    assert_eq!(
        git(&env, &repo, &["show", &format!("{branch}:where")]),
        "/src\n"
    );
    let listing = git(&env, &repo, &["show", &format!("{branch}:listing")]);
    assert!(listing.contains("doomed.txt"), "{listing}");
    assert!(!listing.contains("uncommitted"), "{listing}");
    let fetched = clone(&env, &repo, "fetched");
    env.ok(&["fetch", "-t", &id, "--into", fetched.to_str().unwrap()]);
    assert_eq!(
        git(&env, &fetched, &["rev-parse", &branch]).trim(),
        status["diffstat"]["head"].as_str().unwrap()
    );
    env.ok(&["cleanup", "-t", &id]);
    assert!(engine.containers_of(&id).is_empty());
    assert!(!env.task_dir(&id).exists());
    assert_eq!(git(&env, &repo, &["branch", "--list", "openclaw/*"]), "");
    assert_eq!(
        git(&env, &repo, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    assert_eq!(checkout_state(&env, &repo), before);
}

on_both_engines!(
    agents_in_container_worktrees,
    worktrees_in_containers,
    committed_without_a_cli,
    sync_mounts_this_checkout_in_a_container,
);
