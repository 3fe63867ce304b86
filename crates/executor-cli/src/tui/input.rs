//! Keys: what each one does to the state, and what it asks the outside to do.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::state::{Prompt, State};
use super::worker::Action;

/// What a key asks of the event loop beyond changing the state.
#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    Nothing,
    Act(Action),
    /// Put this text on the clipboard (OSC 52).
    Copy(String),
}

/// The keys, for the footer and the help screen.
pub const KEYS: &[(&str, &str)] = &[
    ("?", "help"),
    ("q", "quit"),
    ("enter", "detail"),
    ("↑↓/jk", "select"),
    ("/", "search"),
    ("s", "status"),
    ("e", "executor"),
    ("l", "label"),
    ("o", "sort"),
    ("x", "kill"),
    ("c", "cleanup"),
    ("R", "resume"),
    ("y", "copy id"),
    ("r", "raw log"),
];

pub fn handle(state: &mut State, key: KeyEvent) -> Effect {
    if key.kind == KeyEventKind::Release {
        return Effect::Nothing;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        state.quit = true;
        return Effect::Nothing;
    }
    if let Some(prompt) = state.prompt.take() {
        return prompt_key(state, prompt, key);
    }
    if state.help {
        state.help = false;
        return Effect::Nothing;
    }
    state.message = None;
    let selected = state.selected.clone();
    match key.code {
        KeyCode::Char('q') => state.quit = true,
        KeyCode::Esc if state.detail => state.detail = false,
        KeyCode::Esc => {
            state.filters = Default::default();
            state.refilter();
        }
        KeyCode::Char('?') => state.help = true,
        KeyCode::Down | KeyCode::Char('j') => state.move_selection(1),
        KeyCode::Up | KeyCode::Char('k') => state.move_selection(-1),
        KeyCode::PageDown if state.detail => {
            state.log_scroll = state.log_scroll.saturating_sub(10);
        }
        KeyCode::PageUp if state.detail => {
            state.log_scroll = (state.log_scroll + 10).min(state.log.len());
        }
        KeyCode::PageDown => state.move_selection(10),
        KeyCode::PageUp => state.move_selection(-10),
        KeyCode::Home | KeyCode::Char('g') => state.select_edge(false),
        KeyCode::End | KeyCode::Char('G') => state.select_edge(true),
        KeyCode::Enter => state.detail = !state.detail,
        KeyCode::Char('r') => state.raw = !state.raw,
        KeyCode::Char('/') => state.prompt = Some(Prompt::Filter(state.filters.text.clone())),
        KeyCode::Char('s') => state.cycle_status(),
        KeyCode::Char('e') => state.cycle_executor(),
        KeyCode::Char('l') => state.cycle_label(),
        KeyCode::Char('o') => state.next_sort(),
        KeyCode::Char('x') => {
            if let Some(id) = selected {
                state.prompt = Some(Prompt::ConfirmKill(id));
            }
        }
        KeyCode::Char('c') => {
            if let Some(id) = selected {
                state.prompt = Some(Prompt::ConfirmCleanup(id));
            }
        }
        KeyCode::Char('R') => match state.selected_task() {
            Some(task) if task.is_agent() => {
                state.prompt = Some(Prompt::Resume {
                    task_id: task.task_id.clone(),
                    text: String::new(),
                });
            }
            Some(_) => state.message = Some("only agent tasks can be resumed".into()),
            None => {}
        },
        KeyCode::Char('y') => {
            if let Some(id) = selected {
                state.message = Some(format!("copied {id}"));
                return Effect::Copy(id);
            }
        }
        _ => {}
    }
    Effect::Nothing
}

fn prompt_key(state: &mut State, prompt: Prompt, key: KeyEvent) -> Effect {
    match prompt {
        Prompt::ConfirmKill(id) | Prompt::ConfirmCleanup(id)
            if !matches!(key.code, KeyCode::Char('y' | 'Y')) =>
        {
            let _ = id;
            state.message = Some("cancelled".into());
            Effect::Nothing
        }
        Prompt::ConfirmKill(id) => {
            state.message = Some(format!("killing {}…", executor_core::model::handle(&id)));
            Effect::Act(Action::Kill(id))
        }
        Prompt::ConfirmCleanup(id) => {
            state.message = Some(format!("removing {}…", executor_core::model::handle(&id)));
            Effect::Act(Action::Cleanup(id))
        }
        Prompt::Filter(mut text) => {
            match key.code {
                KeyCode::Enter => {}
                KeyCode::Esc => {
                    text.clear();
                    state.filters.text.clear();
                }
                code => {
                    edit(&mut text, code);
                    state.prompt = Some(Prompt::Filter(text.clone()));
                }
            }
            // The table narrows as the user types.
            state.filters.text = text;
            state.refilter();
            Effect::Nothing
        }
        Prompt::Resume { task_id, mut text } => match key.code {
            KeyCode::Esc => {
                state.message = Some("cancelled".into());
                Effect::Nothing
            }
            KeyCode::Enter if text.trim().is_empty() => {
                state.message = Some("the prompt is empty".into());
                Effect::Nothing
            }
            KeyCode::Enter => {
                state.message = Some("starting the follow-up…".into());
                Effect::Act(Action::Resume {
                    task_id,
                    prompt: text,
                })
            }
            code => {
                edit(&mut text, code);
                state.prompt = Some(Prompt::Resume { task_id, text });
                Effect::Nothing
            }
        },
    }
}

fn edit(text: &mut String, code: KeyCode) {
    match code {
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Char(c) => text.push(c),
        _ => {}
    }
}
