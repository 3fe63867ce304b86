//! Claude Code's `stream-json` log and session transcripts, as an agent (or
//! anything else that writes to the task log) produced them: the stats and
//! the rendering never panic, whatever the numbers.

use executor_core::agent::{AgentCli, AgentStats, Claude};
use proptest::prelude::*;
use test_support::fuzz;

const STREAM: &str = concat!(
    r#"{"type":"system","subtype":"init","cwd":"/w","session_id":"s1","model":"m","tools":["Bash"]}"#,
    "\n",
    r#"{"type":"assistant","message":{"id":"a","content":[{"type":"tool_use","name":"Bash","input":{"command":"echo hi > f"}}],"usage":{"input_tokens":100,"output_tokens":1,"cache_creation_input_tokens":10,"cache_read_input_tokens":30}}}"#,
    "\n",
    r#"{"type":"user","message":{"content":[{"type":"tool_result","content":[{"type":"text","text":"(no output)"}],"is_error":true}]}}"#,
    "\n",
    r#"{"type":"assistant","message":{"id":"b","content":[{"type":"text","text":"Done."},{"type":"tool_use","name":"Edit","input":{"file_path":"/w/a.rs","old_string":"x"}}],"usage":{"input_tokens":100,"output_tokens":1}}}"#,
    "\n",
    r#"{"type":"result","subtype":"success","is_error":false,"num_turns":2,"duration_ms":1234,"total_cost_usd":0.5,"result":"Done.","session_id":"s1","usage":{"input_tokens":200,"output_tokens":40,"cache_creation_input_tokens":20,"cache_read_input_tokens":60}}"#,
    "\n",
);

const TRANSCRIPT: &str = concat!(
    r#"{"type":"user","timestamp":"2026-11-27T06:30:00.000Z","message":{"role":"user","content":"fix it"}}"#,
    "\n",
    r#"{"type":"assistant","timestamp":"2026-11-27T06:30:01.000Z","message":{"id":"a","content":[{"type":"text","text":"ok"}]}}"#,
    "\n",
);

const VOCABULARY: &[&str] = &[
    r#""input_tokens":18446744073709551615"#,
    r#""output_tokens":18446744073709551615"#,
    r#""num_turns":18446744073709551615"#,
    r#""duration_ms":1e308"#,
    r#""total_cost_usd":-1e308"#,
    r#""id":"c""#,
    r#""type":"assistant""#,
    r#""type":"result""#,
    r#""content":"x""#,
    r#""content":{}"#,
    r#""timestamp":"é""#,
    "\n",
];

/// One record of the stream with any numbers: what an agent (or a payload
/// that writes to the log) may print.
fn record() -> impl Strategy<Value = String> {
    let number = fuzz::number_text;
    let id = prop::option::of("[a-c]");
    prop_oneof![
        (id, number(), number(), number(), 0..4usize).prop_map(
            |(id, input, output, cache, tools)| {
                let id = id.map_or(String::new(), |id| format!(r#""id":"{id}","#));
                let blocks = vec![r#"{"type":"tool_use","name":"Read","input":{"file_path":"/f"}}"#; tools].join(",");
                format!(
                    r#"{{"type":"assistant","message":{{{id}"content":[{blocks}],"usage":{{"input_tokens":{input},"output_tokens":{output},"cache_read_input_tokens":{cache},"cache_creation_input_tokens":{cache}}}}}}}"#
                )
            }
        ),
        (number(), number(), number()).prop_map(|(turns, cost, tokens)| format!(
            r#"{{"type":"result","subtype":"error_max_turns","is_error":true,"num_turns":{turns},"total_cost_usd":{cost},"duration_ms":{cost},"usage":{{"input_tokens":{tokens},"output_tokens":{tokens}}}}}"#
        )),
        Just(r#"{"type":"system","subtype":"init","session_id":"s","cwd":"/w","model":"m"}"#.to_owned()),
        "[ -~]{0,40}",
    ]
}

fn check_stream(bytes: &[u8]) -> Result<(), TestCaseError> {
    let mut stats = AgentStats::default();
    // In two pieces, as the log is read while it grows.
    let cut = bytes.len() / 2;
    fuzz::bounded(|| stats.feed(&Claude, &bytes[..cut]))?;
    let consumed = usize::try_from(stats.parsed_offset).expect("offset fits");
    prop_assert!(consumed <= cut);
    fuzz::bounded(|| stats.feed(&Claude, &bytes[consumed..]))?;
    prop_assert!(stats.parsed_offset as usize <= bytes.len());
    fuzz::bounded(|| stats.failure_reason())?;
    let text = String::from_utf8_lossy(bytes);
    for line in text.lines() {
        fuzz::bounded(|| Claude.render_log_line(line))?;
        fuzz::bounded(|| Claude.render_transcript_line(line))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn mutated_streams_never_panic(bytes in fuzz::mutated(
        vec![STREAM.as_bytes().to_vec(), TRANSCRIPT.as_bytes().to_vec()],
        VOCABULARY,
    )) {
        check_stream(&bytes)?;
    }

    #[test]
    fn streams_with_any_numbers_never_panic(records in prop::collection::vec(record(), 0..8)) {
        let mut text = records.join("\n");
        text.push('\n');
        check_stream(text.as_bytes())?;
    }
}

/// Two messages at the edge of u64 used to overflow the running totals (a
/// panic in debug builds, a wrap to nonsense in release).
#[test]
fn token_totals_saturate() {
    let message = |id: &str| {
        format!(
            r#"{{"type":"assistant","message":{{"id":"{id}","content":[],"usage":{{"input_tokens":18446744073709551615,"output_tokens":18446744073709551615,"cache_read_input_tokens":18446744073709551615,"cache_creation_input_tokens":18446744073709551615}}}}}}"#
        )
    };
    let stream = format!("{}\n{}\n", message("a"), message("b"));
    let mut stats = AgentStats::default();
    stats.feed(&Claude, stream.as_bytes());
    assert_eq!(stats.input_tokens, u64::MAX);
    assert_eq!(stats.output_tokens, u64::MAX);
    assert_eq!(stats.cache_read_input_tokens, u64::MAX);
    assert_eq!(stats.cache_creation_input_tokens, u64::MAX);
    assert_eq!(stats.turns, 2);
}
