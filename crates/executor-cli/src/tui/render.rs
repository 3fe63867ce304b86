//! Drawing one frame from the state.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use super::data::{ExecutorLine, TaskLine};
use super::input::KEYS;
use super::state::{Prompt, State};

pub fn draw(frame: &mut Frame, state: &State) {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_header(frame, header, state);
    if state.detail {
        let [table, detail] =
            Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(body);
        draw_table(frame, table, state);
        draw_detail(frame, detail, state);
    } else {
        draw_table(frame, body, state);
    }
    draw_footer(frame, footer, state);
    if state.help {
        draw_help(frame, frame.area());
    }
}

fn draw_header(frame: &mut Frame, area: Rect, state: &State) {
    let snapshot = &state.snapshot;
    let shown = state.visible().len();
    let mut first = vec![
        Span::styled("openclaw-agent", Style::new().bold()),
        Span::raw(format!(
            "  {shown}/{} tasks  today ${:.2}  sort {}",
            snapshot.tasks.len(),
            snapshot.cost_today,
            state.sort.name()
        )),
    ];
    let filters = state.filter_summary();
    if !filters.is_empty() {
        first.push(Span::styled(
            format!("  [{filters}]"),
            Style::new().fg(Color::Cyan),
        ));
    }
    if let Some(error) = &snapshot.error {
        first.push(Span::styled(
            format!("  {}", crate::terminal::safe(error)),
            Style::new().fg(Color::Red),
        ));
    }
    let mut second = Vec::new();
    for executor in &snapshot.executors {
        if !second.is_empty() {
            second.push(Span::raw("  "));
        }
        second.extend(executor_spans(executor, state.stale_after));
    }
    frame.render_widget(
        Paragraph::new(vec![Line::from(first), Line::from(second)]),
        area,
    );
}

/// `name running/queued/max` and a mark for the host's health.
fn executor_spans(executor: &ExecutorLine, stale_after: Duration) -> Vec<Span<'static>> {
    let max = executor.max.map_or("-".to_owned(), |m| m.to_string());
    let health = &executor.health;
    let stale =
        |since: Option<std::time::Instant>| since.is_some_and(|t| t.elapsed() > stale_after);
    let (mark, color) = if health.error.is_some() {
        ("✗", Color::Red)
    } else if stale(health.busy_since) || stale(health.last_ok) {
        ("stale", Color::Yellow)
    } else if health.last_ok.is_some() {
        ("✓", Color::Green)
    } else {
        ("…", Color::DarkGray)
    };
    vec![
        Span::styled(executor.name.clone(), Style::new().bold()),
        Span::raw(format!(" {}/{}/{max} ", executor.running, executor.queued)),
        Span::styled(mark, Style::new().fg(color)),
    ]
}

fn status_style(task: &TaskLine) -> (String, Style) {
    if task.stalled == Some(true) {
        return (
            "stalled".into(),
            Style::new()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        );
    }
    let style = match task.status.as_str() {
        "running" => Style::new().fg(Color::Cyan),
        "queued" | "pending" => Style::new().fg(Color::Yellow),
        "completed" => Style::new().fg(Color::Green),
        "failed" => Style::new().fg(Color::Red),
        "killed" => Style::new().fg(Color::Magenta),
        "lost" => Style::new()
            .fg(Color::Red)
            .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        _ => Style::new(),
    };
    (task.status.clone(), style)
}

fn parse_time(text: &str) -> Option<jiff::Timestamp> {
    text.parse().ok()
}

/// Seconds between two timestamps, as `list` shows ages.
fn span_text(from: Option<&str>, to: Option<jiff::Timestamp>) -> String {
    match (from.and_then(parse_time), to) {
        (Some(from), Some(to)) => executor_core::time::human_age(to.as_second() - from.as_second()),
        _ => String::new(),
    }
}

/// Which optional columns fit in `width`.
struct Columns {
    executor: bool,
    duration: bool,
    turns: bool,
    diff: bool,
}

impl Columns {
    fn for_width(width: u16) -> Self {
        Self {
            executor: width >= 70,
            duration: width >= 90,
            turns: width >= 100,
            diff: width >= 110,
        }
    }
}

