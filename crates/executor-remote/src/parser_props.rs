//! The observe script's report comes from a host: whatever it prints, reading
//! it never panics, allocates in proportion to it, and keeps one observation
//! per task.

use proptest::prelude::*;
use test_support::fuzz;

use crate::logs::{TAIL_WINDOW, grow_window};
use crate::observe::read_observe;
use executor_core::runner::RunnerObservation;

#[global_allocator]
static ALLOC: fuzz::CountingAlloc = fuzz::CountingAlloc;

const A: &str = "019ac4a1-6a9e-7c31-8d1e-2f3a4b5c6d7e";
const B: &str = "019ac4a1-6a9e-7c31-8d1e-2f3a4b5c6d7f";

fn report() -> String {
    format!(
        "@@ {A}\nstarted\npid 4242\nalive\ndelta eyJ0eXBlIjoic3lzdGVtIn0K\n\
         @@ {B}\npid 17\nexit {{\"exit_code\":3}}\nkill stalled for 10m 0s\n\
         L 120 1764225001 {A}/task.log\nL 14 1764225002 {B}/exit.json\n"
    )
}

const VOCABULARY: &[&str] = &[
    "@@ ",
    "\n@@ 019ac4a1-6a9e-7c31-8d1e-2f3a4b5c6d7e\n",
    "\nL ",
    "\nexit ",
    "\nkill ",
    "\npid ",
    "\ndelta ",
    "\nalive\n",
    "====",
    "/task.log",
    "/exit.json",
];

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn observe_reports_never_panic(text in fuzz::mutated_text(&[&report()], VOCABULARY)) {
        let ids = vec![A.to_owned(), B.to_owned()];
        let mut observations = vec![RunnerObservation::default(); 2];
        fuzz::bounded(|| read_observe(&text, &ids, &mut observations, "host"))?;
        prop_assert_eq!(observations.len(), 2);
        for observation in &observations {
            let delta = observation.log_delta.as_ref().map_or(0, Vec::len);
            prop_assert!(delta <= text.len());
        }
    }
}

#[test]
fn observe_reports_are_read() {
    let ids = vec![A.to_owned(), B.to_owned()];
    let mut observations = vec![RunnerObservation::default(); 2];
    read_observe(&report(), &ids, &mut observations, "host");
    assert!(observations[0].runner_alive && observations[0].runner_started);
    assert_eq!(observations[0].payload_pid, Some(4242));
    assert_eq!(observations[0].log_size, Some(120));
    assert_eq!(
        observations[0].log_delta.as_deref(),
        Some(&b"{\"type\":\"system\"}\n"[..])
    );
    let exit = observations[1].exit.as_ref().expect("exit record");
    assert_eq!(exit.exit_code, 3);
    assert!(exit.ended_at.is_some());
    assert_eq!(
        observations[1].kill_reason.as_deref(),
        Some("stalled for 10m 0s")
    );
}

/// A host that reports a log of `u64::MAX` bytes used to overflow the window
/// (a panic in debug builds; in release it wrapped to 0 and `logs` asked the
/// host for an empty window forever).
#[test]
fn tail_window_growth_ends_at_any_size() {
    let mut window = TAIL_WINDOW;
    let mut steps = 0;
    while window < u64::MAX {
        window = grow_window(window);
        steps += 1;
        assert!(steps < 64, "the window stopped growing at {window}");
    }
}
