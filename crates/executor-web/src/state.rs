//! What every handler shares: the token, a way to open a task manager, and
//! the sender of live events.

use std::sync::Arc;

use executor_core::TaskManager;
use tokio::sync::broadcast;

use crate::error::ApiError;

/// Opens a task manager over the store (one per blocking call: the store's
/// connection is not shared between threads).
pub type ManagerFactory = Arc<dyn Fn() -> Result<TaskManager, String> + Send + Sync>;

pub struct AppState {
    pub token: String,
    pub managers: ManagerFactory,
    /// Live events, already serialised: `(event name, JSON data)`.
    pub events: broadcast::Sender<Arc<(String, String)>>,
}

pub type Shared = Arc<AppState>;

impl AppState {
    /// Runs `work` with a fresh manager on the blocking pool.
    pub async fn with_manager<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut TaskManager) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let managers = self.managers.clone();
        tokio::task::spawn_blocking(move || {
            let mut manager = managers().map_err(ApiError::unavailable)?;
            work(&mut manager)
        })
        .await
        .map_err(|err| ApiError::unavailable(format!("request aborted: {err}")))?
    }

    /// Tells connected pages about a change made here (e.g. a task removed).
    pub fn publish(&self, kind: &str, data: serde_json::Value) {
        let _ = self
            .events
            .send(Arc::new((kind.to_owned(), data.to_string())));
    }
}
