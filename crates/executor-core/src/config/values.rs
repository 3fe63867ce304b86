//! Checks of the values of common executor keys: names and `env` entries.

/// Why `name` cannot name an executor, if it cannot: names end up in paths,
/// task records and terminal output.
pub(super) fn name_problem(name: &str) -> Option<String> {
    if name.contains('/') {
        Some(format!("`{name}` must not contain `/`"))
    } else if name == "." || name == ".." {
        Some(format!("`{name}` is not a name"))
    } else if name.chars().any(char::is_control) {
        Some(format!(
            "`{}` must not contain control characters",
            name.escape_default()
        ))
    } else {
        None
    }
}

/// One entry of an executor's `env` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvEntry {
    /// `NAME`: the value is taken from the environment of the dispatching command.
    Forward(String),
    /// `NAME=value`: a fixed value.
    Fixed(String, String),
}

impl EnvEntry {
    pub(super) fn parse(entry: &str) -> Result<Self, String> {
        let (name, value) = match entry.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (entry, None),
        };
        let valid = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "key `env`: `{name}` is not a valid variable name (letters, digits, _)"
            ));
        }
        Ok(match value {
            Some(value) => Self::Fixed(name.to_owned(), value.to_owned()),
            None => Self::Forward(name.to_owned()),
        })
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Forward(name) | Self::Fixed(name, _) => name,
        }
    }
}

/// The binaries of the agent CLIs beside Claude Code (`codex_path`,
/// `gemini_path`, `opencode_path`); `claude_path` has its own key as ever.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct AgentPaths {
    pub codex: Option<String>,
    pub gemini: Option<String>,
    pub opencode: Option<String>,
}

impl AgentPaths {
    pub fn get(&self, agent: crate::model::AgentKind) -> Option<&str> {
        use crate::model::AgentKind;
        match agent {
            AgentKind::Claude => None,
            AgentKind::Codex => self.codex.as_deref(),
            AgentKind::Gemini => self.gemini.as_deref(),
            AgentKind::Opencode => self.opencode.as_deref(),
        }
    }
}
