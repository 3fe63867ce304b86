//! The web face of the supervisor: a JSON API, live Server-Sent Events and
//! one embedded page, served on a thread of the `serve` / `daemon --listen`
//! process beside the supervisor loop (see docs/api.md and docs/web.md).
//!
//! Every `/api` request needs the access token (`Authorization: Bearer`);
//! store and executor calls run on tokio's blocking pool, each on a manager
//! of its own.

mod api;
mod error;
mod extract;
mod page;
mod state;
pub mod token;
mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{self, SyncSender};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::broadcast;

pub use state::ManagerFactory;

/// Largest request body accepted (a prompt is the largest thing sent).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The page loads its script and style from here and nothing else: no inline
/// script, no other origin, no frames.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot serve on {addr}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the web server")]
    Runtime(#[source] std::io::Error),
}

/// A running server. Tell it after each supervisor round with [`Server::round_done`].
pub struct Server {
    pub addr: SocketAddr,
    rounds: SyncSender<()>,
}

impl Server {
    /// A supervisor round finished: look for task changes now.
    pub fn round_done(&self) {
        let _ = self.rounds.try_send(());
    }
}

/// Serves on `listener` until the process ends.
pub fn start(
    listener: std::net::TcpListener,
    token: String,
    managers: ManagerFactory,
) -> Result<Server, WebError> {
    let addr = listener.local_addr().map_err(|source| WebError::Listen {
        addr: "the listening socket".into(),
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| WebError::Listen {
            addr: addr.to_string(),
            source,
        })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("openclaw-web")
        .enable_all()
        .build()
        .map_err(WebError::Runtime)?;
    let (events, _) = broadcast::channel(1024);
    let state = Arc::new(state::AppState {
        token,
        managers,
        events,
    });
    let listener = {
        let _guard = runtime.enter();
        tokio::net::TcpListener::from_std(listener).map_err(|source| WebError::Listen {
            addr: addr.to_string(),
            source,
        })?
    };
    let (rounds, rounds_in) = mpsc::sync_channel(1);
    let watched = state.clone();
    std::thread::Builder::new()
        .name("openclaw-web-events".into())
        .spawn(move || watch::run(watched, rounds_in))
        .map_err(WebError::Runtime)?;
    let app = router(state);
    std::thread::Builder::new()
        .name("openclaw-web".into())
        .spawn(move || {
            runtime.block_on(async move {
                if let Err(err) = axum::serve(listener, app).await {
                    eprintln!("error: web server stopped: {err}");
                }
            });
        })
        .map_err(WebError::Runtime)?;
    Ok(Server { addr, rounds })
}

fn router(state: state::Shared) -> Router {
    let api = api::routes()
        .layer(middleware::from_fn_with_state(
            state.clone(),
            extract::require_token,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    Router::new()
        .route("/", get(page::index))
        .route("/app.js", get(page::script))
        .route("/app.css", get(page::style))
        .merge(api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::map_response(secure_headers))
        .with_state(state)
}

async fn not_found() -> Response {
    error::ApiError::new(StatusCode::NOT_FOUND, "no such route").into_response()
}

async fn method_not_allowed() -> Response {
    error::ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this route does not take that method",
    )
    .into_response()
}

async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
