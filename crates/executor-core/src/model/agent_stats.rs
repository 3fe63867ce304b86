//! What an agent task has done, as numbers: the totals `status` and `list`
//! show. Counting them from an agent's output is the `agent` module's job
//! (`AgentStats::feed`); the model only holds them.

use serde::{Deserialize, Serialize};

/// What an agent task has done so far, from its stream (and its final record).
/// Agent-neutral: every CLI's parser feeds it through `agent::AgentEvent`s.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentStats {
    pub session_id: Option<String>,
    /// The agent's working directory, as the agent reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    pub model: Option<String>,
    pub turns: u64,
    pub tool_calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub total_cost_usd: Option<f64>,
    /// The cost was priced from token counts (the CLI reported none).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cost_estimated: bool,
    /// The last tool called, and a one-line summary of its argument.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tool_input: Option<String>,
    /// `success`, `error_max_turns`, `error_during_execution`, ... once the run ended.
    pub result_subtype: Option<String>,
    pub is_error: Option<bool>,
    /// The final answer (or error text), shortened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// When the agent last did something its stream says (a turn, a tool
    /// call, tokens), as first seen (RFC 3339). Bytes that are not records of
    /// the stream (keep-alives, spinners) do not count.
    pub last_activity: Option<String>,
    /// Bytes of the log already counted.
    pub parsed_offset: u64,
    /// The model message last counted: a stream may repeat a message once per block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_id: Option<String>,
}
