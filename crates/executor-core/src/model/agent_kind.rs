//! Which agent CLI a task runs, and the session it starts or continues. The
//! CLIs' behaviour is the `agent` module's (`AgentKind::cli`); the model only
//! names them.

/// Which agent CLI a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentKind {
    Claude,
}

impl AgentKind {
    pub const ALL: [AgentKind; 1] = [Self::Claude];
}

/// The session an agent run starts or continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentSession {
    /// A new session under this id. A CLI that names its own sessions ignores
    /// it; its stream then says the id.
    New(uuid::Uuid),
    /// Continue the session of an earlier run, by the id its CLI knows it by.
    Resume(String),
}

impl AgentSession {
    /// The id recorded for the task (`session_id`).
    pub fn id(&self) -> String {
        match self {
            Self::New(id) => id.to_string(),
            Self::Resume(id) => id.clone(),
        }
    }
}
