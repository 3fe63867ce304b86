//! What the engine prints about a container (`container inspect`) is read
//! back as outside input: never a panic, whatever the line.

use proptest::prelude::*;
use test_support::fuzz;

use crate::state::{ContainerState, engine_time};

#[global_allocator]
static ALLOC: fuzz::CountingAlloc = fuzz::CountingAlloc;

const LINES: &[&str] = &[
    "/openclaw-1|abc|exited|3|false|0|2026-11-27T06:39:16.328576157Z|",
    "openclaw-2|def|running|0|true|4242|0001-01-01 00:00:00 +0000 UTC|a|b",
    "openclaw-3|0123|exited|137|true|0|2026-11-27 08:43:58.5 +0200 CEST|OCI runtime error",
];

const VOCABULARY: &[&str] = &[
    "|",
    "+0000",
    "-0130",
    "+0é0",
    " UTC",
    "T",
    "Z",
    "9999-12-31T23:59:59Z",
    "-009999-01-01T00:00:00Z",
    "0001-01-01",
];

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn inspect_lines_never_panic(line in fuzz::mutated_text(LINES, VOCABULARY)) {
        if let Some(state) = fuzz::bounded(|| ContainerState::parse(&line))? {
            prop_assert!(!state.name.is_empty() && !state.id.is_empty());
        }
    }

    #[test]
    fn engine_times_never_panic(
        text in fuzz::mutated_text(
            &["2026-11-27T06:39:16.3285Z", "2026-11-27 06:39:26.3936 +0000 UTC"],
            VOCABULARY,
        ),
    ) {
        if let Some(time) = fuzz::bounded(|| engine_time(&text))? {
            prop_assert!(time.ends_with('Z'), "{}", time);
        }
    }
}

/// An offset of five bytes that are not five characters used to be cut
/// inside a character (a panic in every build).
#[test]
fn offsets_with_wide_characters_are_refused() {
    assert_eq!(engine_time("2026-11-27 06:39:26 +0é0 UTC"), None);
    assert_eq!(engine_time("2026-11-27 06:39:26 é000 UTC"), None);
}