fn draw_table(frame: &mut Frame, area: Rect, state: &State) {
    let columns = Columns::for_width(area.width);
    let visible = state.visible();
    let mut header = vec!["", "ID", "STATUS"];
    let mut widths = vec![
        Constraint::Length(2),
        Constraint::Length(12),
        Constraint::Length(9),
    ];
    if columns.executor {
        header.push("EXECUTOR");
        widths.push(Constraint::Length(10));
    }
    header.push("AGE");
    widths.push(Constraint::Length(4));
    if columns.duration {
        header.push("TIME");
        widths.push(Constraint::Length(4));
    }
    if columns.turns {
        header.push("TURNS");
        widths.push(Constraint::Length(5));
    }
    header.push("COST");
    widths.push(Constraint::Length(7));
    if columns.diff {
        header.push("+/-");
        widths.push(Constraint::Length(11));
    }
    header.push("TASK");
    widths.push(Constraint::Min(10));

    let rows = visible.iter().map(|task| {
        let (status, status_style) = status_style(task);
        let icon = if task.is_agent() { "🤖" } else { "⚙" };
        let age = span_text(Some(&task.created_at), Some(state.now));
        let end = task
            .ended_at
            .as_deref()
            .and_then(parse_time)
            .or((!task.is_live() || task.started_at.is_some()).then_some(state.now));
        let mut cells = vec![
            Cell::from(icon),
            Cell::from(task.handle().to_owned()),
            Cell::from(status).style(status_style),
        ];
        if columns.executor {
            cells.push(Cell::from(
                crate::terminal::safe(&task.executor).into_owned(),
            ));
        }
        cells.push(Cell::from(age));
        if columns.duration {
            cells.push(Cell::from(span_text(task.started_at.as_deref(), end)));
        }
        if columns.turns {
            cells.push(Cell::from(
                task.turns().map(|t| t.to_string()).unwrap_or_default(),
            ));
        }
        cells.push(Cell::from(
            task.cost().map(|c| format!("${c:.2}")).unwrap_or_default(),
        ));
        if columns.diff {
            cells.push(match task.diff_counts() {
                Some((added, removed)) => Cell::from(Line::from(vec![
                    Span::styled(format!("+{added}"), Style::new().fg(Color::Green)),
                    Span::raw(" "),
                    Span::styled(format!("-{removed}"), Style::new().fg(Color::Red)),
                ])),
                None => Cell::from(""),
            });
        }
        let summary = crate::terminal::safe(&task.summary.replace('\n', "⏎")).into_owned();
        cells.push(Cell::from(summary));
        let row = Row::new(cells);
        if matches!(task.status.as_str(), "lost") || task.stalled == Some(true) {
            row.add_modifier(Modifier::BOLD)
        } else {
            row
        }
    });
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::new().bold().underlined()))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .column_spacing(1);
    let mut table_state = TableState::default().with_selected(state.selected_index());
    frame.render_stateful_widget(table, area, &mut table_state);
    if visible.is_empty() {
        let text = if state.snapshot.tasks.is_empty() {
            "no tasks yet: start one with `openclaw-agent run` or `start`"
        } else {
            "no task matches the filters (esc clears them)"
        };
        let inner = Rect {
            y: area
                .y
                .saturating_add(2)
                .min(area.bottom().saturating_sub(1)),
            height: 1,
            ..area
        };
        frame.render_widget(Paragraph::new(text).dark_gray(), inner);
    }
}

fn draw_detail(frame: &mut Frame, area: Rect, state: &State) {
    let Some(task) = state.selected_task() else {
        frame.render_widget(Block::bordered().title(" no task selected "), area);
        return;
    };
    let (status, style) = status_style(task);
    let mut title = vec![
        Span::raw(format!(" {} ", task.handle())),
        Span::styled(status, style),
        Span::raw(format!(" {} ", crate::terminal::safe(&task.executor))),
    ];
    if let Some(code) = task.exit_code {
        title.push(Span::raw(format!("exit {code} ")));
    }
    if let Some(branch) = task.branch() {
        title.push(Span::raw(format!(
            "branch {} ",
            crate::terminal::safe(branch)
        )));
    }
    title.push(Span::styled(
        if state.raw { "raw " } else { "" },
        Style::new().dark_gray(),
    ));
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = usize::from(inner.height);
    let mut lines: Vec<Line> = Vec::new();
    let summary = crate::terminal::safe(&task.summary.replace('\n', "⏎")).into_owned();
    lines.push(Line::from(summary).bold());
    if let Some(activity) = task.agent.as_ref().and_then(|a| a.last_activity.as_ref()) {
        lines
            .push(Line::from(format!("activity: {}", crate::terminal::safe(activity))).dark_gray());
    }
    if let Some(reason) = &task.reason {
        lines.push(Line::from(crate::terminal::safe(reason).into_owned()).red());
    }
    if let Some(error) = &state.log_error {
        lines.push(Line::from(crate::terminal::safe(error).into_owned()).red());
    }
    let room = height.saturating_sub(lines.len());
    let end = state.log.len().saturating_sub(state.log_scroll);
    let start = end.saturating_sub(room);
    lines.extend(state.log[start..end].iter().map(|l| Line::from(l.as_str())));
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_footer(frame: &mut Frame, area: Rect, state: &State) {
    let line = match &state.prompt {
        Some(Prompt::ConfirmKill(id)) => Line::from(format!(
            "kill {}? y to confirm, any other key cancels",
            executor_core::model::handle(id)
        ))
        .yellow(),
        Some(Prompt::ConfirmCleanup(id)) => Line::from(format!(
            "remove {}? y to confirm, any other key cancels",
            executor_core::model::handle(id)
        ))
        .yellow(),
        Some(Prompt::Filter(text)) => Line::from(format!("/{text}▏")),
        Some(Prompt::Resume { task_id, text }) => Line::from(format!(
            "follow-up prompt for {} (enter starts, esc cancels): {text}▏",
            executor_core::model::handle(task_id)
        )),
        None => match &state.message {
            Some(message) => Line::from(crate::terminal::safe(message).into_owned()),
            None => {
                let mut spans = Vec::new();
                for (key, what) in KEYS {
                    spans.push(Span::styled(*key, Style::new().bold()));
                    spans.push(Span::raw(format!(" {what}  ")));
                }
                Line::from(spans).dark_gray()
            }
        },
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn draw_help(frame: &mut Frame, area: Rect) {
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(key, what)| Line::from(format!("{key:>7}  {what}")))
        .collect();
    lines.extend([
        Line::from("   PgUp  scroll the detail pane up (PgDn: down)"),
        Line::from("    esc  close the pane, else clear the filters"),
        Line::from(""),
        Line::from("stalled and lost tasks are shown in reverse video; a"),
        Line::from("host marked ✗ or stale is shown from the last it said."),
    ]);
    let height = (lines.len() as u16 + 2).min(area.height);
    let width = 60.min(area.width);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" keys (any key closes) ")),
        popup,
    );
}
