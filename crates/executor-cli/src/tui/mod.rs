//! The interactive dashboard (`dashboard` on a terminal, or `tui`).
//!
//! The UI thread only draws and reads keys. Hosts are asked by one thread per
//! executor ([`data`]); actions and the followed log have threads of their own
//! ([`worker`]). The terminal is given back as it was on quit, on a panic and
//! on SIGTERM/SIGHUP.

pub mod data;
pub mod input;
pub mod render;
pub mod state;
#[cfg(test)]
mod tests;
pub mod worker;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use ratatui::crossterm::event::{self, Event};
use ratatui::crossterm::{cursor, execute, terminal};

use crate::app::App;
use crate::exit::{CliError, code};
use input::Effect;
use state::State;

/// Set by SIGTERM/SIGHUP: the loop ends and the terminal is restored.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn catch_stop_signals() {
    for signal in [libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(signal, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Whether the terminal on standard input has hung up (its window closed, its
/// SSH link or tmux server gone).
fn terminal_hung_up() -> bool {
    let mut fd = libc::pollfd {
        fd: 0,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready > 0 && fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

/// Ends the process when asked to stop (SIGTERM/SIGHUP) or when the terminal
/// is gone, should the UI thread not get there itself within a second: on a
/// hung-up terminal crossterm's read loop spins and never returns.
fn start_watchdog() {
    std::thread::spawn(|| {
        loop {
            std::thread::sleep(Duration::from_millis(200));
            if terminal_hung_up() {
                STOP.store(true, Ordering::SeqCst);
            }
            if STOP.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_secs(1));
                restore_terminal();
                std::process::exit(i32::from(code::OK));
            }
        }
    });
}

/// Leaves the alternate screen and raw mode; safe to call more than once.
fn restore_terminal() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
}

/// Restores the terminal when dropped, however the dashboard ends.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

pub fn run(app: &App, interval: Duration) -> Result<u8, CliError> {
    let deliver = app
        .config
        .defaults
        .webhook_url
        .is_some()
        .then(|| app.config_path.clone());
    let feed = data::start(&app.config, &app.paths, interval, deliver);
    let (actions, outcomes) = worker::start_actions(&app.config, &app.paths);
    let (follow, logs) = worker::start_logs(&app.config, &app.paths);

    catch_stop_signals();
    start_watchdog();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    let io_error = |err: std::io::Error| CliError::new(code::FAILURE, format!("terminal: {err}"));
    terminal::enable_raw_mode().map_err(io_error)?;
    let _guard = TerminalGuard;
    execute!(std::io::stdout(), terminal::EnterAlternateScreen).map_err(io_error)?;
    let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
    let mut term = ratatui::Terminal::new(backend).map_err(io_error)?;

    let mut state = State::new(jiff::Timestamp::now());
    state.stale_after = (interval * 3).max(Duration::from_secs(5));
    let mut followed = None;
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    let mut dirty = true;
    while !state.quit && !STOP.load(Ordering::SeqCst) {
        while let Ok(snapshot) = feed.snapshots.try_recv() {
            state.set_snapshot(snapshot);
            dirty = true;
        }
        while let Ok(update) = logs.try_recv() {
            state.apply_log(update);
            dirty = true;
        }
        while let Ok(outcome) = outcomes.try_recv() {
            state.message = Some(outcome);
            let _ = feed.poke.send(());
            dirty = true;
        }
        let wanted = state.follow();
        if wanted != followed {
            let _ = follow.send(wanted.clone());
            if wanted.is_some() {
                state.log.clear();
                state.log_error = None;
            }
            followed = wanted;
        }
        // Ages tick even when nothing else changes.
        if dirty || last_draw.elapsed() >= Duration::from_secs(1) {
            state.now = jiff::Timestamp::now();
            term.draw(|frame| render::draw(frame, &state))
                .map_err(io_error)?;
            last_draw = Instant::now();
            dirty = false;
        }
        if !event::poll(Duration::from_millis(100)).map_err(io_error)? {
            continue;
        }
        dirty = true;
        match event::read().map_err(io_error)? {
            Event::Key(key) => match input::handle(&mut state, key) {
                Effect::Nothing => {}
                Effect::Act(action) => {
                    let _ = actions.send(action);
                }
                Effect::Copy(text) => copy_to_clipboard(&text).map_err(io_error)?,
            },
            Event::Resize(..) => term.autoresize().map_err(io_error)?,
            _ => {}
        }
    }
    drop(term);
    Ok(code::OK)
}

/// Asks the terminal to put `text` on the system clipboard (OSC 52), which
/// also works over SSH and inside tmux (with `set-clipboard on`).
fn copy_to_clipboard(text: &str) -> std::io::Result<()> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    let mut out = std::io::stdout().lock();
    write!(out, "\x1b]52;c;{encoded}\x07")?;
    out.flush()
}
