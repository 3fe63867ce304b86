//! The dashboard's frames, drawn on ratatui's test backend, at a wide and a
//! narrow size; and what keys do to the state.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::data::{ExecutorLine, Health, Snapshot, TaskLine};
use super::input::{self, Effect};
use super::state::{Prompt, State};
use super::worker::{Action, LogUpdate};

fn task(json: serde_json::Value) -> TaskLine {
    serde_json::from_value(json).expect("task line")
}

/// Three tasks of every kind the table tells apart, at fixed times.
fn snapshot() -> Snapshot {
    Snapshot {
        tasks: vec![
            task(serde_json::json!({
                "task_id": "019ad000-0000-7000-8000-00000000a001",
                "executor": "local", "executor_type": "local", "task_type": "shell_command",
                "status": "completed", "created_at": "2026-11-30T12:00:00Z",
                "started_at": "2026-11-30T12:00:01Z", "ended_at": "2026-11-30T12:02:01Z",
                "exit_code": 0, "summary": "cargo test --workspace",
                "diffstat": {"insertions": 12, "deletions": 3}
            })),
            task(serde_json::json!({
                "task_id": "019ad000-0000-7000-8000-00000000b002",
                "executor": "devbox", "executor_type": "ssh", "task_type": "claude_code",
                "status": "running", "created_at": "2026-11-30T12:30:00Z",
                "started_at": "2026-11-30T12:30:02Z", "summary": "Fix the failing test",
                "stalled": true,
                "agent": {"turns": 7, "total_cost_usd": 0.4213, "last_activity": "Bash: cargo test"}
            })),
            task(serde_json::json!({
                "task_id": "019ad000-0000-7000-8000-00000000c003",
                "executor": "local", "executor_type": "local", "task_type": "shell_command",
                "status": "lost", "reason": "the runner is gone",
                "created_at": "2026-11-30T12:40:00Z", "started_at": "2026-11-30T12:40:00Z",
                "ended_at": "2026-11-30T12:45:00Z", "summary": "sleep 600"
            })),
        ],
        executors: vec![
            ExecutorLine {
                name: "local".into(),
                running: 0,
                queued: 0,
                max: Some(4),
                labels: vec!["quick".into()],
                health: Health::default(),
            },
            ExecutorLine {
                name: "devbox".into(),
                running: 1,
                queued: 2,
                max: None,
                labels: vec!["rust".into()],
                health: Health {
                    error: Some("unreachable".into()),
                    ..Health::default()
                },
            },
        ],
        cost_today: 0.4213,
        error: None,
    }
}

fn state() -> State {
    let mut state = State::new("2026-11-30T13:00:00Z".parse().expect("time"));
    state.set_snapshot(snapshot());
    state
}

