//! Worktree tasks on the local executor, with real git: isolation, the
//! result the runner records, `diff`, `apply`, `fetch` and `cleanup`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{TestEnv, eventually};

/// Runs git in `dir` with no user or system config; returns stdout, bytes.
pub(crate) fn git_bytes(env: &TestEnv, dir: &Path, args: &[&str]) -> Vec<u8> {
    // Repositories of the SSH tests belong to their test user: only the
    // global config (not `-c`) lets a local clone read them as root.
    let global = env.home().join(".gitconfig");
    if !global.exists() {
        std::fs::write(&global, "[safe]\n\tdirectory = *\n").unwrap();
    }
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "core.quotePath=true",
        ])
        .args(args)
        .env("HOME", env.home())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub(crate) fn git(env: &TestEnv, dir: &Path, args: &[&str]) -> String {
    String::from_utf8(git_bytes(env, dir, args)).expect("utf-8 git output")
}

/// A repository in the env's workspace with a few committed files.
fn repo(env: &TestEnv) -> PathBuf {
    make_repo(env, &env.work)
}

/// A repository at `dir` with a few committed files.
pub(crate) fn make_repo(env: &TestEnv, dir: &Path) -> PathBuf {
    let dir = dir.to_path_buf();
    git(env, &dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(dir.join("doomed.txt"), "to be deleted\n").unwrap();
    std::fs::write(dir.join("bin.dat"), [0u8, 1, 2, 255, 0, 10, 13]).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/s.txt"), "sub\n").unwrap();
    git(env, &dir, &["add", "-A"]);
    git(env, &dir, &["commit", "-q", "-m", "initial"]);
    dir
}

/// Everything that says what state a checkout is in: HEAD, refs of its own,
/// the index's bytes, status, and every file's bytes.
pub(crate) fn checkout_state(env: &TestEnv, dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut state = vec![
        (
            "HEAD".to_owned(),
            git_bytes(env, dir, &["rev-parse", "HEAD"]),
        ),
        (
            "status".to_owned(),
            git_bytes(
                env,
                dir,
                &["status", "--porcelain=v1", "-z", "--untracked-files=all"],
            ),
        ),
        (
            "index".to_owned(),
            std::fs::read(dir.join(".git/index")).unwrap(),
        ),
    ];
    let mut files = crate::helpers::all_files(dir);
    files.retain(|f| !f.starts_with(dir.join(".git")));
    files.sort();
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        state.push((file.display().to_string(), bytes));
    }
    state
}

pub(crate) fn start_shell(env: &TestEnv, cmd: &str) -> String {
    let out = env.ok(&["run", "-e", "local", "--worktree", "-c", cmd]);
    out.trim().to_owned()
}

pub(crate) fn clone(env: &TestEnv, from: &Path, name: &str) -> PathBuf {
    let to = env.home().join(name);
    git(
        env,
        env.home(),
        &["clone", "-q", from.to_str().unwrap(), to.to_str().unwrap()],
    );
    to
}

pub(crate) fn branch_of(status: &Value) -> String {
    status["branch"].as_str().expect("branch").to_owned()
}

