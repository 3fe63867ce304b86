//! Running usage of CLIs whose stream reports tokens only when their run
//! ends (Codex, Gemini CLI), read from the session file each CLI writes as
//! it goes.
//!
//! The file's place depends on the CLI's home (`$CODEX_HOME`,
//! `$GEMINI_CLI_HOME`), which only the task's environment knows, and on a
//! session id the CLI may choose itself. So a watcher started by the payload,
//! beside the CLI and in its process group (a kill ends both), finds the file
//! and copies the CLI's latest totals into the task directory
//! ([`AGENT_USAGE_FILE`]), atomically, where every executor's observation
//! reads it with the runner's records: no extra round trip to any host.

use serde_json::Value;

use super::Usage;
use crate::runner::AGENT_USAGE_FILE;
use crate::sh::sh_quote;

/// How often the watcher looks, in seconds.
const WATCH_EVERY_SECS: u32 = 1;

/// The watcher's mark in the task dir: touched (by a redirection, no
/// process) just before each read of the session file.
const SEEN_MARK: &str = ".agent-usage.seen";

/// The payload lines that start the watcher in the background. `find` sets
/// `$f` to the session file once it exists (or leaves it empty); `totals`
/// prints the CLI's totals so far as one line (nothing when unknown). The
/// watcher ends with the payload (`$$` is the payload's pid, which the CLI
/// keeps through `exec`), and is no child of the CLI's (started from a
/// subshell that exits at once): a CLI, or a wrapper, that waits for its
/// children before it exits would wait for the watcher, and it for them.
///
/// `totals` runs (three or four processes, and Gemini's reads the whole
/// recording) only when the session file changed since the last read: a
/// mark strictly newer than the file means nothing was written after it.
/// The mark is touched before the read, so a write during the read leaves
/// the file at least as new as the mark, and it is read again.
pub(crate) fn watcher(task_dir: &str, find: &str, totals: &str) -> String {
    format!(
        "( ( d={dir}; p=$$; f=; last=\n\
         while sleep {WATCH_EVERY_SECS}; kill -0 \"$p\" 2>/dev/null; do\n\
         [ -n \"$f\" ] || {{ {find}; }}\n\
         [ -n \"$f\" ] && [ -r \"$f\" ] || continue\n\
         [ \"$d/{mark}\" -nt \"$f\" ] && continue\n\
         : > \"$d/{mark}\"\n\
         u=$({totals})\n\
         [ -n \"$u\" ] && [ \"$u\" != \"$last\" ] || continue\n\
         printf '%s\\n' \"$u\" > \"$d/{file}.tmp\" && mv -f \"$d/{file}.tmp\" \"$d/{file}\" && last=$u\n\
         done ) </dev/null >/dev/null 2>&1 & )\n",
        dir = sh_quote(task_dir),
        file = AGENT_USAGE_FILE,
        mark = SEEN_MARK,
    )
}

/// Where Codex keeps its rollout files, as a shell word.
macro_rules! codex_sessions {
    () => {
        "\"${CODEX_HOME:-$HOME/.codex}/sessions\""
    };
}

/// Codex: its rollout file is found by the thread id its stream announced
/// (`thread.started`, the task log's first record); its `token_count` events
/// carry the thread's running totals. Only the file's tail is read: a
/// response's totals follow it closely.
pub(crate) const CODEX_FIND: &str = concat!(
    "t=$(grep -m 1 -o '\"thread_id\":\"[^\"]*\"' \"$d/task.log\" | cut -d '\"' -f 4); \
     [ -n \"$t\" ] && f=$(find ",
    codex_sessions!(),
    " -name \"rollout-*-$t.jsonl\" 2>/dev/null | head -n 1)"
);
pub(crate) const CODEX_TOTALS: &str =
    "tail -c 65536 \"$f\" | grep '\"type\":\"token_count\"' | tail -n 1";

/// Prints the file `find` sets `$f` to, or says that there is none.
pub(crate) fn print_found(find: &str, what: &str) -> String {
    format!(
        "d=/dev/null; f=; {find}\n[ -n \"$f\" ] || {{ echo {} >&2; exit 3; }}\nexec cat \"$f\"\n",
        sh_quote(&format!("no {what} found on this host"))
    )
}

