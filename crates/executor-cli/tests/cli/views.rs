//! Human and machine views: status, dashboard, executors, completions, man.

use std::time::Duration;

use crate::helpers::{TestEnv, eventually};

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' {
                vec![c]
            } else {
                vec!['\\', c]
            }
        })
        .collect()
}

#[test]
fn status_and_list_read_well() {
    let env = TestEnv::new();
    let id = env.run_task("echo hi; exit 3");
    env.run(&["wait", "--task-id", &id]);
    // Ids, timestamps, ages and paths change from run to run.
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[TASK_ID]",
    );
    settings.add_filter(r"\b[0-9a-f]{12}\b", "[HANDLE]");
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[TIME]");
    settings.add_filter(r"\s+\d+[smhd]  ", "  [AGE]  ");
    let home = std::fs::canonicalize(env.home()).unwrap();
    settings.add_filter(&regex_escape(home.to_str().unwrap()), "[HOME]");
    settings.bind(|| {
        insta::assert_snapshot!("status", env.ok(&["status", "--task-id", &id]));
        insta::assert_snapshot!("list", env.ok(&["list"]));
    });
}

#[test]
fn dashboard_stream_and_watch() {
    let env = TestEnv::new();
    let a = env.run_task("true");
    let b = env.run_task("sleep 300");
    env.wait_done(&a);
    let stream = env.ok(&["dashboard", "--stream"]);
    let rows: Vec<serde_json::Value> = stream
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSONL"))
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["task_id"], a.as_str());
    assert_eq!(rows[0]["status"], "completed");
    assert_eq!(rows[1]["task_id"], b.as_str());
    assert_eq!(rows[1]["status"], "running");

    let watch = env.ok(&["dashboard", "--watch", "0.1", "--count", "2"]);
    assert_eq!(
        watch.matches("openclaw-agent dashboard").count(),
        2,
        "{watch}"
    );
    assert!(watch.contains("1 running, 1 completed"), "{watch}");
    assert!(watch.contains(&b[24..]), "{watch}");

    // No flag and no terminal (stdin and stdout are not one here): one frame,
    // the same as `tui`.
    let once = env.ok(&["dashboard"]);
    assert_eq!(
        once.matches("openclaw-agent dashboard").count(),
        1,
        "{once}"
    );
    assert!(once.contains("1 running, 1 completed"), "{once}");
    assert!(once.contains(&a[24..]) && once.contains(&b[24..]), "{once}");
    let tui = env.ok(&["tui"]);
    assert!(tui.contains(&a[24..]) && tui.contains(&b[24..]), "{tui}");
    for bad in ["0", "nan", "inf"] {
        env.run(&["dashboard", "--interval", bad])
            .assert_error(2, "--interval needs a positive number of seconds");
    }
    env.ok(&["kill", "--task-id", &b, "--grace", "1"]);
}

#[test]
fn no_refresh_prints_the_index_as_it_is() {
    let env = TestEnv::new();
    let task = env.run_task("sleep 0.5");
    let exit = env.task_dir(&task).join("exit.json");
    assert!(eventually(Duration::from_secs(20), || exit.exists()));
    // Ended, but nothing has read it back yet.
    let status_of = |args: &[&str]| {
        let list = env.json(args);
        list[0]["status"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(status_of(&["list", "--json", "--no-refresh"]), "running");
    let stream = env.ok(&["dashboard", "--stream", "--no-refresh"]);
    assert!(stream.contains("\"running\""), "{stream}");
    let frame = env.ok(&[
        "dashboard",
        "--watch",
        "0.1",
        "--count",
        "1",
        "--no-refresh",
    ]);
    assert!(frame.contains("1 running"), "{frame}");
    assert_eq!(status_of(&["list", "--json"]), "completed");
}

#[test]
fn executors_show_load() {
    let env = TestEnv::new();
    let table = env.ok(&["executors"]);
    assert!(
        table.contains("local") && table.contains("this machine"),
        "{table}"
    );
    let id = env.run_task("sleep 300");
    let json = env.json(&["executors", "--json"]);
    assert_eq!(json[0]["name"], "local");
    assert_eq!(json[0]["builtin"], true);
    assert_eq!(json[0]["running"], 1);
    assert_eq!(json[0]["tasks"], 1);
    env.ok(&["kill", "--task-id", &id, "--grace", "1"]);
    let json = env.json(&["executors", "--json"]);
    assert_eq!(json[0]["running"], 0);
}

#[test]
fn completions_and_man_page() {
    let env = TestEnv::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = env.ok(&["completions", shell]);
        assert!(script.contains("openclaw-agent"), "{shell}");
        assert!(script.contains("dashboard"), "{shell}");
    }
    let man = env.ok(&["man"]);
    assert!(man.contains(".TH openclaw-agent"), "{}", &man[..200]);
    assert!(man.contains("dashboard"));
    let help = env.ok(&["--help"]);
    for command in [
        "start",
        "run",
        "status",
        "logs",
        "list",
        "wait",
        "kill",
        "cleanup",
        "dashboard",
        "executors",
        "config",
    ] {
        assert!(help.contains(command), "--help lacks {command}");
    }
    assert!(!help.contains("deliver-webhooks"));
    // Each command's summary is its own, not the doc of options it shares
    // (subcommands are built lazily, where a flattened struct's doc comment
    // would become the command's about).
    let zsh = env.ok(&["completions", "zsh"]);
    for summary in [
        "'start:Start an agent task",
        "'run:Run a shell command as a task",
        "'logs:Show a task",
        "'wait:Block until a task ends",
        "'kill:End a task",
        "'cleanup:Remove finished tasks",
    ] {
        assert!(zsh.contains(summary), "zsh completions lack {summary}");
    }
    let kill = env.ok(&["kill", "--help"]);
    assert!(
        kill.starts_with("End a task's whole process tree"),
        "{kill}"
    );
    assert!(kill.contains("are killed together"), "{kill}");
}

#[test]
fn closed_stdout_is_not_an_error() {
    let env = TestEnv::new();
    for _ in 0..3 {
        env.run_task("true");
    }
    let mut command = env.command(&["list"]);
    command.stdout(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.status.code().is_some(), "killed by a signal");
}
