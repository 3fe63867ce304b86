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

/// A tar stream of one file, as `cp <container>:<path> -` writes it.
fn tar_of(content: &[u8]) -> Vec<u8> {
    let mut header = vec![0u8; 512];
    header[..6].copy_from_slice(b"passwd");
    let size = format!("{:011o}\0", content.len());
    header[124..136].copy_from_slice(size.as_bytes());
    header[156] = b'0';
    let mut tar = header;
    tar.extend_from_slice(content);
    tar.resize(tar.len().div_ceil(512) * 512 + 1024, 0);
    tar
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn tar_streams_and_passwd_files_never_panic(
        tar in fuzz::mutated(
            vec![tar_of(b"root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n")],
            &["77777777777", "\0", "0", "5", ":", "\n"],
        ),
    ) {
        if let Some(file) = fuzz::bounded(|| crate::files::tar_file(&tar))? {
            prop_assert!(file.len() <= tar.len());
            let passwd = String::from_utf8_lossy(&file);
            fuzz::bounded(|| {
                let _ = crate::files::passwd_field(&passwd, "u", 5);
                let _ = crate::files::passwd_field(&passwd, "root", 2);
            })?;
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

#[test]
fn the_tar_sample_is_a_tar_of_its_file() {
    assert_eq!(
        crate::files::tar_file(&tar_of(b"abc\n")).as_deref(),
        Some(&b"abc\n"[..])
    );
}
