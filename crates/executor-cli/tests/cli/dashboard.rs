//! The interactive dashboard, driven in a real terminal (tmux) as a person
//! would: tasks appear and end, keys filter and open the detail pane, a kill
//! ends the task's whole process tree, a resize keeps the layout, and the
//! terminal comes back as it was on `q` and on SIGTERM.

use std::time::Duration;

use test_support::tmux::Tmux;
use test_support::{MockAnthropic, Reply, Script};

use crate::helpers::{BIN, TestEnv, eventually, kill_pid, process_alive, read_pids};

pub const LIMIT: Duration = Duration::from_secs(30);

/// The dashboard in tmux; after it exits the pane shows its exit code and
/// whether the terminal is back in canonical (cooked) mode.
pub fn dashboard(env: &TestEnv, width: u16, height: u16) -> Option<Tmux> {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let extra: String = env
        .extra_env()
        .iter()
        .map(|(key, value)| format!("{key}={} ", quote(value)))
        .collect();
    let command = format!(
        "cd {work} && echo BEFORE; env -u XDG_CONFIG_HOME -u XDG_DATA_HOME -u OPENCLAW_CONFIG \
         {extra}HOME={home} sh -c 'echo $$ > dashboard.pid; exec \"$0\" dashboard --interval 0.5' {bin}; \
         echo EXITED $?; stty -a | tr ' ;' '\\n\\n' | grep -x -e -icanon -e icanon -e -echo -e echo; \
         echo END; sleep 600",
        work = quote(env.work.to_str().unwrap()),
        home = quote(env.home().to_str().unwrap()),
        bin = quote(BIN),
    );
    let tmux = Tmux::start(width, height, &command)?;
    tmux.wait_for("the dashboard", LIMIT, |s| s.contains("? help"));
    assert_eq!(tmux.format("#{alternate_on}"), "1");
    Some(tmux)
}

/// The row of the task `id` (by its handle), if shown.
fn row<'a>(screen: &'a str, id: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|line| (line.starts_with('⚙') || line.starts_with('🤖')) && line.contains(&id[24..]))
}

pub fn row_has(screen: &str, id: &str, word: &str) -> bool {
    row(screen, id).is_some_and(|line| line.contains(word))
}

/// Quits with `q`: the alternate screen is left, the shell's text is back and
/// the terminal is in cooked mode again.
pub fn assert_quits_cleanly(tmux: &Tmux) {
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the dashboard to exit", LIMIT, |s| s.contains("\nEND"));
    assert!(
        screen.contains("BEFORE") && screen.contains("EXITED 0"),
        "{screen}"
    );
    let modes: Vec<&str> = screen
        .lines()
        .skip_while(|l| !l.starts_with("EXITED"))
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "END")
        .collect();
    assert!(
        modes.contains(&"icanon") && modes.contains(&"echo"),
        "{screen}"
    );
    assert_eq!(tmux.format("#{alternate_on}"), "0");
    assert_eq!(tmux.format("#{cursor_flag}"), "1");
}

#[test]
fn dispatched_task_appears_and_ends() {
    let env = TestEnv::new();
    let Some(tmux) = dashboard(&env, 120, 30) else {
        return;
    };
    tmux.wait_for("the empty table", LIMIT, |s| s.contains("no tasks yet"));
    let marker = env.work.join("go");
    let id = env.run_task(&format!(
        "while [ ! -e '{}' ]; do sleep 0.1; done; echo finished",
        marker.display()
    ));
    tmux.wait_for("the task running", LIMIT, |s| row_has(s, &id, "running"));
    std::fs::write(&marker, "").unwrap();
    let screen = tmux.wait_for("the task completed", LIMIT, |s| {
        row_has(s, &id, "completed")
    });
    assert!(row_has(&screen, &id, "while [ ! -e"), "{screen}");
    assert!(screen.contains("local 0/0/"), "{screen}");
    assert_quits_cleanly(&tmux);
}

