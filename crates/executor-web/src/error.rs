//! API errors: a 4xx (or, for a broken store or host, 5xx other than 500)
//! status with a one-line JSON body `{"error": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use executor_core::{StoreError, TaskError, error_chain};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// The store could not be opened or read.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
}

/// `{"error": message}` on one line, whatever the message holds.
pub fn error_body(message: &str) -> String {
    let one_line: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("{}\n", serde_json::json!({ "error": one_line }))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            error_body(&self.message),
        )
            .into_response()
    }
}

impl From<TaskError> for ApiError {
    fn from(err: TaskError) -> Self {
        let status = match &err {
            TaskError::Store(StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
            TaskError::Store(StoreError::Ambiguous { .. }) | TaskError::InvalidId(_) => {
                StatusCode::BAD_REQUEST
            }
            TaskError::Store(_) | TaskError::Mirror(_) => StatusCode::SERVICE_UNAVAILABLE,
            TaskError::UnknownExecutor { .. }
            | TaskError::NoExecutorForLabels { .. }
            | TaskError::InvalidRequest(_) => StatusCode::UNPROCESSABLE_ENTITY,
            TaskError::NotResumable { .. }
            | TaskError::AlreadyFinished { .. }
            | TaskError::StillLive { .. }
            | TaskError::ProcessesLeft { .. }
            | TaskError::Refused { .. } => StatusCode::CONFLICT,
            // The executing side failed or could not be reached.
            TaskError::Executor(_) => StatusCode::BAD_GATEWAY,
            TaskError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        };
        Self::new(status, error_chain(&err))
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        TaskError::from(err).into()
    }
}

impl From<executor_core::ExecutorError> for ApiError {
    fn from(err: executor_core::ExecutorError) -> Self {
        TaskError::from(err).into()
    }
}
