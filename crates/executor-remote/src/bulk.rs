//! Scripts that act on many tasks of one host in one round trip: the bulk
//! `kill`, the live-process check before `cleanup` and the removal of their
//! task dirs. Each means, task by task, what the one-task script of
//! [`scripts`](crate::scripts) means, so a batch does what as many single
//! runs would.

use executor_core::runner::{self, sh_quote};

use crate::scripts;

pub use crate::bulk_kill::TaskProcs;

/// Kills every task at once, with one grace period and one process-table read
/// per tick for all of them (see [`bulk_kill`](crate::bulk_kill)).
pub fn kill(tasks: &[TaskProcs<'_>], grace_secs: u64, reason: &str) -> String {
    let mut s = crate::bulk_kill::kill(tasks, grace_secs, reason);
    // Then until each runner has recorded its end (it ends stragglers of the
    // group for up to 2 s first): waited for here, not by more round trips.
    s.push_str(RUNNING_FN);
    for task in tasks {
        s.push_str(&format!(
            "d={dir}; rp='{rp}'; [ -n \"$rp\" ] || readpid \"$d/{runner_pid}\"; rp=${{rp:-$v}}; i=0\n\
             while [ ! -e \"$d/{exit}\" ] && [ -n \"$rp\" ] && running \"$rp\" && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done\n",
            dir = sh_quote(&task.dir),
            rp = task.runner_pid.map(|p| p.to_string()).unwrap_or_default(),
            exit = runner::EXIT_FILE,
            runner_pid = runner::RUNNER_PID_FILE,
        ));
    }
    s.push_str("exit 0\n");
    s
}

/// `running <pid>`: whether the process runs and is no zombie (where nothing
/// reaps orphans, an ended runner stays one), read with builtins.
const RUNNING_FN: &str = r#"running() {
    line=
    IFS= read -r line 2>/dev/null <"/proc/$1/stat" || [ -n "$line" ] || return 1
    st=${line##*) }
    st=${st%% *}
    [ -n "$st" ] && [ "$st" != Z ]
}
v=
readpid() { v=; [ -r "$1" ] && { IFS= read -r v <"$1" || v=; }; }
"#;

/// Marks the line that starts the answer about the task of that index.
const TASK_MARK: &str = "@task ";

/// Prints, per task, `@task <index>` and then `live` or `none` (see
/// [`scripts::live`]); [`parse_live`] reads it back.
pub fn live(tasks: &[TaskProcs<'_>]) -> String {
    let mut s = String::new();
    for (index, task) in tasks.iter().enumerate() {
        s.push_str(&format!("echo '{TASK_MARK}{index}'\n(\n"));
        s.push_str(&scripts::live(
            &task.dir,
            task.runner_pid,
            task.runner_start,
        ));
        s.push_str(")\n");
    }
    s.push_str("exit 0\n");
    s
}

/// What [`live`] printed, in task order. A task with no answer (the script
/// ended early) counts as live: never a directory from under a process.
pub fn parse_live(text: &str, count: usize) -> Vec<bool> {
    let mut answers: Vec<Option<bool>> = vec![None; count];
    let mut current = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(index) = line.strip_prefix(TASK_MARK) {
            current = index.parse::<usize>().ok().filter(|i| *i < count);
        } else if let Some(index) = current {
            match line {
                "live" => answers[index] = Some(true),
                "none" => answers[index] = Some(false),
                _ => {}
            }
        }
    }
    answers.into_iter().map(|a| a.unwrap_or(true)).collect()
}

/// Removes the task dirs, a few hundred per `rm` so no argument list runs
/// past the host's limit.
pub fn remove(dirs: &[String]) -> String {
    let mut s = String::new();
    for chunk in dirs.chunks(200) {
        s.push_str("rm -rf --");
        for dir in chunk {
            s.push(' ');
            s.push_str(&sh_quote(dir));
        }
        s.push('\n');
    }
    s.push_str("exit 0\n");
    s
}

/// Marks the start of a task's log bytes, with their count.
const LOG_MARK: &str = "@log ";

/// Prints, per `(task dir, offset)`, `@log <index> <count>` and then exactly
/// `count` bytes of its log from the offset (at most one chunk);
/// [`parse_logs`] splits them back.
pub fn read_logs(reads: &[(String, u64)]) -> String {
    let mut s = String::new();
    for (index, (dir, offset)) in reads.iter().enumerate() {
        s.push_str(&format!(
            "f={dir}/{log}; s=$(stat -c %s \"$f\" 2>/dev/null || echo 0); n=$((s > {offset} ? s - {offset} : 0)); \
             [ $n -gt {chunk} ] && n={chunk}; echo \"{LOG_MARK}{index} $n\"; \
             [ $n -gt 0 ] && tail -c +{start} \"$f\" | head -c $n\n",
            dir = sh_quote(dir),
            log = runner::LOG_FILE,
            chunk = executor_core::executor::LOG_READ_CHUNK,
            start = offset + 1,
        ));
    }
    s.push_str("exit 0\n");
    s
}

/// What [`read_logs`] printed: each task's bytes, in order (empty for a task
/// with no answer).
pub fn parse_logs(mut out: &[u8], count: usize) -> Vec<Vec<u8>> {
    let mut logs = vec![Vec::new(); count];
    while let Some(end) = out.iter().position(|b| *b == b'\n') {
        let header = String::from_utf8_lossy(&out[..end]).into_owned();
        out = &out[end + 1..];
        let Some(rest) = header.strip_prefix(LOG_MARK) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let (Some(index), Some(n)) = (
            fields.next().and_then(|i| i.parse::<usize>().ok()),
            fields.next().and_then(|n| n.parse::<usize>().ok()),
        ) else {
            continue;
        };
        let n = n.min(out.len());
        if index < count {
            logs[index] = out[..n].to_vec();
        }
        out = &out[n..];
    }
    logs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_answers_follow_their_marks_and_missing_ones_count_as_live() {
        let text = "@task 0\nnone\n@task 1\nlive\n@task 2\n";
        assert_eq!(parse_live(text, 4), vec![false, true, true, true]);
    }

    #[test]
    fn live_ignores_marks_out_of_range_and_stray_lines() {
        let text = "noise\n@task 9\nnone\n@task 0\nnone\n";
        assert_eq!(parse_live(text, 1), vec![false]);
    }

    fn run_sh(script: &str) -> String {
        String::from_utf8_lossy(&run_sh_bytes(script)).into_owned()
    }

    #[test]
    fn logs_of_many_tasks_come_back_byte_for_byte() {
        let root = tempfile::tempdir().expect("tempdir");
        let contents: [&[u8]; 3] = [b"one\ntwo\n", b"", b"@log 0 5\n\x00\xffbin\nary"];
        let mut reads = Vec::new();
        for (i, bytes) in contents.iter().enumerate() {
            let dir = root.path().join(format!("t{i}"));
            std::fs::create_dir(&dir).expect("dir");
            std::fs::write(dir.join(runner::LOG_FILE), bytes).expect("log");
            reads.push((dir.display().to_string(), if i == 0 { 4 } else { 0 }));
        }
        reads.push((root.path().join("missing").display().to_string(), 0));
        let out = run_sh_bytes(&read_logs(&reads));
        let logs = parse_logs(&out, 4);
        assert_eq!(logs[0], b"two\n");
        assert_eq!(logs[1], b"");
        assert_eq!(logs[2], contents[2]);
        assert_eq!(logs[3], b"");
    }

    fn run_sh_bytes(script: &str) -> Vec<u8> {
        use std::io::Write;
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-s")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("script written");
        child.wait_with_output().expect("sh ends").stdout
    }

    #[test]
    fn live_script_says_none_for_dirs_with_nothing_running() {
        let root = tempfile::tempdir().expect("tempdir");
        let tasks: Vec<TaskProcs<'_>> = (0..3)
            .map(|i| TaskProcs {
                dir: root.path().join(format!("t{i}")).display().to_string(),
                runner_pid: None,
                runner_start: None,
            })
            .collect();
        for task in &tasks {
            std::fs::create_dir(&task.dir).expect("dir");
        }
        assert_eq!(parse_live(&run_sh(&live(&tasks)), 3), vec![false; 3]);
    }

    #[test]
    fn remove_script_removes_every_dir_with_awkward_names() {
        let root = tempfile::tempdir().expect("tempdir");
        let dirs: Vec<String> = (0..450)
            .map(|i| {
                root.path()
                    .join(format!("t {i} '$x'"))
                    .display()
                    .to_string()
            })
            .collect();
        for dir in &dirs {
            std::fs::create_dir(dir).expect("dir");
        }
        run_sh(&remove(&dirs));
        assert_eq!(std::fs::read_dir(root.path()).expect("root").count(), 0);
    }
}