#[test]
fn keys_filter_and_open_the_detail_pane() {
    let env = TestEnv::new();
    // The output differs from the command line, which the table shows.
    let done = env.run_task("echo out-$((6*7)); echo line-$((2+3))");
    env.wait_done(&done);
    let running = env.run_task("sleep 300");
    let Some(tmux) = dashboard(&env, 120, 30) else {
        return;
    };
    tmux.wait_for("both tasks", LIMIT, |s| {
        row_has(s, &done, "completed") && row_has(s, &running, "running")
    });
    // `s`: the first status filter is `running`.
    tmux.keys(&["s"]);
    tmux.wait_for("only the running task", LIMIT, |s| {
        s.contains("status=running") && row(s, &done).is_none() && row(s, &running).is_some()
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the filter cleared", LIMIT, |s| {
        row(s, &done).is_some() && row(s, &running).is_some()
    });
    // Free text: the handle of the finished task, typed into the search line.
    tmux.keys(&["/"]);
    tmux.type_text(&done[26..]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("only the finished task", LIMIT, |s| {
        row(s, &done).is_some() && row(s, &running).is_none()
    });
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the detail pane with the output", LIMIT, |s| {
        s.contains("out-42") && s.contains("line-5")
    });
    assert!(screen.contains("exit 0"), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("the pane closed", LIMIT, |s| !s.contains("out-42"));
    // `y` copies the full id (OSC 52, which tmux keeps as a paste buffer).
    assert_eq!(tmux.clipboard(), None);
    tmux.keys(&["y"]);
    tmux.wait_for("the copy noted", LIMIT, |s| {
        s.contains(&format!("copied {done}"))
    });
    assert!(eventually(LIMIT, || tmux.clipboard().as_deref() == Some(done.as_str())));
    // `c` `y` cleans the finished task up: its row and its directory go.
    assert!(env.task_dir(&done).exists());
    tmux.keys(&["c"]);
    tmux.wait_for("the confirmation", LIMIT, |s| s.contains("y to confirm"));
    tmux.keys(&["y"]);
    tmux.wait_for("the task removed", LIMIT, |s| {
        s.contains(&format!("removed {}", &done[24..])) && row(s, &done).is_none()
    });
    assert!(!env.task_dir(&done).exists());
    // Cleaning up a running task is refused, in one line at the bottom.
    tmux.keys(&["Escape", "Escape"]);
    tmux.wait_for("the running task", LIMIT, |s| {
        row_has(s, &running, "running")
    });
    tmux.keys(&["c"]);
    tmux.wait_for("the confirmation", LIMIT, |s| s.contains("y to confirm"));
    tmux.keys(&["y"]);
    tmux.wait_for("the refusal", LIMIT, |s| {
        s.lines().last().is_some_and(|l| l.starts_with("error: "))
    });
    assert!(env.task_dir(&running).exists());
    assert_quits_cleanly(&tmux);
    env.ok(&["kill", "-t", &running, "--grace", "1"]);
}

#[test]
fn kill_from_the_dashboard_ends_the_process_tree() {
    let env = TestEnv::new();
    let command = r#"
echo $$ >> pids
sleep 300 & echo $! >> pids
setsid sh -c 'echo $$ >> pids; sleep 301' &
sh -c 'trap "" TERM; echo $$ >> pids; while :; do sleep 1; done' &
wait
"#;
    let id = env.run_task(command);
    let pids_file = env.work.join("pids");
    assert!(eventually(LIMIT, || read_pids(&pids_file).len() >= 4));
    let pids = read_pids(&pids_file);
    assert!(pids.iter().all(|p| process_alive(*p)), "{pids:?}");
    let Some(tmux) = dashboard(&env, 120, 30) else {
        return;
    };
    tmux.wait_for("the task", LIMIT, |s| row_has(s, &id, "running"));
    tmux.keys(&["x"]);
    tmux.wait_for("the confirmation", LIMIT, |s| {
        s.contains(&format!("kill {}? y to confirm", &id[24..]))
    });
    tmux.keys(&["y"]);
    // The grace period is 10 s, and one process ignores SIGTERM.
    tmux.wait_for("the task killed", Duration::from_secs(60), |s| {
        row_has(s, &id, "killed")
    });
    for pid in &pids {
        assert!(
            eventually(LIMIT, || !process_alive(*pid)),
            "pid {pid} of the task survived the kill"
        );
    }
    assert_eq!(env.status(&id)["status"], "killed");
    assert_quits_cleanly(&tmux);
}

