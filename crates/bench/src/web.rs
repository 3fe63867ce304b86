//! `openclaw-bench-web BIN [TASKS] [RUNS]`: how fast the page of `serve` paints
//! with TASKS ended tasks in the store (default 10,000), in headless Chromium.
//! For each of RUNS loads (default 10) it reads the browser's own timings: the
//! first contentful paint, and the frame after the first page of tasks was put
//! in the table (`tasks-painted`). Prints the median and the worst of each;
//! exits 1 when the median of `tasks-painted` is over 500 ms.

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use test_support::webdriver::Browser;

const GOAL_MS: f64 = 500.0;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(bin) = args.get(1) else {
        eprintln!("usage: openclaw-bench-web OPENCLAW_AGENT_BIN [TASKS] [RUNS]");
        return ExitCode::from(2);
    };
    let tasks: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let runs: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(10);
    let home = tempfile::tempdir().expect("temp home");
    let fixture = std::env::current_exe()
        .expect("own path")
        .with_file_name("openclaw-bench-fixture");
    let populated = Command::new(&fixture)
        .args(["populate", &tasks.to_string()])
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .status()
        .expect("run openclaw-bench-fixture");
    assert!(populated.success(), "populate failed");

    let mut serve = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start serve");
    let mut line = String::new();
    let stdout = serve.stdout.take().expect("stdout");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("serve's address");
    let url = line.trim().trim_start_matches("serving ").to_owned();

    let Some(browser) = Browser::start() else {
        let _ = serve.kill();
        let _ = serve.wait();
        return ExitCode::FAILURE;
    };
    let mut paint = Vec::new();
    let mut table = Vec::new();
    for run in 0..runs {
        if run == 0 {
            browser.goto(&url);
        } else {
            browser.execute("location.reload()", vec![]);
            std::thread::sleep(Duration::from_millis(100));
        }
        let timings = browser.wait_for(
            "the table's first paint",
            Duration::from_secs(30),
            "const t = performance.getEntriesByName('tasks-painted')[0]; \
             const p = performance.getEntriesByName('first-contentful-paint')[0]; \
             return t && p && [p.startTime, t.startTime, document.querySelectorAll('#tasks tbody tr').length];",
        );
        paint.push(timings[0].as_f64().unwrap_or(f64::NAN));
        table.push(timings[1].as_f64().unwrap_or(f64::NAN));
        assert_eq!(timings[2], 100, "the first page shows 100 tasks");
    }
    drop(browser);
    let _ = serve.kill();
    let _ = serve.wait();
    let stats = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        (values[values.len() / 2], values[values.len() - 1])
    };
    let (paint_median, paint_max) = stats(&mut paint);
    let (table_median, table_max) = stats(&mut table);
    println!(
        "web page, {tasks} tasks, {runs} loads: first contentful paint median {paint_median:.0} ms \
         (max {paint_max:.0}); first page of tasks painted median {table_median:.0} ms \
         (max {table_max:.0}); goal ≤ {GOAL_MS:.0} ms"
    );
    if table_median > GOAL_MS {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
