//! The agent seam: what the core needs to know of an agent CLI (Claude Code
//! today) to start it, read its output, show its log and find its transcript.
//!
//! Everything specific to one CLI lives in its own submodule behind
//! [`AgentCli`]; the rest of the core speaks of [`AgentKind`], [`AgentEvent`]
//! and [`AgentStats`] only. Adding an agent CLI is one more submodule, one more
//! [`AgentKind`] variant and its arm in [`AgentKind::cli`].
//!
//! This module stands on the model (which names the agents and holds the
//! stats) and the `sh` leaf only, so the runner and the views can stand on it.

mod claude;
mod codex;
mod gemini;
mod opencode;
mod render;
mod stats;
mod text;
mod usage;

pub use claude::Claude;
pub use codex::Codex;
pub use gemini::Gemini;
pub use opencode::Opencode;
pub use text::shorten;

/// The agent CLIs and sessions are named in the model, which every layer
/// stands on; what each CLI does is this module's.
pub use crate::model::{AgentKind, AgentSession, AgentStats};

impl AgentKind {
    /// The CLI's own behaviour.
    pub fn cli(self) -> &'static dyn AgentCli {
        match self {
            Self::Claude => &Claude,
            Self::Codex => &Codex,
            Self::Gemini => &Gemini,
            Self::Opencode => &Opencode,
        }
    }
}

/// What starting one agent run needs, beyond entering the workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRun<'a> {
    /// The CLI's binary on the executing side (e.g. `claude_path`).
    pub program: &'a str,
    pub max_turns: u32,
    pub session: &'a AgentSession,
    /// The task's directory on the executing side.
    pub task_dir: &'a str,
    /// The 0600 file holding the prompt, on the executing side: the invocation
    /// reads it on stdin, so the prompt is never in argv nor seen by a shell.
    pub prompt_file: &'a str,
    /// `--model`; `None`: the CLI's default.
    pub model: Option<&'a str>,
    /// The task's budget, for CLIs that enforce one themselves.
    pub max_budget_usd: Option<f64>,
}

/// Token counts as an agent reports them; a field the CLI did not report is
/// `None` (a running total keeps its value then).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_creation: Option<u64>,
    pub cache_read: Option<u64>,
}

/// How a run ended, as its CLI's final record says. Parsers report a
/// successful end with the subtype `success`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunEnd {
    /// `success`, `error_max_turns`, `error_during_execution`, ...
    pub subtype: Option<String>,
    pub is_error: Option<bool>,
    /// The final answer (or error text), as the CLI gave it.
    pub result: Option<String>,
    /// Turns of the whole run, when the CLI counts them.
    pub turns: Option<u64>,
    /// Cost of the whole run in USD; absent for CLIs that do not report it.
    pub cost_usd: Option<f64>,
    /// Totals of the whole run: they replace the counts summed per turn.
    pub usage: Usage,
    /// The session, for CLIs that name it only at the end.
    pub session_id: Option<String>,
}

/// One thing an agent's output stream says, in terms common to all CLIs.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// The session started (or its id became known).
    Session {
        id: Option<String>,
        /// The agent's working directory, as it reported it.
        cwd: Option<String>,
        model: Option<String>,
    },
    /// A model turn. A CLI that repeats a message per content block gives the
    /// same `message_id` each time: it counts once.
    Turn {
        message_id: Option<String>,
        usage: Usage,
        /// What the turn cost, for CLIs that price each step.
        cost_usd: Option<f64>,
    },
    /// A tool call, with a one-line summary of its argument.
    ToolCall { name: String, summary: String },
    /// Text the agent said (its last one is the run's result, unless the
    /// CLI's final record gives one).
    Text(String),
    /// What a tool gave back (shown by `logs`; a sign of life).
    ToolResult { ok: bool, output: String },
    /// Any other sign of work (a tool that started, a step that began).
    Activity,
    /// The run ended.
    End(RunEnd),
}

/// The environment setting that lets an agent CLI run as root, and what to
/// tell the user when it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootRule {
    pub env_name: &'static str,
    pub env_value: &'static str,
    /// The one-line refusal shown when a task would run as root without it.
    pub refusal: &'static str,
}

impl RootRule {
    /// Whether `env` (the payload's additions) or this process's environment
    /// (which local payloads inherit) carries the permit.
    pub fn permitted(&self, env: &[(String, String)]) -> bool {
        env.iter()
            .any(|(k, v)| k == self.env_name && v == self.env_value)
            || std::env::var(self.env_name).is_ok_and(|v| v == self.env_value)
    }
}

/// One agent CLI: how it is started, what its output stream means, how its
/// log and transcript are shown, and where its transcript lives.
pub trait AgentCli: Send + Sync {
    fn kind(&self) -> AgentKind;