fn frame(state: &State, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal
        .draw(|frame| super::render::draw(frame, state))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    for y in 0..height {
        let mut line = String::new();
        for x in 0..width {
            line.push_str(buffer[(x, y)].symbol());
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn press(state: &mut State, keys: &str) -> Vec<Effect> {
    keys.chars()
        .map(|c| input::handle(state, key(KeyCode::Char(c))))
        .collect()
}

#[test]
fn table_wide_and_narrow() {
    let state = state();
    insta::assert_snapshot!("table_120x30", frame(&state, 120, 30));
    insta::assert_snapshot!("table_60x20", frame(&state, 60, 20));
}

#[test]
fn detail_pane_wide_and_narrow() {
    let mut state = state();
    // Newest first: the lost task, then the stalled agent.
    state.move_selection(1);
    input::handle(&mut state, key(KeyCode::Enter));
    let follow = state.follow().expect("following");
    assert_eq!(follow.task_id, "019ad000-0000-7000-8000-00000000b002");
    state.apply_log(LogUpdate {
        follow,
        reset: true,
        continues: false,
        lines: vec!["🔧 Bash: cargo test".into(), "💬 The test".into()],
        error: None,
    });
    // A line read while it was being written is completed, not repeated.
    state.apply_log(LogUpdate {
        follow: state.follow().expect("following"),
        reset: false,
        continues: true,
        lines: vec![" passes now.".into()],
        error: None,
    });
    insta::assert_snapshot!("detail_120x30", frame(&state, 120, 30));
    insta::assert_snapshot!("detail_60x20", frame(&state, 60, 20));
}

#[test]
fn help_and_prompts() {
    let mut state = state();
    press(&mut state, "?");
    insta::assert_snapshot!("help_80x24", frame(&state, 80, 24));
    press(&mut state, " ");
    assert!(!state.help);
    press(&mut state, "x");
    assert!(frame(&state, 80, 24).contains("kill 00000000c003? y to confirm"));
    assert_eq!(
        press(&mut state, "y"),
        [Effect::Act(Action::Kill(
            "019ad000-0000-7000-8000-00000000c003".into()
        ))]
    );
    // Anything but y cancels.
    press(&mut state, "c");
    assert!(matches!(state.prompt, Some(Prompt::ConfirmCleanup(_))));
    press(&mut state, "n");
    assert_eq!(state.prompt, None);
    // Shell tasks cannot be resumed; agent tasks take a prompt, byte for byte.
    press(&mut state, "R");
    assert_eq!(state.prompt, None);
    press(&mut state, "j");
    press(&mut state, "R");
    let effects = press(&mut state, "a 'b' $(c)");
    assert!(effects.iter().all(|e| *e == Effect::Nothing));
    assert_eq!(
        input::handle(&mut state, key(KeyCode::Enter)),
        Effect::Act(Action::Resume {
            task_id: "019ad000-0000-7000-8000-00000000b002".into(),
            prompt: "a 'b' $(c)".into()
        })
    );
    assert_eq!(
        press(&mut state, "y"),
        [Effect::Copy("019ad000-0000-7000-8000-00000000b002".into())]
    );
}

#[test]
fn filters_and_sort() {
    let mut state = state();
    let shown = |state: &State| -> Vec<String> {
        state
            .visible()
            .iter()
            .map(|t| t.handle().to_owned())
            .collect()
    };
    assert_eq!(
        shown(&state),
        ["00000000c003", "00000000b002", "00000000a001"]
    );
    press(&mut state, "s");
    assert_eq!(shown(&state), ["00000000b002"]);
    assert_eq!(state.filter_summary(), "status=running");
    input::handle(&mut state, key(KeyCode::Esc));
    press(&mut state, "e");
    assert_eq!(shown(&state), ["00000000c003", "00000000a001"]);
    press(&mut state, "e");
    assert_eq!(shown(&state), ["00000000b002"]);
    press(&mut state, "e");
    assert_eq!(shown(&state).len(), 3);
    press(&mut state, "l");
    assert_eq!(state.filters.label.as_deref(), Some("quick"));
    assert_eq!(shown(&state), ["00000000c003", "00000000a001"]);
    input::handle(&mut state, key(KeyCode::Esc));
    press(&mut state, "/");
    press(&mut state, "CARGO");
    input::handle(&mut state, key(KeyCode::Enter));
    assert_eq!(shown(&state), ["00000000a001"]);
    input::handle(&mut state, key(KeyCode::Esc));
    // Sort by status: stalled and lost first.
    press(&mut state, "o");
    assert_eq!(
        shown(&state),
        ["00000000b002", "00000000c003", "00000000a001"]
    );
    press(&mut state, "q");
    assert!(state.quit);
}

#[test]
fn hosts_marked_by_health() {
    let mut state = state();
    let header = |state: &State| {
        frame(state, 120, 30)
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header(&state), "local 0/0/4 …  devbox 1/2/- ✗");
    let now = std::time::Instant::now();
    let mut snapshot = snapshot();
    // Answered just now; and a reconciliation stuck for a minute.
    snapshot.executors[0].health.last_ok = Some(now);
    snapshot.executors[1].health = Health {
        last_ok: now.checked_sub(std::time::Duration::from_secs(90)),
        busy_since: now.checked_sub(std::time::Duration::from_secs(60)),
        error: None,
    };
    state.set_snapshot(snapshot);
    assert_eq!(header(&state), "local 0/0/4 ✓  devbox 1/2/- stale");
    // The stale host's tasks are still shown, as last known.
    assert_eq!(state.visible().len(), 3);
}
