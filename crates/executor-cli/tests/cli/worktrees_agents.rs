//! Worktree tasks of real Claude Code agents (against the mock API) on the
//! local executor: side by side with a shell task, and a fan-out compared.

use crate::helpers::TestEnv;
use crate::worktrees::{branch_of, checkout_state, clone, git, make_repo, start_shell};

fn repo(env: &TestEnv) -> std::path::PathBuf {
    make_repo(env, &env.work)
}

#[test]
fn two_real_agents_and_a_shell_task_share_a_repository_without_meeting() {
    use test_support::{MockAnthropic, Reply, Script};
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
    let Some(env) = TestEnv::with_local_claude(&mock.url()) else {
        return;
    };
    let repo = repo(&env);
    let before = checkout_state(&env, &repo);
    let start = |prompt: &str| {
        env.ok(&["start", "-e", "local", "--worktree", "-p", prompt])
            .trim()
            .to_owned()
    };
    let one = start("You are agent one: write one.txt");
    let two = start("You are agent two: extend a.txt");
    let shell = start_shell(&env, "printf 'shell\\n' > sub/shell.txt");
    let run = env.run(&["wait", "-t", &one, "--timeout", "90"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = env.run(&["wait", "-t", &two, "--timeout", "90"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    env.wait_done(&shell);
    assert_eq!(checkout_state(&env, &repo), before);

    let names = |id: &str| env.ok(&["diff", "-t", id, "--name-only"]);
    assert_eq!(names(&one), "one.txt\n");
    assert_eq!(names(&two), "a.txt\n");
    assert_eq!(names(&shell), "sub/shell.txt\n");
    let diff_two = env.ok(&["diff", "-t", &two]);
    assert!(diff_two.contains("\n+from two\n"), "{diff_two}");
    let status = env.status(&one);
    assert_eq!(status["agent"]["result"], "one done", "{status}");
    assert_eq!(status["diffstat"]["insertions"], 1);

    let target = clone(&env, &repo, "target");
    env.ok(&["apply", "-t", &one, "--to", target.to_str().unwrap()]);
    env.ok(&["apply", "-t", &two, "--to", target.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(target.join("one.txt")).unwrap(),
        "from one\n"
    );
    assert_eq!(
        std::fs::read_to_string(target.join("a.txt")).unwrap(),
        "alpha\nfrom two\n"
    );
}

#[test]
fn a_fanout_spreads_one_prompt_over_worktrees_and_compares_them() {
    use test_support::claude::{claude_binary, claude_env};
    use test_support::{MockAnthropic, Reply, Script};
    let mock = MockAnthropic::start(Script::new(vec![
        Reply::bash("printf 'fanned\\n' > fan.txt"),
        Reply::text("fanned out"),
    ]));
    let Some(claude) = claude_binary() else {
        return;
    };
    let mut env = TestEnv::new();
    for (key, value) in claude_env(&mock.url()) {
        env.set_env(key, &value);
    }
    let executor = |name: &str| {
        format!(
            "  - name: {name}\n    type: local\n    labels: [pool]\n    allow_root: true\n    claude_path: {}\n",
            claude.display()
        )
    };
    env.write_config(&format!("executors:\n{}{}", executor("l1"), executor("l2")));
    let repo = repo(&env);
    let out = env.ok(&[
        "start",
        "--fanout",
        "3",
        "-l",
        "pool",
        "-p",
        "write fan.txt",
    ]);
    let mut lines = out.lines();
    let group = lines.next().unwrap().to_owned();
    let ids: Vec<String> = lines.map(str::to_owned).collect();
    assert_eq!(ids.len(), 3, "{out}");
    assert!(ids.iter().all(|id| id.len() == 36), "{out}");
    for id in &ids {
        let run = env.run(&["wait", "-t", id, "--timeout", "90"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let listed = env.json(&["list", "--group", &group, "--json"]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|t| t["group"] == group.as_str()));
    assert_eq!(
        env.json(&["list", "--group", "gnone", "--json"]),
        serde_json::json!([])
    );

    let compared = env.json(&["compare", "-g", &group, "--json"]);
    let rows = compared.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let mut executors: Vec<&str> = rows
        .iter()
        .map(|r| r["executor"].as_str().unwrap())
        .collect();
    executors.sort();
    executors.dedup();
    assert_eq!(executors, ["l1", "l2"], "{compared}");
    for row in rows {
        assert_eq!(row["status"], "completed", "{row}");
        assert_eq!(row["turns"], 2);
        assert_eq!(row["files_changed"], 1);
        assert_eq!(row["insertions"], 1);
        assert!(row["cost_usd"].as_f64().unwrap() > 0.0);
        assert!(row["duration_secs"].as_f64().is_some());
    }
    let table = env.ok(&["compare", "-g", &group]);
    assert!(ids.iter().all(|id| table.contains(id.as_str())), "{table}");
    assert!(table.contains("+1 -0"), "{table}");
    env.run(&["compare", "-g", "gnone"])
        .assert_error(4, "no tasks in group");
    // Each is an ordinary task: its branch holds its own commit.
    let branches: Vec<String> = ids.iter().map(|id| branch_of(&env.status(id))).collect();
    for branch in &branches {
        assert_eq!(
            git(&env, &repo, &["show", &format!("{branch}:fan.txt")]),
            "fanned\n"
        );
    }

    // `--group` selects the group's tasks (and no other) for the bulk commands.
    let other = env.ok(&["run", "-e", "l1", "--no-worktree", "-c", "true"]);
    let other = other.trim();
    env.wait_done(other);
    let waited = env.ok(&["wait", "--group", &group, "--status", "completed"]);
    assert_eq!(waited.lines().count(), 3, "{waited}");
    assert!(
        ids.iter().all(|id| waited.contains(id.as_str())),
        "{waited}"
    );
    // Their work was never fetched: skipped, by name, and kept.
    let skipped = env.run(&["cleanup", "--group", &group]);
    assert_eq!(skipped.code, 0, "{}", skipped.stderr);
    assert_eq!(skipped.stderr.matches("warning: skipped").count(), 3);
    assert_eq!(
        env.json(&["list", "--group", &group, "--json"])
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let removed = env.ok(&["cleanup", "--group", &group, "--keep-branch"]);
    assert_eq!(removed.lines().count(), 3, "{removed}");
    assert!(!removed.contains(other), "{removed}");
    assert_eq!(env.status(other)["status"], "completed");
    for branch in &branches {
        git(&env, &repo, &["rev-parse", "--verify", branch]);
    }
}

/// `start --resume` of a worktree task continues the agent's session, from
/// the head of the parent's branch: the follow-up's diff is its own change
/// and its branch holds both commits.
#[test]
fn a_follow_up_of_a_worktree_task_stacks_on_its_branch() {
    use test_support::{MockAnthropic, Reply, Script};
    let mock = MockAnthropic::start(Script::new(vec![
        Reply::bash("printf 'from the first\\n' > first.txt"),
        Reply::text("first done"),
        Reply::bash("printf 'more\\n' >> first.txt; printf 'from the follow-up\\n' > second.txt"),
        Reply::text("follow-up done"),
    ]));
    let Some(env) = TestEnv::with_local_claude(&mock.url()) else {
        return;
    };
    let repo = repo(&env);
    let before = checkout_state(&env, &repo);
    let first = env
        .ok(&[
            "start",
            "-e",
            "local",
            "--worktree",
            "-p",
            "the first prompt",
        ])
        .trim()
        .to_owned();
    let run = env.run(&["wait", "-t", &first, "--timeout", "90"]);
    assert_eq!(run.code, 0, "{}", env.ok(&["logs", "-t", &first, "--raw"]));
    let second = env
        .ok(&["start", "--resume", &first, "-p", "the follow-up prompt"])
        .trim()
        .to_owned();
    let run = env.run(&["wait", "-t", &second, "--timeout", "90"]);
    assert_eq!(run.code, 0, "{}", env.ok(&["logs", "-t", &second, "--raw"]));
    let child = env.status(&second);
    assert_eq!(child["agent"]["result"], "follow-up done", "{child}");
    // The follow-up request carried the whole earlier conversation.
    let history = mock.message_requests().last().unwrap().body["messages"].to_string();
    assert!(history.contains("the first prompt"), "{history}");
    assert!(history.contains("the follow-up prompt"), "{history}");

    let parent = env.status(&first);
    assert_eq!(child["diffstat"]["base"], parent["diffstat"]["head"]);
    assert_eq!(
        env.ok(&["diff", "-t", &first, "--name-only"]),
        "first.txt\n"
    );
    assert_eq!(
        env.ok(&["diff", "-t", &second, "--name-only"]),
        "first.txt\nsecond.txt\n"
    );
    let diff = env.ok(&["diff", "-t", &second]);
    assert!(diff.contains("\n from the first\n+more\n"), "{diff}");
    let branch = branch_of(&child);
    let base = git(&env, &repo, &["rev-parse", "HEAD"]);
    let log = git(
        &env,
        &repo,
        &["log", "--format=%s", &format!("{}..{branch}", base.trim())],
    );
    assert_eq!(
        log,
        format!("openclaw-agent task {second}\nopenclaw-agent task {first}\n")
    );
    let target = clone(&env, &repo, "target");
    env.ok(&["fetch", "-t", &second, "--into", target.to_str().unwrap()]);
    assert_eq!(
        git(&env, &target, &["show", &format!("{branch}:first.txt")]),
        "from the first\nmore\n"
    );
    assert_eq!(checkout_state(&env, &repo), before);
}