    /// Shown in messages ("Claude Code").
    fn display_name(&self) -> &'static str;

    /// The payload script's lines after it entered the workspace: they must
    /// `exec` the CLI (its exit code is the task's) with the prompt on stdin
    /// from `run.prompt_file`, and print the agent's output as one record per
    /// line on stdout.
    fn invocation(&self, run: &AgentRun<'_>) -> String;

    /// The rule for running as root, for CLIs that refuse root without a permit.
    fn root_rule(&self) -> Option<RootRule> {
        None
    }

    /// Adds to `events` what one complete line of the task log says. Lines that
    /// are not records of the stream (the CLI's stderr) add nothing.
    fn parse_line(&self, line: &[u8], events: &mut Vec<AgentEvent>);

    /// One line of the task log as `logs` shows it; `None` for records not
    /// worth showing. Lines that are not records are shown as they are.
    /// By default: the parsed events, as the renderer shared by the CLIs
    /// without one of their own shows them.
    fn render_log_line(&self, line: &str) -> Option<String> {
        render::render_by_events(|line, events| self.parse_line(line, events), line)
    }

    /// Where the CLI keeps the transcript of `session_id` run in `cwd`,
    /// relative to the home directory of the user it ran as; `None` when the
    /// CLI keeps none (the default).
    fn transcript_path(&self, _cwd: &str, _session_id: &str) -> Option<String> {
        None
    }

    /// One line of a transcript as `logs --transcript` shows it; by default
    /// as a line of the log.
    fn render_transcript_line(&self, line: &str) -> Option<String> {
        self.render_log_line(line)
    }

    /// A whole transcript as `logs --transcript` shows it, one entry per
    /// step; by default line by line.
    fn render_transcript(&self, transcript: &str) -> Vec<String> {
        transcript
            .lines()
            .filter_map(|line| self.render_transcript_line(line))
            .collect()
    }

    /// For CLIs whose transcript is at no path known in advance: a POSIX sh
    /// script that prints the transcript of `session_id` on stdout, run on
    /// the executing host as the task's user with [`store_env`](Self::store_env)
    /// of the executor's `env` exported (`program` is the CLI's binary there).
    /// It exits non-zero with a one-line reason on stderr when there is none.
    fn transcript_script(&self, _program: &str, _session_id: &str) -> Option<String> {
        None
    }

    /// The variables that say where the CLI keeps its sessions (paths, no
    /// secrets), passed on to [`transcript_script`](Self::transcript_script).
    fn store_env(&self) -> &'static [&'static str] {
        &[]
    }

    /// The session a follow-up continues, from the id recorded at dispatch and
    /// the one the stream reported; `None`: the run cannot be resumed. By
    /// default the reported one (CLIs that choose their own session id).
    fn resume_session(&self, _recorded: Option<&str>, reported: Option<&str>) -> Option<String> {
        reported.filter(|id| !id.is_empty()).map(str::to_owned)
    }

    /// Totals of a run still going, from what the payload's usage watcher
    /// (see `usage`) copied out of the CLI's session file; `None` for CLIs
    /// whose stream carries its usage as it goes (the default).
    fn running_usage(&self, _watched: &[u8]) -> Option<Usage> {
        None
    }

    /// Whether the CLI itself stops at `--max-turns`; for one that does not,
    /// the task is ended once its tool calls pass the limit.
    fn limits_turns(&self) -> bool {
        false
    }

    /// Whether the CLI reports its cost; for one that does not, its tokens are
    /// priced from the price table.
    fn reports_cost(&self) -> bool {
        false
    }
}

/// The environment settings that let every known agent CLI run as root, for
/// executors configured with `allow_root`.
pub fn root_permits() -> Vec<(String, String)> {
    let mut permits: Vec<(String, String)> = Vec::new();
    for rule in AgentKind::ALL.iter().filter_map(|k| k.cli().root_rule()) {
        if !permits.iter().any(|(name, _)| name == rule.env_name) {
            permits.push((rule.env_name.to_owned(), rule.env_value.to_owned()));
        }
    }
    permits
}

/// `id` as one shell word: bare when it is a plain token (a UUID, as the
/// payload scripts have always had it), quoted otherwise.
pub(crate) fn word(id: &str) -> String {
    let plain = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plain {
        id.to_owned()
    } else {
        crate::sh::sh_quote(id)
    }
}

/// A session id that can go into a file name pattern as it is (CLIs name
/// their session files after it): letters, digits, `-` and `_` only.
pub(crate) fn plain_id(id: &str) -> Option<&str> {
    (!id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    .then_some(id)
}

/// A path below `home`, as [`AgentCli::transcript_path`] gives it.
pub fn under_home(home: &str, relative: &str) -> String {
    format!("{home}/{relative}")
}