#[test]
fn worktree_tasks_run_side_by_side_and_their_work_comes_home() {
    let env = TestEnv::new();
    let repo = repo(&env);
    let before = checkout_state(&env, &repo);
    let one = start_shell(&env, "sleep 0.5; printf 'one\\n' >> a.txt");
    let two = start_shell(&env, "sleep 0.5; printf 'two\\n' > sub/t.txt; pwd > where");
    let three = start_shell(&env, "sleep 0.5; git rm -q doomed.txt");
    let statuses: Vec<Value> = [&one, &two, &three]
        .iter()
        .map(|id| env.wait_done(id))
        .collect();
    for status in &statuses {
        assert_eq!(status["status"], "completed", "{status}");
    }
    // The user's checkout, its index and its HEAD are exactly as they were.
    assert_eq!(checkout_state(&env, &repo), before);

    // Each task worked in its own worktree and has its own branch.
    let branches: Vec<String> = statuses.iter().map(branch_of).collect();
    assert!(branches.iter().all(|b| b.starts_with("openclaw/")));
    assert_ne!(branches[0], branches[1]);
    let worktrees = git(&env, &repo, &["worktree", "list", "--porcelain"]);
    for (id, branch) in [&one, &two, &three].iter().zip(&branches) {
        assert!(
            worktrees.contains(&format!("branch refs/heads/{branch}")),
            "{worktrees}"
        );
        assert!(worktrees.contains(&env.task_dir(id).join("worktree").display().to_string()));
    }
    // The payload started at the workspace's place in its worktree.
    let where_ = git(&env, &repo, &["show", &format!("{}:where", branches[1])]);
    assert_eq!(
        where_.trim(),
        env.task_dir(&two).join("worktree").display().to_string()
    );

    // The view, the listing and the completion record carry the result.
    let diffstat = &statuses[0]["diffstat"];
    assert_eq!(diffstat["files_changed"], 1, "{diffstat}");
    assert_eq!(diffstat["insertions"], 1);
    assert_eq!(diffstat["deletions"], 0);
    let base = git(&env, &repo, &["rev-parse", "HEAD"]);
    assert_eq!(diffstat["base"], base.trim());
    assert_eq!(
        diffstat["head"],
        git(&env, &repo, &["rev-parse", &branches[0]]).trim()
    );
    assert_eq!(statuses[2]["diffstat"]["deletions"], 1);
    let completion = env.completion(&one).expect("completion record");
    assert_eq!(completion["task"]["branch"], branches[0].as_str());
    assert_eq!(completion["task"]["diffstat"]["insertions"], 1);
    let table = env.ok(&["list"]);
    let row = table.lines().find(|l| l.contains(&one[24..])).unwrap();
    assert!(row.contains("+1 -0"), "{table}");
    let listed: Value = env.json(&["list", "--json"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["branch"].is_string())
    );

    // `diff` is exactly git's diff of the branch against the base.
    for branch in &branches {
        let id = [&one, &two, &three][branches.iter().position(|b| b == branch).unwrap()];
        let ours = env.command(&["diff", "-t", id]).output().unwrap();
        assert!(ours.status.success());
        let theirs = git_bytes(
            &env,
            &repo,
            &["diff", "--binary", "--full-index", base.trim(), branch],
        );
        assert_eq!(ours.stdout, theirs, "diff of {branch}");
        // Piped: no colour.
        assert!(!ours.stdout.contains(&0x1b));
    }
    let names = env.ok(&["diff", "-t", &two, "--name-only"]);
    assert_eq!(names, "sub/t.txt\nwhere\n");
    let stat = env.ok(&["diff", "-t", &one, "--stat"]);
    assert!(
        stat.contains("a.txt") && stat.contains("1 file changed, 1 insertion(+)"),
        "{stat}"
    );
    let json = env.json(&["diff", "-t", &three, "--json"]);
    assert_eq!(json["files"][0]["path"], "doomed.txt");
    assert_eq!(json["files"][0]["deletions"], 1);
    assert_eq!(json["branch"], branches[2].as_str());

    // `apply` of one into a fresh clone gives the task's tree.
    let applied = clone(&env, &repo, "applied");
    env.ok(&["apply", "-t", &one, "--to", applied.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(applied.join("a.txt")).unwrap(),
        "alpha\none\n"
    );
    // `fetch` of another brings its real commits under its branch name.
    let fetched = clone(&env, &repo, "fetched");
    env.ok(&["fetch", "-t", &two, "--into", fetched.to_str().unwrap()]);
    assert_eq!(
        git(&env, &fetched, &["rev-parse", &branches[1]]),
        git(&env, &repo, &["rev-parse", &branches[1]])
    );
    let log = git(&env, &fetched, &["log", "--format=%an %s", &branches[1]]);
    assert!(
        log.starts_with(&format!("openclaw-agent openclaw-agent task {two}\n")),
        "{log}"
    );

    // The third was neither fetched nor applied: cleanup names it and keeps it.
    let refused = env.run(&["cleanup", "-t", &three]);
    refused.assert_error(7, &branches[2]);
    for id in [&one, &two] {
        env.ok(&["cleanup", "-t", id]);
    }
    env.ok(&["cleanup", "-t", &three, "--force"]);
    assert_eq!(
        git(&env, &repo, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    assert_eq!(git(&env, &repo, &["branch", "--list", "openclaw/*"]), "");
    assert!(!env.tasks_dir().exists() || std::fs::read_dir(env.tasks_dir()).unwrap().count() == 0);
    assert!(
        !repo.join(".git/worktrees").exists()
            || std::fs::read_dir(repo.join(".git/worktrees"))
                .unwrap()
                .count()
                == 0
    );
    assert_eq!(checkout_state(&env, &repo), before);
}

/// A task's shell script that leaves files with odd names (spaces, quotes, a
/// newline, unicode), binary files, a deleted file and a mode change.
pub(crate) const ODD_SCRIPT: &str = concat!(
    "printf 'spaces\\n' > 'with  spaces.txt'\n",
    "printf 'quotes\\n' > \"it's \\\"quoted\\\"\"\n",
    "printf 'newline\\n' > 'new\nline'\n",
    "printf 'unicode\\n' > 'ünïcødé ✓.txt'\n",
    "head -c 3000 /dev/urandom > random.bin\n",
    "printf '\\000\\001\\377' >> bin.dat\n",
    "rm doomed.txt\n",
    "chmod +x sub/s.txt\n",
);

/// The work of a finished [`ODD_SCRIPT`] task in `repo` comes home byte-exact
/// through `apply` and `fetch` into fresh clones, and an `apply` that
/// conflicts leaves its target byte-identical.
pub(crate) fn odd_work_round_trips(env: &TestEnv, repo: &Path, id: &str) {
    let status = env.status(id);
    assert_eq!(status["status"], "completed", "{status}");
    let branch = branch_of(&status);
    let wanted_tree = git(env, repo, &["rev-parse", &format!("{branch}^{{tree}}")]);
    assert_eq!(status["diffstat"]["files_changed"], 8, "{status}");

    let applied = clone(env, repo, &format!("applied-{id}"));
    env.ok(&["apply", "-t", id, "--to", applied.to_str().unwrap()]);
    git(env, &applied, &["add", "-A"]);
    assert_eq!(git(env, &applied, &["write-tree"]), wanted_tree);

    let fetched = clone(env, repo, &format!("fetched-{id}"));
    env.ok(&["fetch", "-t", id, "--into", fetched.to_str().unwrap()]);
    git(env, &fetched, &["checkout", "-q", &branch]);
    assert_eq!(
        git(env, &fetched, &["rev-parse", "HEAD^{tree}"]),
        wanted_tree
    );
    assert_eq!(
        git(env, &fetched, &["rev-parse", "HEAD"]),
        git(env, repo, &["rev-parse", &branch])
    );
    assert_eq!(
        std::fs::read(fetched.join("new\nline")).unwrap(),
        b"newline\n"
    );
    assert!(!fetched.join("doomed.txt").exists());

    // The task deletes doomed.txt, which the target has changed.
    let target = clone(env, repo, &format!("conflict-{id}"));
    std::fs::write(target.join("doomed.txt"), "mine\n").unwrap();
    std::fs::write(target.join("untracked"), "u").unwrap();
    let before = checkout_state(env, &target);
    for three_way in [false, true] {
        let mut args = vec!["apply", "-t", id, "--to", target.to_str().unwrap()];
        if three_way {
            args.push("--3way");
        }
        env.run(&args).assert_error(9, "doomed.txt");
        assert_eq!(checkout_state(env, &target), before);
    }
}

#[test]
fn odd_names_binary_and_deleted_files_survive_the_round_trip_byte_exact() {
    let env = TestEnv::new();
    let repo = repo(&env);
    let id = start_shell(&env, ODD_SCRIPT);
    env.wait_done(&id);
    odd_work_round_trips(&env, &repo, &id);
}

/// git dies on a worktree admin dir another `worktree add` on the repository
/// is making at that moment (as a fan-out's tasks do at once): the runner
/// tries again once it is whole, instead of failing the task.
#[test]
fn a_worktree_add_racing_another_on_the_repository_is_retried() {
    let env = TestEnv::new();
    let repo = repo(&env);
    // What git has made of another worktree the moment before it writes
    // that worktree's `commondir`: its `gitdir`, and `commondir` still empty.
    let half_made = repo.join(".git/worktrees/another");
    std::fs::create_dir_all(&half_made).unwrap();
    let elsewhere = env.work.join("elsewhere");
    std::fs::write(
        half_made.join("gitdir"),
        format!("{}\n", elsewhere.join(".git").display()),
    )
    .unwrap();
    std::fs::write(half_made.join("commondir"), "").unwrap();
    let id = start_shell(&env, "printf 'raced\\n' > raced.txt");
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::remove_dir_all(&half_made).unwrap();
    let status = env.wait_done(&id);
    assert_eq!(
        status["status"],
        "completed",
        "{status}\n{}",
        env.ok(&["logs", "-t", &id])
    );
    let branch = branch_of(&status);
    assert_eq!(
        git(&env, &repo, &["show", &format!("{branch}:raced.txt")]),
        "raced\n"
    );
}

#[test]
fn a_killed_task_leaves_its_partial_work_on_its_branch() {
    let env = TestEnv::new();
    let repo = repo(&env);
    let id = start_shell(&env, "printf 'partial\\n' > partial.txt; exec sleep 60");
    let marker = env.task_dir(&id).join("worktree/partial.txt");
    assert!(eventually(Duration::from_secs(20), || marker.exists()));
    env.ok(&["kill", "-t", &id]);
    let status = env.wait_done(&id);
    assert_eq!(status["status"], "killed", "{status}");
    assert_eq!(status["diffstat"]["files_changed"], 1, "{status}");
    let branch = branch_of(&status);
    assert_eq!(
        git(&env, &repo, &["show", &format!("{branch}:partial.txt")]),
        "partial\n"
    );
    let diff = env.ok(&["diff", "-t", &id]);
    assert!(diff.contains("+partial"), "{diff}");
}

#[test]
fn an_apply_conflict_leaves_the_target_byte_identical() {
    let env = TestEnv::new();
    let repo = repo(&env);
    let id = start_shell(&env, "printf 'task\\n' > a.txt; printf 'x\\n' > other.txt");
    env.wait_done(&id);
    let target = clone(&env, &repo, "target");
    std::fs::write(target.join("a.txt"), "mine\n").unwrap();
    std::fs::write(target.join("untracked"), "u").unwrap();
    let before = checkout_state(&env, &target);
    for three_way in [false, true] {
        let mut args = vec!["apply", "-t", &id, "--to", target.to_str().unwrap()];
        if three_way {
            args.push("--3way");
        }
        let run = env.run(&args);
        run.assert_error(9, "a.txt");
        assert!(!run.stderr.contains("other.txt"), "{}", run.stderr);
        assert_eq!(checkout_state(&env, &target), before);
    }
}

#[test]
fn bad_worktree_requests_fail_before_anything_is_recorded() {
    let mut env = TestEnv::new();
    // Not a repository.
    let run = env.run(&["run", "-e", "local", "--worktree", "-c", "true"]);
    run.assert_error(8, "is not inside a git repository");
    repo(&env);
    let run = env.run(&[
        "run",
        "-e",
        "local",
        "--worktree",
        "--base",
        "no-such-ref",
        "-c",
        "true",
    ]);
    run.assert_error(8, "unknown base `no-such-ref`");
    let run = env.run(&["run", "-e", "local", "--base", "main", "-c", "true"]);
    run.assert_error(2, "--base needs --worktree");
    // git missing where the task would run.
    env.set_env("PATH", "/nonexistent");
    let run = env.run(&["run", "-e", "local", "--worktree", "-c", "true"]);
    run.assert_error(8, "git is not installed on this machine");
    env.set_env("PATH", &std::env::var("PATH").unwrap());
    assert_eq!(env.ok(&["list"]).trim(), "no tasks");
    assert!(!env.tasks_dir().exists() || std::fs::read_dir(env.tasks_dir()).unwrap().count() == 0);
    // A task without a worktree has nothing to diff.
    let id = env.run_task("true");
    env.wait_done(&id);
    env.run(&["diff", "-t", &id])
        .assert_error(7, "has no worktree");
}

#[test]
fn config_isolation_gives_worktrees_and_cleanup_can_keep_the_branch() {
    let env = TestEnv::new();
    let repo = repo(&env);
    env.write_config(
        "defaults:\n  isolation: worktree\nexecutors:\n  - name: local\n    type: local\n",
    );
    let id = env.run_task("printf 'c\\n' > c.txt");
    let status = env.wait_done(&id);
    let branch = branch_of(&status);
    let plain = env.ok(&["run", "-e", "local", "--no-worktree", "-c", "true"]);
    let plain = env.wait_done(plain.trim());
    assert!(plain.get("branch").is_none(), "{plain}");
    env.ok(&["cleanup", "-t", &id, "--keep-branch"]);
    assert_eq!(
        git(&env, &repo, &["branch", "--list", "openclaw/*"]).trim(),
        branch
    );
    assert_eq!(
        git(&env, &repo, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
}

#[test]
fn sync_on_the_local_executor_works_from_a_bundle() {
    let env = TestEnv::new();
    let repo = repo(&env);
    let before = checkout_state(&env, &repo);
    let id = env
        .ok(&[
            "run",
            "-e",
            "local",
            "--sync",
            "--base",
            "main",
            "-c",
            "printf 'x\\n' > x.txt",
        ])
        .trim()
        .to_owned();
    let status = env.wait_done(&id);
    assert_eq!(status["status"], "completed", "{status}");
    // Made from the bundle: the user's repository has no worktree and no branch.
    assert_eq!(git(&env, &repo, &["branch", "--list", "openclaw/*"]), "");
    assert_eq!(checkout_state(&env, &repo), before);
    assert_eq!(env.ok(&["diff", "-t", &id, "--name-only"]), "x.txt\n");
    let fetched = clone(&env, &repo, "fetched");
    env.ok(&["fetch", "-t", &id, "--into", fetched.to_str().unwrap()]);
    assert_eq!(
        git(
            &env,
            &fetched,
            &["show", &format!("{}:x.txt", branch_of(&status))]
        ),
        "x\n"
    );
    env.ok(&["cleanup", "-t", &id]);
    assert!(!env.task_dir(&id).exists());
}

#[test]
fn queued_worktree_tasks_start_later_in_their_own_worktrees() {
    let env = TestEnv::new();
    let repo = repo(&env);
    env.write_config("executors:\n  - name: one\n    type: local\n    max_concurrent: 1\n");
    let first = env
        .ok(&[
            "run",
            "-e",
            "one",
            "--worktree",
            "-c",
            "sleep 1; printf 1 > first",
        ])
        .trim()
        .to_owned();
    let second = env
        .ok(&["run", "-e", "one", "--worktree", "-c", "printf 2 > second"])
        .trim()
        .to_owned();
    assert_eq!(env.status(&second)["status"], "queued");
    for (id, file) in [(&first, "first"), (&second, "second")] {
        let status = env.wait_done(id);
        assert_eq!(status["status"], "completed", "{status}");
        assert_eq!(
            env.ok(&["diff", "-t", id, "--name-only"]),
            format!("{file}\n")
        );
    }
    let shown = env.ok(&["status", "-t", &second]);
    assert!(shown.contains("branch     openclaw/"), "{shown}");
    assert!(shown.contains("changes    1 file(s), +1 -0"), "{shown}");
    assert_eq!(
        git(&env, &repo, &["branch", "--list", "openclaw/*"])
            .lines()
            .count(),
        2
    );
}

#[test]
fn the_http_api_serves_a_worktree_tasks_diff() {
    let env = TestEnv::new();
    let repo = repo(&env);
    let id = start_shell(&env, "printf 'web\\n' >> a.txt");
    let status = env.wait_done(&id);
    let served = crate::web::Served::serve(&env);
    let diff = served.get(&format!("/api/tasks/{id}/diff")).json();
    assert_eq!(diff["branch"], status["branch"]);
    assert_eq!(diff["insertions"], 1);
    assert_eq!(diff["files"][0]["path"], "a.txt");
    let base = git(&env, &repo, &["rev-parse", "HEAD"]);
    let expected = git(
        &env,
        &repo,
        &[
            "diff",
            "--binary",
            "--full-index",
            base.trim(),
            &branch_of(&status),
        ],
    );
    assert_eq!(diff["patch"], expected.as_str());
    let listed = served.get("/api/tasks").json();
    assert!(listed.to_string().contains("\"diffstat\""), "{listed}");
}

#[test]
fn the_http_api_dispatches_worktree_tasks_with_the_cli_checks() {
    let env = TestEnv::new();
    let repo = repo(&env);
    let before = checkout_state(&env, &repo);
    let served = crate::web::Served::serve(&env);
    let body = |extra: &str| {
        format!(
            r#"{{"type":"shell","command":"printf 'api\\n' >> a.txt","executor":"local","workspace":{}{extra}}}"#,
            Value::from(repo.to_str().unwrap())
        )
    };
    let created = served.post("/api/tasks", &body(r#","worktree":true"#));
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["task_id"].as_str().unwrap().to_owned();
    let status = env.wait_done(&id);
    assert_eq!(status["status"], "completed");
    assert_eq!(status["diffstat"]["insertions"], 1);
    assert_eq!(
        git(
            &env,
            &repo,
            &["show", &format!("{}:a.txt", branch_of(&status))]
        ),
        "alpha\napi\n"
    );
    assert_eq!(checkout_state(&env, &repo), before);
    // The CLI's checks, as one-line 4xx: a base with no worktree, an unknown
    // base, a workspace outside any repository.
    served
        .post("/api/tasks", &body(r#","base":"main""#))
        .assert_error(422, "--base needs --worktree");
    let unknown = served.post(
        "/api/tasks",
        &body(r#","worktree":true,"base":"no-such-ref""#),
    );
    assert!(
        (400..500).contains(&unknown.status),
        "{} {}",
        unknown.status,
        unknown.body
    );
    assert!(unknown.body.contains("no-such-ref"), "{}", unknown.body);
    let outside = env.home().join("plain");
    std::fs::create_dir(&outside).unwrap();
    served
        .post(
            "/api/tasks",
            &format!(
                r#"{{"type":"shell","command":"true","executor":"local","workspace":{},"worktree":true}}"#,
                Value::from(outside.to_str().unwrap())
            ),
        )
        .assert_error(422, "git");
    // Nothing was recorded for the refused requests.
    assert_eq!(env.json(&["list", "--json"]).as_array().unwrap().len(), 1);
}

#[test]
fn bulk_cleanup_skips_unfetched_work_unless_kept_or_forced() {
    let env = TestEnv::new();
    let repo = repo(&env);
    let fetched = start_shell(&env, "printf 'f\\n' >> a.txt");
    let unchanged = start_shell(&env, "true");
    let kept = start_shell(&env, "printf 'k\\n' >> a.txt");
    let forced = start_shell(&env, "printf 'x\\n' >> a.txt");
    let branches: Vec<String> = [&fetched, &unchanged, &kept, &forced]
        .iter()
        .map(|id| branch_of(&env.wait_done(id)))
        .collect();
    let into = clone(&env, &repo, "home");
    env.ok(&["fetch", "-t", &fetched, "--into", into.to_str().unwrap()]);

    // A selection removes what is safe to remove and skips the rest, by name.
    let out = env.run(&["cleanup", "--finished"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!("removed {fetched}")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("removed {unchanged}")),
        "{}",
        out.stdout
    );
    for (id, branch) in [(&kept, &branches[2]), (&forced, &branches[3])] {
        assert!(!out.stdout.contains(id.as_str()), "{}", out.stdout);
        assert!(out.stderr.contains(branch.as_str()), "{}", out.stderr);
        assert_eq!(env.status(id)["status"], "completed");
    }
    assert_eq!(
        out.stderr.matches("warning: skipped").count(),
        2,
        "{}",
        out.stderr
    );
    let listed = git(&env, &repo, &["branch", "--list", "openclaw/*"]);
    assert!(
        !listed.contains(&branches[0]) && !listed.contains(&branches[1]),
        "{listed}"
    );

    // Several ids are no selection: each refusal is an error.
    let refused = env.run(&["cleanup", "-t", &kept, "-t", &forced]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert_eq!(
        refused.stderr.matches("error: ").count(),
        2,
        "{}",
        refused.stderr
    );

    env.ok(&["cleanup", "-t", &kept, "--keep-branch"]);
    let out = env.ok(&["cleanup", "--status", "completed", "--force"]);
    assert_eq!(out, format!("removed {forced}\n"));
    // The kept branch keeps the work; every worktree is gone.
    let listed = git(&env, &repo, &["branch", "--list", "openclaw/*"]);
    assert_eq!(
        listed.trim().trim_start_matches("* "),
        branches[2],
        "{listed}"
    );
    assert_eq!(
        git(&env, &repo, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
}
