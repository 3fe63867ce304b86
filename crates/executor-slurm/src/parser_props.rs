//! What Slurm (`squeue`, `sacct`) and the observe script print comes from the
//! cluster: whatever it is, reading it never panics, allocates in proportion
//! to it, and keeps one observation per task.

use proptest::prelude::*;
use test_support::fuzz;

use super::*;
use crate::jobs::{JobRow, cause, observation};

#[global_allocator]
static ALLOC: fuzz::CountingAlloc = fuzz::CountingAlloc;

const SQUEUE: &[&str] = &[
    "7|FAILED|768|1:00|openclaw-a|NonZeroExitCode|",
    "8|PENDING|0|1:00|openclaw-b|Resources|",
    "9|RUNNING|0|UNLIMITED|openclaw-c|None|",
    "10|TIMEOUT|15|2-00:00:00|openclaw-d|TimeLimit|",
];

const SACCT: &[&str] = &[
    "7|FAILED|3:0",
    "8|CANCELLED by 1000|0:15",
    "8.batch|CANCELLED|0:15",
    "11|OUT_OF_MEMORY|0:125",
];

const REPORT: &str = "@@ a job 7\n@@ b job\nQ 7|FAILED|768|1:00|openclaw-a|NonZeroExitCode|\n\
Q 8|PENDING|0|1:00|openclaw-b|Resources|\nA 7|FAILED|3:0\n## a\nstarted\npid 12\n\
exit {\"exit_code\":3}\nkill stalled\ndelta aGVsbG8K\n## b\nstarted\n\
F\nL 0 1764228601 /r/.openclaw-clock.77\nL 6 1764225001 /r/a/task.log\n\
L 15 1764225002 /r/a/exit.json\n";

const VOCABULARY: &[&str] = &[
    "|",
    "||||||",
    ":",
    "2147483647",
    "-2147483648",
    "\nQ ",
    "\nA ",
    "\n## ",
    "\n@@ a job ",
    "\nF\n",
    "\nL 0 -9223372036854775808 /r/.openclaw-clock.1\n",
    "9223372036854775807",
    "CANCELLED",
    "TIMEOUT",
    "PENDING",
    "NODE_FAIL",
    " by 0",
    ".batch",
];

fn check_row(row: &JobRow) -> Result<(), TestCaseError> {
    prop_assert!(!row.job_id.is_empty() && !row.state.is_empty());
    fuzz::bounded(|| {
        let _ = row.phase();
        let _ = cause(row);
        observation(RunnerObservation::default(), Some(row))
    })?;
    Ok(())
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn squeue_lines_never_panic(line in fuzz::mutated_text(SQUEUE, VOCABULARY)) {
        if let Some(row) = fuzz::bounded(|| JobRow::from_squeue(&line))? {
            check_row(&row)?;
        }
    }

    #[test]
    fn sacct_lines_never_panic(line in fuzz::mutated_text(SACCT, VOCABULARY)) {
        if let Some(row) = fuzz::bounded(|| JobRow::from_sacct(&line))? {
            check_row(&row)?;
        }
    }

    #[test]
    fn near_valid_job_lines_never_panic(
        fields in prop::collection::vec(
            prop_oneof![fuzz::number_text(), "[A-Z_]{0,12}", "[0-9]{0,3}:[0-9-]{0,12}", Just(String::new())],
            0..8,
        ),
    ) {
        let line = fields.join("|");
        for row in [JobRow::from_squeue(&line), JobRow::from_sacct(&line)].into_iter().flatten() {
            check_row(&row)?;
        }
    }

    #[test]
    fn observe_reports_never_panic(text in fuzz::mutated_text(&[REPORT], VOCABULARY)) {
        let probes = [
            scripts::Probe { id: "a".into(), task_dir: "/r/a".into(), job_id: Some("7"), log_offset: Some(0) },
            scripts::Probe { id: "b".into(), task_dir: "/r/b".into(), job_id: None, log_offset: None },
        ];
        let seen = fuzz::bounded(|| parse_observe(&text, &probes, " on the login node u@h"))?;
        prop_assert_eq!(seen.len(), 2);
        for (records, job) in seen {
            fuzz::bounded(|| observation(records, job.as_ref()))?;
        }
    }
}

/// A signal number at the edge of `i32` used to overflow `128 + signal` (a
/// panic in debug builds, a negative exit code in release).
#[test]
fn huge_signal_numbers_saturate() {
    let row = JobRow::from_sacct("7|FAILED|0:2147483647").expect("a job row");
    assert_eq!(row.exit_code, Some(i32::MAX));
    let row = JobRow::from_sacct("7|FAILED|0:-2147483648").expect("a job row");
    assert!(row.exit_code.is_some());
}
