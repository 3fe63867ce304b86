//! Log bytes as `logs` prints them: raw, or an agent's records rendered.
//! `logs`, `logs` of many tasks and the dashboard's detail pane share it.

use std::io::Write;

use executor_core::TaskType;
use executor_core::agent::AgentCli;

use crate::terminal;

/// Turns log bytes into what `logs` prints: raw, or rendered agent records.
/// The dashboard's detail pane renders through it too.
pub(crate) struct LogPrinter {
    /// The agent whose records are rendered; `None`: raw bytes.
    pub(crate) render: Option<&'static dyn AgentCli>,
    /// An incomplete last line, kept until its newline arrives.
    pub(crate) partial: Vec<u8>,
}

impl LogPrinter {
    pub(crate) fn new(task_type: TaskType, raw: bool) -> Self {
        Self {
            render: renderer(task_type, raw),
            partial: Vec::new(),
        }
    }

    pub(crate) fn write(&mut self, out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
        let Some(agent) = self.render else {
            return out.write_all(bytes);
        };
        self.partial.extend_from_slice(bytes);
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return Ok(());
        };
        let complete: Vec<u8> = self.partial.drain(..=end).collect();
        for line in complete.split(|b| *b == b'\n') {
            if let Some(rendered) = agent.render_log_line(&String::from_utf8_lossy(line)) {
                writeln!(out, "{}", terminal::safe_lines(&rendered))?;
            }
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        if self.partial.is_empty() {
            return Ok(());
        }
        let rest = std::mem::take(&mut self.partial);
        if let Some(agent) = self.render {
            if let Some(rendered) = agent.render_log_line(&String::from_utf8_lossy(&rest)) {
                writeln!(out, "{}", terminal::safe_lines(&rendered))?;
            }
            Ok(())
        } else {
            out.write_all(&rest)
        }
    }
}

/// The agent whose log records `logs` renders, unless `--raw`.
pub(crate) fn renderer(task_type: TaskType, raw: bool) -> Option<&'static dyn AgentCli> {
    task_type.agent().filter(|_| !raw).map(|agent| agent.cli())
}
