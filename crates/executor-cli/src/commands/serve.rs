//! `serve` and `daemon --listen`: the web page and HTTP API beside the supervisor.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;

use executor_core::{Store, TaskManager};
use executor_web::{ManagerFactory, Server};

use crate::app::{App, executor_factory};
use crate::exit::{CliError, code};

/// Binds `addr`, starts serving, and prints the page's address with the token.
pub fn start(app: &App, addr: &str) -> Result<Server, CliError> {
    let resolved: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|err| {
            CliError::new(
                code::USAGE,
                format!("--listen {addr}: not an address and port: {err}"),
            )
        })?
        .collect();
    let listener = TcpListener::bind(&resolved[..])
        .map_err(|err| CliError::new(code::FAILURE, format!("cannot listen on {addr}: {err}")))?;
    let bound = listener
        .local_addr()
        .map_err(|err| CliError::new(code::FAILURE, format!("cannot listen on {addr}: {err}")))?;
    if !bound.ip().is_loopback() {
        eprintln!(
            "warning: serving on {bound}, reachable from other machines: anyone with the token \
             controls your tasks, and plain HTTP shows it to the network; put a TLS reverse \
             proxy in front (docs/web.md)"
        );
    }
    let token = executor_web::token::load_or_create(&app.paths.data_dir)
        .map_err(|err| CliError::new(code::STORE, executor_core::error_chain(&err)))?;
    let server = executor_web::start(listener, token.clone(), managers(app))
        .map_err(|err| CliError::new(code::FAILURE, executor_core::error_chain(&err)))?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "serving http://{bound}/#token={token}");
    let _ = out.flush();
    Ok(server)
}

/// Opens a manager over the store, as every command does.
fn managers(app: &App) -> ManagerFactory {
    let config = app.config.clone();
    let paths = app.paths.clone();
    Arc::new(move || {
        let store = Store::open(&paths).map_err(|err| executor_core::error_chain(&err))?;
        Ok(TaskManager::new(
            store,
            config.clone(),
            executor_factory(&config.defaults.claude_path),
        ))
    })
}
