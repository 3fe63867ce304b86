//! Inputs for the parser property tests: valid samples damaged the way real
//! outside input gets damaged (cut short, bytes flipped, pieces of another
//! record spliced in) or made hostile (huge numbers, deep nesting, very long
//! lines, control and bidi characters, invalid UTF-8), plus token soups and
//! random bytes. Random bytes alone rarely get past a parser's first check;
//! mutated samples reach the code behind it.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError};

/// Cases per parser: `PARSER_CASES`, else 1,000 (a plain debug `cargo test`).
/// `scripts/test` runs them again with 100,000 cases each in the optimised
/// `proptest` profile, where that takes minutes instead of most of an hour.
pub fn cases() -> u32 {
    std::env::var("PARSER_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

/// The runner configuration of every parser property: [`cases`] cases, no
/// regression files (each panic found gets its own named unit test instead).
pub fn config() -> Config {
    Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    }
}

/// One edit of a sample.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Cut the input here (a record written halfway, a dropped connection).
    Truncate(Index),
    /// Remove a run of bytes.
    Delete(Index, u8),
    /// Flip one bit of one byte.
    Flip(Index, u8),
    /// Put a token (hostile or from the format's vocabulary) somewhere.
    Insert(Index, Vec<u8>),
    /// Copy a piece of the input elsewhere in it.
    Duplicate(Index, Index, u8),
    /// Overwrite one byte with any value.
    Replace(Index, u8),
}

impl Edit {
    fn apply(&self, bytes: &mut Vec<u8>) {
        let len = bytes.len();
        match self {
            Self::Truncate(at) => bytes.truncate(at.index(len + 1)),
            Self::Delete(at, n) if len > 0 => {
                let start = at.index(len);
                let end = (start + usize::from(*n)).min(len);
                bytes.drain(start..end);
            }
            Self::Flip(at, bit) if len > 0 => bytes[at.index(len)] ^= 1 << (bit % 8),
            Self::Insert(at, token) => {
                let at = at.index(len + 1);
                bytes.splice(at..at, token.iter().copied());
            }
            Self::Duplicate(from, to, n) if len > 0 => {
                let start = from.index(len);
                let end = (start + usize::from(*n)).min(len);
                let piece = bytes[start..end].to_vec();
                let to = to.index(len + 1);
                bytes.splice(to..to, piece);
            }
            Self::Replace(at, byte) if len > 0 => bytes[at.index(len)] = *byte,
            _ => {}
        }
    }
}

/// Tokens that break parsers of any text format.
pub fn hostile_tokens() -> Vec<Vec<u8>> {
    let mut tokens: Vec<Vec<u8>> = [
        // Numbers at and past every integer type's edge, and not-quite numbers.
        "0",
        "-0",
        "-1",
        "255",
        "256",
        "65536",
        "2147483647",
        "2147483648",
        "-2147483649",
        "4294967295",
        "4294967296",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999",
        "340282366920938463463374607431768211456",
        "1e308",
        "1e999",
        "-1e999",
        "NaN",
        "inf",
        "0x7f",
        "1.5",
        "1_000",
        // Characters that terminals, line readers and UTF-8 decoders mind.
        "\u{0}",
        "\u{7f}",
        "\u{1b}[2J",
        "\r",
        "\r\n",
        "\t",
        "\u{202e}",
        "\u{feff}",
        "\u{2028}",
        "é",
        "😀",
        "\u{10ffff}",
        // Separators and quoting of the formats read here.
        " ",
        "\n",
        "|",
        ":",
        ": ",
        "/",
        "=",
        ",",
        "\"",
        "'",
        "\\",
        "\\u0000",
        "\\ud800",
        "#",
        "{}",
        "[]",
        "null",
        "true",
        // YAML's aliases, tags, documents and block scalars.
        "&a ",
        "*a",
        "<<: *a",
        "!!binary ",
        "!!str ",
        "!custom ",
        "? ",
        "---\n",
        "...\n",
        "|\n",
        ">-\n",
        "\n  - ",
    ]
    .iter()
    .map(|t| t.as_bytes().to_vec())
    .collect();
    tokens.push(vec![0xff]);
    tokens.push(vec![0xc3]);
    tokens.push(vec![0xed, 0xa0, 0x80]);
    // Deep nesting in both JSON and YAML flow style.
    tokens.push("[".repeat(400).into_bytes());
    tokens.push("{\"a\":".repeat(300).into_bytes());
    tokens.push("{a: ".repeat(300).into_bytes());
    tokens.push("- ".repeat(200).into_bytes());
    // A very long line, and a long run of lines.
    tokens.push(vec![b'x'; 70_000]);
    tokens.push(vec![b'\n'; 5_000]);
    tokens.push("9".repeat(5_000).into_bytes());
    tokens
}