#[test]
fn resize_to_60x20_keeps_the_layout() {
    let env = TestEnv::new();
    let ids: Vec<String> = (0..3)
        .map(|i| env.run_task(&format!("echo task-{i}")))
        .collect();
    for id in &ids {
        env.wait_done(id);
    }
    let Some(tmux) = dashboard(&env, 120, 40) else {
        return;
    };
    tmux.wait_for("the tasks", LIMIT, |s| {
        ids.iter().all(|id| row(s, id).is_some())
    });
    tmux.resize(60, 20);
    let screen = tmux.wait_for("the narrow layout", LIMIT, |s| {
        let lines: Vec<&str> = s.lines().collect();
        lines.len() == 20
            && lines[0].starts_with("openclaw-agent")
            && lines[19].starts_with("? help")
            && ids.iter().all(|id| row_has(s, id, "completed"))
    });
    for line in screen.lines() {
        assert!(line.chars().count() <= 60, "{line:?}\n{screen}");
    }
    // The detail pane fits too.
    tmux.keys(&["Enter"]);
    tmux.wait_for("the detail pane", LIMIT, |s| s.contains("task-2"));
    tmux.resize(100, 30);
    tmux.wait_for("the wide layout", LIMIT, |s| {
        s.lines().count() == 30 && s.contains("EXECUTOR")
    });
    assert_quits_cleanly(&tmux);
}

#[test]
fn sigterm_restores_the_terminal() {
    let env = TestEnv::new();
    let Some(tmux) = dashboard(&env, 80, 24) else {
        return;
    };
    let pid = read_pids(&env.work.join("dashboard.pid"))[0];
    kill_pid(pid, libc::SIGTERM);
    let screen = tmux.wait_for("the dashboard to exit", LIMIT, |s| s.contains("\nEND"));
    assert!(screen.contains("EXITED 0"), "{screen}");
    assert!(
        screen.contains("\nicanon") || screen.contains("icanon\n"),
        "{screen}"
    );
    assert!(!screen.contains("-icanon"), "{screen}");
    assert_eq!(tmux.format("#{alternate_on}"), "0");
}

