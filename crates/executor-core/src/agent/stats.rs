//! Counting an agent task's totals (the model's [`AgentStats`], shown by
//! `status` and `list` and kept in the index as JSON) from the events of its
//! stream. Agent-neutral: every CLI's parser feeds them through [`AgentEvent`]s.

use super::{AgentCli, AgentEvent, AgentStats, RunEnd, Usage, shorten};

/// How much of the final answer the stats keep.
const RESULT_PREVIEW_CHARS: usize = 300;

impl AgentStats {
    /// Counts the complete lines of `bytes`, which continue the log at
    /// `parsed_offset`, as `agent` reads them. Returns how many events of the
    /// stream they held: lines that are no records (a CLI's spinner, its
    /// stderr) are no sign of life.
    pub fn feed(&mut self, agent: &dyn AgentCli, bytes: &[u8]) -> usize {
        let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
            return 0;
        };
        let mut events = Vec::new();
        let mut seen = 0;
        for line in bytes[..end].split(|b| *b == b'\n') {
            agent.parse_line(line, &mut events);
            for event in events.drain(..) {
                seen += 1;
                self.apply(event);
            }
        }
        self.parsed_offset = self.parsed_offset.saturating_add(end as u64 + 1);
        seen
    }

    /// Takes one event of the stream into the totals.
    pub fn apply(&mut self, event: AgentEvent) {
        match event {
            AgentEvent::Session { id, cwd, model } => {
                // A CLI may name the session before its model (or repeat
                // itself): what it said before stays.
                self.session_id = id.or(self.session_id.take());
                self.cwd = cwd.or(self.cwd.take());
                self.model = model.or(self.model.take());
            }
            AgentEvent::Turn {
                message_id,
                usage,
                cost_usd,
            } => {
                if message_id.is_none() || message_id != self.last_message_id {
                    // Saturating: the numbers come from the agent's output.
                    let add = |total: &mut u64, n: Option<u64>| {
                        *total = total.saturating_add(n.unwrap_or(0));
                    };
                    self.turns = self.turns.saturating_add(1);
                    add(&mut self.input_tokens, usage.input);
                    add(&mut self.output_tokens, usage.output);
                    add(&mut self.cache_creation_input_tokens, usage.cache_creation);
                    add(&mut self.cache_read_input_tokens, usage.cache_read);
                    self.last_message_id = message_id;
                    if let Some(cost) = cost_usd {
                        self.total_cost_usd = Some(self.total_cost_usd.unwrap_or(0.0) + cost);
                        self.cost_estimated = false;
                    }
                }
            }
            AgentEvent::ToolCall { name, summary } => {
                self.tool_calls = self.tool_calls.saturating_add(1);
                self.last_tool = Some(name);
                self.last_tool_input = Some(summary);
            }
            AgentEvent::Text(text) => self.result = Some(shorten(&text, RESULT_PREVIEW_CHARS)),
            AgentEvent::Activity | AgentEvent::ToolResult { .. } => {}
            AgentEvent::End(end) => self.end(end),
        }
    }

    /// Takes in a run's totals so far, as read beside its stream (see
    /// [`AgentCli::running_usage`]): counts only grow, and once the run's end
    /// is known its totals stand.
    pub fn raise_to(&mut self, usage: Usage) {
        if self.result_subtype.is_some() {
            return;
        }
        let raise = |total: &mut u64, n: Option<u64>| *total = (*total).max(n.unwrap_or(0));
        raise(&mut self.input_tokens, usage.input);
        raise(&mut self.output_tokens, usage.output);
        raise(&mut self.cache_creation_input_tokens, usage.cache_creation);
        raise(&mut self.cache_read_input_tokens, usage.cache_read);
    }

    fn end(&mut self, end: RunEnd) {
        // The end's totals are authoritative; the stream's were provisional.
        let Usage {
            input,
            output,
            cache_creation,
            cache_read,
        } = end.usage;
        self.input_tokens = input.unwrap_or(self.input_tokens);
        self.output_tokens = output.unwrap_or(self.output_tokens);
        self.cache_creation_input_tokens =
            cache_creation.unwrap_or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = cache_read.unwrap_or(self.cache_read_input_tokens);
        self.turns = end.turns.unwrap_or(self.turns);
        if end.cost_usd.is_some() {
            self.total_cost_usd = end.cost_usd;
            self.cost_estimated = false;
        }
        self.result_subtype = end.subtype;
        self.is_error = end.is_error;
        if let Some(result) = end.result {
            self.result = Some(shorten(&result, RESULT_PREVIEW_CHARS));
        }
        if let Some(session) = end.session_id {
            self.session_id = Some(session);
        }
    }

    /// Why a finished agent run failed, if it did (`None` for a successful run).
    pub fn failure_reason(&self) -> Option<String> {
        match (self.result_subtype.as_deref(), self.is_error) {
            (Some("success"), Some(false) | None) => None,
            (Some("success"), Some(true)) => Some(self.result.clone().map_or_else(
                || "agent reported an error".into(),
                |r| format!("agent error: {r}"),
            )),
            (Some(subtype), _) => Some(subtype.to_owned()),
            (None, _) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(subtype: &str, is_error: Option<bool>, result: Option<&str>) -> AgentStats {
        let mut stats = AgentStats::default();
        stats.apply(AgentEvent::End(RunEnd {
            subtype: Some(subtype.into()),
            is_error,
            result: result.map(str::to_owned),
            ..Default::default()
        }));
        stats
    }

    #[test]
    fn repeated_messages_count_once() {
        let mut stats = AgentStats::default();
        let turn = |id: Option<&str>| AgentEvent::Turn {
            message_id: id.map(str::to_owned),
            usage: Usage {
                input: Some(5),
                ..Default::default()
            },
            cost_usd: None,
        };
        for event in [
            turn(Some("a")),
            turn(Some("a")),
            turn(Some("b")),
            turn(None),
        ] {
            stats.apply(event);
        }
        assert_eq!((stats.turns, stats.input_tokens), (3, 15));
    }

    #[test]
    fn an_end_without_cost_or_totals_keeps_the_counts() {
        let mut stats = AgentStats {
            input_tokens: 7,
            turns: 2,
            session_id: Some("s".into()),
            ..Default::default()
        };
        stats.apply(AgentEvent::End(RunEnd {
            subtype: Some("success".into()),
            ..Default::default()
        }));
        assert_eq!((stats.input_tokens, stats.turns), (7, 2));
        assert_eq!(stats.total_cost_usd, None);
        assert_eq!(stats.session_id.as_deref(), Some("s"));
    }

    #[test]
    fn running_totals_only_raise_and_stop_at_the_end() {
        let mut stats = AgentStats {
            output_tokens: 9,
            ..Default::default()
        };
        let usage = Usage {
            input: Some(100),
            output: Some(5),
            ..Default::default()
        };
        stats.raise_to(usage);
        assert_eq!((stats.input_tokens, stats.output_tokens), (100, 9));
        stats.apply(AgentEvent::End(RunEnd {
            subtype: Some("success".into()),
            usage: Usage {
                input: Some(50),
                ..Default::default()
            },
            ..Default::default()
        }));
        stats.raise_to(usage);
        assert_eq!(stats.input_tokens, 50);
    }

    #[test]
    fn failures_are_named() {
        assert_eq!(end("success", Some(false), None).failure_reason(), None);
        assert_eq!(
            end("success", Some(true), Some("boom"))
                .failure_reason()
                .as_deref(),
            Some("agent error: boom")
        );
        assert_eq!(
            end("success", Some(true), None).failure_reason().as_deref(),
            Some("agent reported an error")
        );
        assert_eq!(
            end("error_max_turns", Some(true), None)
                .failure_reason()
                .as_deref(),
            Some("error_max_turns")
        );
    }

    #[test]
    fn old_index_rows_read_back() {
        let row = r#"{"session_id":"s","model":"m","turns":2,"tool_calls":1,"input_tokens":3,"output_tokens":4,"cache_creation_input_tokens":5,"cache_read_input_tokens":6,"total_cost_usd":0.5,"result_subtype":"success","is_error":false,"last_activity":null,"parsed_offset":99}"#;
        let stats: AgentStats = serde_json::from_str(row).expect("an old row parses");
        assert_eq!((stats.turns, stats.parsed_offset), (2, 99));
        let again: AgentStats =
            serde_json::from_str(&serde_json::to_string(&stats).expect("serializes"))
                .expect("round trip");
        assert_eq!(again, stats);
    }
}