/// Codex's rollout file of thread `id`.
pub(crate) fn codex_find_thread(id: &str) -> String {
    format!(
        "f=$(find {} -name {} 2>/dev/null | head -n 1)",
        codex_sessions!(),
        sh_quote(&format!("rollout-*-{id}.jsonl"))
    )
}

/// Codex's `token_count` record: the thread's totals so far.
pub(crate) fn parse_codex(bytes: &[u8]) -> Option<Usage> {
    let record: Value = serde_json::from_slice(bytes.trim_ascii()).ok()?;
    let totals = &record["payload"]["info"]["total_token_usage"];
    let cached = totals["cached_input_tokens"].as_u64();
    Some(Usage {
        input: totals["input_tokens"]
            .as_u64()
            .map(|i| i.saturating_sub(cached.unwrap_or(0))),
        output: totals["output_tokens"].as_u64(),
        cache_creation: totals["cache_write_input_tokens"].as_u64(),
        cache_read: cached,
    })
    .filter(|u| u.input.is_some() || u.output.is_some())
}

/// Gemini CLI: its chat recording (`<home>/.gemini/tmp/<project>/chats/
/// session-<time>-<first 8 of the id>.jsonl`) holds one record per model
/// response with its `tokens`, written again (same `id`) as the response
/// grows: the last record of each id counts, summed by `awk`.
pub(crate) fn gemini_find(session: &str) -> String {
    let short: String = session.chars().take(8).collect();
    format!(
        "f=$(grep -l -F {needle} \"${{GEMINI_CLI_HOME:-$HOME}}\"/.gemini/tmp/*/chats/session-*-{short}.jsonl 2>/dev/null | head -n 1)",
        needle = sh_quote(&format!("\"sessionId\":\"{session}\"")),
        short = sh_quote(&short),
    )
}
pub(crate) const GEMINI_TOTALS: &str = r#"awk '/"type":"gemini"/ && match($0, /^\{"id":"[^"]*"/) { id = substr($0, RSTART, RLENGTH); any = 1; if (match($0, /"tokens":\{[^}]*\}/)) t[id] = substr($0, RSTART + 10, RLENGTH - 11) }
END { for (id in t) { n = split(t[id], kv, ","); for (i = 1; i <= n; i++) { split(kv[i], p, ":"); gsub(/"/, "", p[1]); s[p[1]] += p[2] } } if (any) printf "{\"input\":%d,\"output\":%d,\"cached\":%d,\"thoughts\":%d}", s["input"], s["output"], s["cached"], s["thoughts"] }' "$f""#;

/// The watcher's sum of Gemini CLI's per-response `tokens`.
pub(crate) fn parse_gemini(bytes: &[u8]) -> Option<Usage> {
    let totals: Value = serde_json::from_slice(bytes.trim_ascii()).ok()?;
    let cached = totals["cached"].as_u64();
    // Gemini counts cached input inside `input`, and thoughts apart from the
    // output it bills the same way.
    Some(Usage {
        input: totals["input"]
            .as_u64()
            .map(|i| i.saturating_sub(cached.unwrap_or(0))),
        output: totals["output"]
            .as_u64()
            .map(|o| o.saturating_add(totals["thoughts"].as_u64().unwrap_or(0))),
        cache_creation: None,
        cache_read: cached,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codex_totals_keep_cached_input_apart() {
        let line = br#"{"type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":7000,"cached_input_tokens":1400,"cache_write_input_tokens":0,"output_tokens":350,"reasoning_output_tokens":0,"total_tokens":7350}}}}"#;
        let usage = parse_codex(line).expect("totals");
        assert_eq!(
            (usage.input, usage.cache_read, usage.output),
            (Some(5600), Some(1400), Some(350))
        );
        assert_eq!(parse_codex(b"{\"payload\":{\"info\":null}}"), None);
        assert_eq!(parse_codex(b"not json"), None);
    }

    #[test]
    fn gemini_totals_keep_cached_input_apart() {
        let usage = parse_gemini(br#"{"input":3000,"output":150,"cached":600,"thoughts":10}"#)
            .expect("totals");
        assert_eq!(
            (usage.input, usage.cache_read, usage.output),
            (Some(2400), Some(600), Some(160))
        );
    }

    /// The watcher reads the session file when it changed, not every second:
    /// a payload of 4.5 s with one write at 2.5 s is two reads (one when
    /// the machine is slow), where every look would be four.
    #[test]
    fn the_watcher_reads_the_session_file_only_when_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let session = d.join("session.jsonl");
        std::fs::write(&session, "a\n").unwrap();
        let quoted = |path: &std::path::Path| sh_quote(&path.display().to_string());
        let find = format!("f={}", quoted(&session));
        let totals = format!(
            "echo read >> {}; tail -n 1 \"$f\"",
            quoted(&d.join("reads"))
        );
        let payload = format!(
            "{}sleep 2.5; echo b >> {}; sleep 2\n",
            watcher(&d.display().to_string(), &find, &totals),
            quoted(&session)
        );
        let status = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(payload)
            .status()
            .unwrap();
        assert!(status.success());
        // The watcher ends at its next look after the payload.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let reads = std::fs::read_to_string(d.join("reads")).unwrap_or_default();
        assert!(
            (1..=2).contains(&reads.lines().count()),
            "{} reads",
            reads.lines().count()
        );
        assert_eq!(
            std::fs::read_to_string(d.join(AGENT_USAGE_FILE)).unwrap(),
            "b\n"
        );
    }

    /// The watcher's scripts, run by `sh` on files shaped like the real CLIs'.
    #[test]
    fn the_scripts_find_and_sum_the_session_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let home = d.join("home");
        let day = home.join(".codex/sessions/2026/11/30");
        std::fs::create_dir_all(&day).unwrap();
        std::fs::write(
            d.join("task.log"),
            "{\"type\":\"thread.started\",\"thread_id\":\"th-9\"}\n",
        )
        .unwrap();
        std::fs::write(
            day.join("rollout-2026-11-30T16-23-25-th-9.jsonl"),
            concat!(
                r#"{"type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":1,"output_tokens":1}}}}"#,
                "\n",
                r#"{"type":"response_item","payload":{}}"#,
                "\n",
                r#"{"type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":20,"output_tokens":2}}}}"#,
                "\n"
            ),
        )
        .unwrap();
        let chats = home.join(".gemini/tmp/ws/chats");
        std::fs::create_dir_all(&chats).unwrap();
        let session = "4029184b-690a-49cc-aa43-ce6411c5515b";
        std::fs::write(
            chats.join("session-2026-11-30T16-23-4029184b.jsonl"),
            format!(
                "{{\"sessionId\":\"{session}\",\"kind\":\"main\"}}\n\
                 {{\"id\":\"a\",\"type\":\"gemini\",\"content\":\"x\",\"tokens\":{{\"input\":1000,\"output\":1,\"cached\":200,\"thoughts\":0,\"tool\":0,\"total\":1050}}}}\n\
                 {{\"id\":\"a\",\"type\":\"gemini\",\"content\":\"x\",\"tokens\":{{\"input\":1000,\"output\":50,\"cached\":200,\"thoughts\":0,\"tool\":0,\"total\":1050}},\"toolCalls\":[{{\"args\":{{\"tokens\":{{\"input\":9}}}}}}]}}\n\
                 {{\"id\":\"u\",\"type\":\"user\",\"content\":[]}}\n\
                 {{\"id\":\"b\",\"type\":\"gemini\",\"content\":\"\",\"tokens\":{{\"input\":1000,\"output\":50,\"cached\":200,\"thoughts\":5,\"tool\":0,\"total\":1050}}}}\n"
            ),
        )
        .unwrap();
        let run = |find: &str, totals: &str| {
            let script = format!(
                "d={}; f=; {find}; [ -n \"$f\" ] && {totals}",
                sh_quote(&d.display().to_string())
            );
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(script)
                .env("HOME", &home)
                .env_remove("CODEX_HOME")
                .env_remove("GEMINI_CLI_HOME")
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        let codex = run(CODEX_FIND, CODEX_TOTALS);
        assert_eq!(
            parse_codex(codex.as_bytes()).unwrap().input,
            Some(20),
            "{codex}"
        );
        let gemini = run(&gemini_find(session), GEMINI_TOTALS);
        assert_eq!(
            gemini,
            r#"{"input":2000,"output":100,"cached":400,"thoughts":5}"#
        );
        assert_eq!(run(&gemini_find("ffffffff-0000"), GEMINI_TOTALS), "");
    }
}
