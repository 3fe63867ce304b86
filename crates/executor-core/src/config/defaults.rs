//! The `defaults` section.

use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::backend::SectionError as Invalid;
use super::values::AgentPaths;
use crate::model::AgentKind;

pub const DEFAULT_MAX_TURNS: u32 = 100;
pub const DEFAULT_CLAUDE_PATH: &str = "claude";

/// An agent with no new output for this long is shown as stalled.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(600);

/// Whether tasks get a git worktree of their own (`isolation`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// The payload works in the workspace itself.
    #[default]
    None,
    /// Each task works in a new worktree of the workspace's repository.
    Worktree,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    pub max_turns: u32,
    pub claude_path: String,
    pub webhook_url: Option<String>,
    pub stall_timeout: Duration,
    /// Kill an agent task once it is stalled.
    pub kill_on_stall: bool,
    /// Tasks an executor runs at once unless it sets its own (`None`: no limit).
    pub max_concurrent: Option<u32>,
    /// Signs webhook bodies (HMAC-SHA256) so receivers can verify the sender.
    pub webhook_secret: Option<String>,
    /// `codex_path`, `gemini_path`, `opencode_path`.
    pub agent_paths: AgentPaths,
    /// The agent `start` runs when neither it nor the executor names one.
    pub agent: AgentKind,
    /// An agent task whose cost passes this (USD) is killed.
    pub max_budget_usd: Option<f64>,
    /// For executors that set none.
    pub isolation: Isolation,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            max_turns: DEFAULT_MAX_TURNS,
            claude_path: DEFAULT_CLAUDE_PATH.to_owned(),
            webhook_url: None,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            kill_on_stall: false,
            max_concurrent: None,
            webhook_secret: None,
            agent_paths: AgentPaths::default(),
            agent: AgentKind::Claude,
            max_budget_usd: None,
            isolation: Isolation::None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    max_turns: Option<Spanned<u32>>,
    claude_path: Option<String>,
    webhook_url: Option<Spanned<String>>,
    stall_timeout: Option<Spanned<RawDuration>>,
    kill_on_stall: Option<bool>,
    max_concurrent: Option<Spanned<u32>>,
    webhook_secret: Option<String>,
    codex_path: Option<String>,
    gemini_path: Option<String>,
    opencode_path: Option<String>,
    agent: Option<AgentKind>,
    max_budget_usd: Option<Spanned<f64>>,
    isolation: Option<Isolation>,
}

impl RawDefaults {
    pub fn validate(self) -> Result<Defaults, Invalid> {
        if let Some(turns) = &self.max_turns
            && turns.value == 0
        {
            return Err((
                turns.referenced.line(),
                "key `max_turns`: must be at least 1".into(),
            ));
        }
        let webhook_url = match self.webhook_url {
            Some(url) if !url.value.trim().is_empty() => Some(
                super::webhook::check(&url.value)
                    .map(|()| url.value.clone())
                    .map_err(|m| (url.referenced.line(), format!("key `webhook_url`: {m}")))?,
            ),
            _ => None,
        };
        let stall_timeout = match &self.stall_timeout {
            Some(raw) => parse_duration(&raw.value)
                .map_err(|m| (raw.referenced.line(), format!("key `stall_timeout`: {m}")))?,
            None => DEFAULT_STALL_TIMEOUT,
        };
        if let Some(limit) = &self.max_concurrent
            && limit.value == 0
        {
            return Err((
                limit.referenced.line(),
                "key `max_concurrent`: must be at least 1".into(),
            ));
        }
        let max_budget_usd = check_budget(self.max_budget_usd)?;
        Ok(Defaults {
            agent_paths: AgentPaths {
                codex: self.codex_path,
                gemini: self.gemini_path,
                opencode: self.opencode_path,
            },
            agent: self.agent.unwrap_or(AgentKind::Claude),
            max_budget_usd,
            stall_timeout,
            kill_on_stall: self.kill_on_stall.unwrap_or(false),
            max_concurrent: self.max_concurrent.map(|m| m.value),
            webhook_secret: self.webhook_secret.filter(|s| !s.is_empty()),
            max_turns: self.max_turns.map_or(DEFAULT_MAX_TURNS, |t| t.value),
            claude_path: self
                .claude_path
                .unwrap_or_else(|| DEFAULT_CLAUDE_PATH.to_owned()),
            webhook_url,
            isolation: self.isolation.unwrap_or_default(),
        })
    }
}

/// A budget of more than nothing, in USD.
pub(super) fn check_budget(budget: Option<Spanned<f64>>) -> Result<Option<f64>, Invalid> {
    match budget {
        Some(b) if !(b.value.is_finite() && b.value > 0.0) => Err((
            b.referenced.line(),
            "key `max_budget_usd`: must be a number of USD above 0".into(),
        )),
        b => Ok(b.map(|b| b.value)),
    }
}

/// A duration as seconds (`600`) or with a unit (`90s`, `10m`, `2h`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawDuration {
    Seconds(u64),
    Text(String),
}

fn parse_duration(raw: &RawDuration) -> Result<Duration, String> {
    let duration = match raw {
        RawDuration::Seconds(s) => Duration::from_secs(*s),
        RawDuration::Text(text) => parse_duration_text(text)?,
    };
    if duration.is_zero() {
        return Err("must be more than 0".into());
    }
    Ok(duration)
}

/// A duration as seconds (`600`) or with a unit (`90s`, `10m`, `2h`, `7d`).
pub fn parse_duration_text(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let bad = || format!("`{text}` is not a duration such as 600, 90s, 10m or 2h");
    let number: u64 = number.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    number
        .checked_mul(scale)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too long a duration"))
}
