//! Which agent CLI a task runs, and the session it starts or continues. The
//! CLIs' behaviour is the `agent` module's (`AgentKind::cli`); the model only
//! names them.

/// Which agent CLI a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentKind {
    Claude,
    Codex,
    Gemini,
    Opencode,
}

impl AgentKind {
    pub const ALL: [AgentKind; 4] = [Self::Claude, Self::Codex, Self::Gemini, Self::Opencode];

    /// The name users give it (`--agent`, `agent:`, `agents:`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claude => "claude",
            Self::Codex => "codex",
            Self::Gemini => "gemini",
            Self::Opencode => "opencode",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The config key naming its binary (`claude_path`, ...).
    pub fn path_key(self) -> &'static str {
        match self {
            Self::Claude => "claude_path",
            Self::Codex => "codex_path",
            Self::Gemini => "gemini_path",
            Self::Opencode => "opencode_path",
        }
    }
}

impl std::fmt::Display for AgentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for AgentKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown agent `{name}` (expected claude, codex, gemini or opencode)"
            ))
        })
    }
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
