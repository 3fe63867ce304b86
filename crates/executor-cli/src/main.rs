//! `openclaw-agent`: the command-line front of the executors. Commands only; the
//! task logic lives in `executor-core` and the backends in their own crates.

// The C `main` below is the entry point: see `start.rs`.
#![cfg_attr(not(test), no_main)]

mod app;
mod cli;
mod commands;
#[cfg(test)]
mod config_tests;
mod exit;
mod handoff;
mod output;
mod progress;
mod rounds;
mod start;
mod supervisor_socket;
mod terminal;
mod tui;

use clap::Parser;

use crate::app::App;
use crate::cli::{Cli, Command};
use crate::commands::{
    compare, config, control, daemon, dispatch, executors, generate, inspect, list, reindex,
    webhooks, work,
};
use crate::exit::CliError;

/// The process's entry, called by the C runtime (see `start.rs`). A test
/// build has the test harness's `main` instead.
#[cfg_attr(not(test), unsafe(no_mangle))]
#[cfg_attr(test, allow(dead_code))]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    start::prepare();
    // Flushes standard output, as returning from a Rust `main` does.
    std::process::exit(i32::from(entry()))
}

/// Runs the command line; returns the exit code.
fn entry() -> u8 {
    // Still one thread: the cheap way to read the umask the runners pass on.
    executor_local::remember_umask();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return u8::try_from(err.exit_code()).unwrap_or(exit::code::USAGE);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            if !err.message.is_empty() {
                eprintln!("error: {}", terminal::safe(&err.one_line()));
            }
            err.code
        }
    }
}

fn run(cli: Cli) -> Result<u8, CliError> {
    let config_flag = cli.config.as_deref();
    match cli.command {
        Command::Config(args) => return config::config(config_flag, args),
        Command::Completions(args) => return generate::completions(args),
        Command::Man => return generate::man(),
        _ => {}
    }
    // A listing asks the supervisor for its round first, so the hosts are read
    // while this process starts up.
    let asked = match &cli.command {
        Command::List(args) if !args.no_refresh => rounds::ask(config_flag),
        Command::Dashboard(args) if args.stream && !args.no_refresh => rounds::ask(config_flag),
        _ => None,
    };
    // A supervisor that runs makes a local dispatch warm (see `handoff`).
    let mut recovering = None;
    if let Command::Run(args) = &cli.command {
        match handoff::offer(config_flag, args)? {
            handoff::Outcome::Done(code) => return Ok(code),
            handoff::Outcome::Direct => {}
            handoff::Outcome::Recover(id) => recovering = Some(id),
        }
    }
    let app = App::load(config_flag)?;
    match cli.command {
        Command::Start(args) => dispatch::start(&app, args),
        Command::Run(args) => match recovering {
            Some(id) => handoff::recover(&app, args, id),
            None => dispatch::run(&app, args),
        },
        Command::Status(args) => inspect::status(&app, args),
        Command::Logs(args) => inspect::logs(&app, args),
        Command::List(args) => list::list(&app, args, asked),
        Command::Wait(args) => control::wait(&app, args),
        Command::Kill(args) => control::kill(&app, args),
        Command::Cleanup(args) => control::cleanup(&app, args),
        Command::Diff(args) => work::diff(&app, args),
        Command::Compare(args) => compare::compare(&app, args),
        Command::Apply(args) => work::apply(&app, args),
        Command::Fetch(args) => work::fetch(&app, args),
        Command::Dashboard(args) => list::dashboard(&app, args, asked),
        Command::Reindex(args) => reindex::reindex(&app, args),
        Command::Executors(args) => executors::executors(&app, args),
        Command::Daemon(args) => daemon::daemon(&app, args),
        Command::Serve(args) => daemon::daemon(
            &app,
            cli::DaemonArgs {
                interval: args.interval,
                listen: Some(args.listen),
            },
        ),
        Command::DeliverWebhooks => webhooks::deliver(&app),
        Command::Config(_) | Command::Completions(_) | Command::Man => {
            unreachable!("handled above")
        }
    }
}
