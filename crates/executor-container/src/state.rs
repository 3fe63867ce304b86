//! What the engine says about a task's container (`container inspect`).

/// Fields asked of `container inspect`, one line per container. The error text
/// comes last because it may hold the separator.
pub const INSPECT_FORMAT: &str = "{{.Name}}|{{.Id}}|{{.State.Status}}|{{.State.ExitCode}}|{{.State.OOMKilled}}|{{.State.Pid}}|{{.State.FinishedAt}}|{{.State.Error}}";

/// The engine's view of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    pub name: String,
    pub id: String,
    /// `created`, `running`, `exited`, ... as the engine spells it.
    pub status: String,
    pub exit_code: i32,
    pub oom_killed: bool,
    /// Host pid of the container's first process (0 when it is not running).
    pub pid: u32,
    /// When it stopped, as RFC 3339 (UTC, seconds), if it has stopped.
    pub finished_at: Option<String>,
    pub error: String,
}

impl ContainerState {
    /// Whether the container's first process, the runner, is still there.
    pub fn runner_alive(&self) -> bool {
        matches!(
            self.status.as_str(),
            "running" | "paused" | "restarting" | "stopping"
        )
    }

    /// Whether it ran and stopped, so its exit code means something.
    pub fn has_stopped(&self) -> bool {
        matches!(self.status.as_str(), "exited" | "stopped" | "dead")
    }

    /// Parses one line of [`INSPECT_FORMAT`] output.
    pub fn parse(line: &str) -> Option<Self> {
        let mut fields = line.splitn(8, '|');
        let name = fields.next()?.trim().trim_start_matches('/').to_owned();
        let id = fields.next()?.trim().to_owned();
        let status = fields.next()?.trim().to_ascii_lowercase();
        let exit_code = fields.next()?.trim().parse().ok()?;
        let oom_killed = fields.next()?.trim() == "true";
        let pid = fields.next()?.trim().parse().unwrap_or(0);
        let finished_at = engine_time(fields.next()?.trim());
        let error = fields.next().unwrap_or("").trim().to_owned();
        if name.is_empty() || id.is_empty() {
            return None;
        }
        Some(Self {
            name,
            id,
            status,
            exit_code,
            oom_killed,
            pid,
            finished_at,
            error,
        })
    }
}

/// A time as Docker (`2026-11-27T06:39:16.3285Z`) or Podman
/// (`2026-11-27 06:39:26.3936 +0000 UTC`) prints it, as RFC 3339 in UTC with
/// seconds, like the runner's records. Go's zero time means "never".
pub fn engine_time(text: &str) -> Option<String> {
    if text.is_empty() || text.starts_with("0001-01-01") {
        return None;
    }
    let timestamp: jiff::Timestamp = match text.parse() {
        Ok(timestamp) => timestamp,
        Err(_) => {
            // Podman: "DATE TIME OFFSET ZONE-NAME"; the numeric offset is what counts.
            let mut parts = text.split_whitespace();
            let (date, time, offset) = (parts.next()?, parts.next()?, parts.next()?);
            // `is_ascii`: the engine's text may cut a character at any byte.
            let offset = if offset.len() == 5 && offset.is_ascii() {
                format!("{}:{}", &offset[..3], &offset[3..])
            } else {
                offset.to_owned()
            };
            format!("{date}T{time}{offset}").parse().ok()?
        }
    };
    Some(timestamp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_and_podman_lines_parse() {
        let docker = ContainerState::parse(
            "/openclaw-1|abc|exited|3|false|0|2026-11-27T06:39:16.328576157Z|",
        )
        .unwrap();
        assert_eq!(docker.name, "openclaw-1");
        assert_eq!(docker.exit_code, 3);
        assert!(docker.has_stopped() && !docker.runner_alive());
        assert_eq!(docker.finished_at.as_deref(), Some("2026-11-27T06:39:16Z"));

        let podman = ContainerState::parse(
            "openclaw-2|def|running|0|true|4242|0001-01-01 00:00:00 +0000 UTC|a|b",
        )
        .unwrap();
        assert!(podman.runner_alive());
        assert!(podman.oom_killed);
        assert_eq!(podman.pid, 4242);
        assert_eq!(podman.finished_at, None);
        assert_eq!(podman.error, "a|b");

        assert_eq!(ContainerState::parse("[]"), None);
        assert_eq!(ContainerState::parse(""), None);
    }

    #[test]
    fn engine_times_become_utc() {
        assert_eq!(
            engine_time("2026-11-27 06:43:58.231888671 +0000 UTC").as_deref(),
            Some("2026-11-27T06:43:58Z")
        );
        assert_eq!(
            engine_time("2026-11-27 08:43:58.5 +0200 CEST").as_deref(),
            Some("2026-11-27T06:43:58Z")
        );
        assert_eq!(engine_time("0001-01-01T00:00:00Z"), None);
        assert_eq!(engine_time("garbage"), None);
    }
}