#[test]
fn agent_activity_shows_and_resume_takes_a_new_prompt() {
    let mock = MockAnthropic::start(Script::new(vec![
        Reply::bash("echo first > first.txt"),
        Reply::text("first answer"),
        Reply::text("second answer"),
    ]));
    let Some(env) = TestEnv::with_local_claude(&mock.url()) else {
        return;
    };
    let first = env.json(&["start", "--json", "-e", "local", "-p", "the first prompt"]);
    let first = first["task_id"].as_str().unwrap().to_owned();
    let run = env.run(&["wait", "-t", &first, "--timeout", "90"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let Some(tmux) = dashboard(&env, 120, 30) else {
        return;
    };
    let screen = tmux.wait_for("the agent task", LIMIT, |s| row_has(s, &first, "completed"));
    assert!(
        row_has(&screen, &first, "🤖") && row_has(&screen, &first, "$"),
        "{screen}"
    );
    // The detail pane renders the agent's stream as `logs` does.
    tmux.keys(&["Enter"]);
    let logs = env.ok(&["logs", "-t", &first]);
    let answer = logs
        .lines()
        .find(|l| l.contains("first answer"))
        .unwrap()
        .trim();
    tmux.wait_for("the rendered activity", LIMIT, |s| s.contains(answer));
    tmux.keys(&["r"]);
    tmux.wait_for("the raw stream", LIMIT, |s| {
        s.contains("\"type\":\"result\"")
    });
    tmux.keys(&["r", "R"]);
    tmux.wait_for("the prompt line", LIMIT, |s| {
        s.contains("follow-up prompt for")
    });
    tmux.type_text("the follow-up prompt, with 'quotes' and $(no expansion)");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the follow-up started", LIMIT, |s| s.contains("started "));
    let child = |env: &TestEnv| -> Option<serde_json::Value> {
        let list = env.json(&["list", "--json"]);
        list.as_array()?
            .iter()
            .find(|t| t["parent_task_id"] == first.as_str())
            .cloned()
    };
    assert!(eventually(LIMIT, || child(&env).is_some()));
    let second = child(&env).unwrap()["task_id"].as_str().unwrap().to_owned();
    tmux.wait_for("the follow-up completed", Duration::from_secs(90), |s| {
        row_has(s, &second, "completed")
    });
    let request = mock.message_requests().last().unwrap().body["messages"].to_string();
    assert!(
        request.contains("the follow-up prompt, with 'quotes' and $(no expansion)"),
        "{request}"
    );
    assert_quits_cleanly(&tmux);
}

/// `cleanup --finished` draws a progress bar on a terminal, and prints only
/// its lines when piped.
#[test]
fn cleanup_of_many_tasks_shows_progress_on_a_terminal_only() {
    let env = TestEnv::new();
    let ids: Vec<String> = (0..12)
        .map(|i| env.run_task(&format!("exit {}", i % 2)))
        .collect();
    for id in &ids {
        env.wait_done(id);
    }
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let command = format!(
        "cd {work} && read go && env -u XDG_CONFIG_HOME -u XDG_DATA_HOME -u OPENCLAW_CONFIG \
         HOME={home} {bin} cleanup --finished; echo END; sleep 600",
        work = quote(env.work.to_str().unwrap()),
        home = quote(env.home().to_str().unwrap()),
        bin = quote(BIN),
    );
    let Some(tmux) = Tmux::start(100, 40, &command) else {
        return;
    };
    let bytes = env.home().join("pane.bytes");
    tmux.record(&bytes);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("cleanup to end", LIMIT, |s| s.contains("\nEND"));
    assert_eq!(screen.matches("removed ").count(), 12, "{screen}");
    // The bar was drawn, then cleared: it is in the bytes, not on the screen.
    assert!(!screen.contains("removing ["), "{screen}");
    assert!(
        eventually(LIMIT, || std::fs::read_to_string(&bytes)
            .unwrap_or_default()
            .contains("removing [")),
        "no progress bar in {:?}",
        std::fs::read_to_string(&bytes)
    );

    // Piped: the lines and nothing else.
    let ids: Vec<String> = (0..3).map(|_| env.run_task("true")).collect();
    for id in &ids {
        env.wait_done(id);
    }
    let run = env.run(&["cleanup", "--finished"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.stderr, "");
    let expected: String = ids.iter().map(|id| format!("removed {id}\n")).collect();
    assert_eq!(run.stdout, expected);
}

/// A terminal that goes away (its window closed, tmux killed) ends the
/// dashboard instead of leaving it running without one.
#[test]
fn hangup_ends_the_dashboard() {
    let env = TestEnv::new();
    let Some(tmux) = dashboard(&env, 80, 24) else {
        return;
    };
    let pid = read_pids(&env.work.join("dashboard.pid"))[0];
    assert!(process_alive(pid));
    drop(tmux);
    assert!(
        eventually(LIMIT, || !process_alive(pid)),
        "the dashboard {pid} outlived its terminal"
    );
}

#[test]
fn worktree_task_shows_its_lines_changed_and_its_diff() {
    let env = TestEnv::new();
    crate::worktrees::make_repo(&env, &env.work);
    let id = crate::worktrees::start_shell(&env, "printf 'beta\\n' >> a.txt; rm doomed.txt");
    assert_eq!(env.wait_done(&id)["status"], "completed");
    let Some(tmux) = dashboard(&env, 120, 30) else {
        return;
    };
    // One line added, one removed: the table's +/- column.
    tmux.wait_for("the task's +/-", LIMIT, |s| row_has(s, &id, "+1 -1"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the detail pane with the branch", LIMIT, |s| {
        s.contains(&format!("branch openclaw/{}", &id[24..]))
    });
    // `d`: the pane shows the task's change as `diff` prints it.
    tmux.keys(&["d"]);
    let screen = tmux.wait_for("the diff", LIMIT, |s| {
        s.contains("+beta") && s.contains("-to be deleted")
    });
    assert!(screen.contains("deleted file mode"), "{screen}");
    tmux.keys(&["d"]);
    tmux.wait_for("the log again", LIMIT, |s| !s.contains("-to be deleted"));
    tmux.keys(&["Escape"]);
    assert_quits_cleanly(&tmux);
}