fn edit(tokens: Vec<Vec<u8>>) -> impl Strategy<Value = Edit> {
    let token = proptest::sample::select(tokens);
    prop_oneof![
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(a, n)| Edit::Delete(a, n)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(a, b)| Edit::Flip(a, b)),
        4 => (any::<Index>(), token).prop_map(|(a, t)| Edit::Insert(a, t)),
        1 => (any::<Index>(), any::<Index>(), any::<u8>())
            .prop_map(|(a, b, n)| Edit::Duplicate(a, b, n)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(a, b)| Edit::Replace(a, b)),
    ]
}

/// Inputs around `samples`: mostly samples with a few edits (tokens from
/// `vocabulary` and [`hostile_tokens`]), also two samples joined, a soup of
/// tokens, and random bytes.
pub fn mutated(samples: Vec<Vec<u8>>, vocabulary: &[&str]) -> impl Strategy<Value = Vec<u8>> {
    assert!(!samples.is_empty(), "mutated() needs at least one sample");
    let mut tokens = hostile_tokens();
    tokens.extend(vocabulary.iter().map(|t| t.as_bytes().to_vec()));
    let edited = (
        proptest::sample::select(samples.clone()),
        proptest::collection::vec(edit(tokens.clone()), 0..6),
    )
        .prop_map(|(mut bytes, edits)| {
            for edit in &edits {
                edit.apply(&mut bytes);
            }
            bytes
        });
    let joined = (
        proptest::sample::select(samples.clone()),
        proptest::sample::select(samples),
        any::<Index>(),
        any::<Index>(),
    )
        .prop_map(|(a, b, cut_a, cut_b)| {
            let mut bytes = a[..cut_a.index(a.len() + 1)].to_vec();
            bytes.extend_from_slice(&b[cut_b.index(b.len() + 1)..]);
            bytes
        });
    let soup = proptest::collection::vec(proptest::sample::select(tokens), 0..24)
        .prop_map(|parts| parts.concat());
    let random = proptest::collection::vec(any::<u8>(), 0..200);
    prop_oneof![12 => edited, 2 => joined, 2 => soup, 1 => random]
}

/// [`mutated`] read as text the way the parsers' callers read it (lossy UTF-8).
pub fn mutated_text(samples: &[&str], vocabulary: &[&str]) -> impl Strategy<Value = String> {
    let samples = samples.iter().map(|s| s.as_bytes().to_vec()).collect();
    mutated(samples, vocabulary).prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Text that is not quite a number: the integer edges, signs, exponents, junk.
pub fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i32>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        "[0-9]{15,40}",
        "-?[0-9]{0,3}[.eE+x_-]?[0-9]{0,3}",
        proptest::sample::select(vec![
            String::new(),
            "-".into(),
            "+1".into(),
            "NaN".into(),
            "1e999".into()
        ]),
    ]
}

/// Most a parser may allocate for one input of these tests (the inputs are at
/// most a few hundred KiB): an allocation sized by a number in the input, such
/// as `max_turns: 99999999999`, goes far past it.
pub const ALLOCATION_LIMIT: usize = 64 << 20;

/// A global allocator that keeps, per thread, the bytes allocated now and
/// their peak, so that a test can bound what one parse allocates while other
/// tests run on other threads. Install it in a test binary with
/// `#[global_allocator] static ALLOC: CountingAlloc = CountingAlloc;`.
pub struct CountingAlloc;

thread_local! {
    static CURRENT: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
    static PEAK: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: during thread teardown the counters may be gone already.
    let _ = CURRENT.try_with(|current| {
        let now = current.get() + delta;
        current.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; only
// thread-local counters (const-initialised, without destructors, so touching
// them never allocates) are updated beside it.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on to the system allocator.
        let ptr = unsafe { std::alloc::System.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: as above.
        unsafe { std::alloc::System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: as above.
        let ptr = unsafe { std::alloc::System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let new = unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        new
    }
}

/// Runs `f` and returns what it returned with the most bytes it had allocated
/// at once on this thread (0 unless [`CountingAlloc`] is the global allocator).
pub fn peak_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.with(std::cell::Cell::get);
    PEAK.with(|peak| peak.set(base));
    let value = f();
    let peak = PEAK.with(std::cell::Cell::get);
    (value, (peak - base).max(0) as usize)
}

/// Runs a parser on one input, failing the case when it allocated more than
/// [`ALLOCATION_LIMIT`].
pub fn bounded<T>(f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    let (value, peak) = peak_allocation(f);
    if peak > ALLOCATION_LIMIT {
        return Err(TestCaseError::fail(format!(
            "allocated {peak} bytes at once"
        )));
    }
    Ok(value)
}
