//! Starting tasks on a host: one script for any number of tasks (one round
//! trip), whose per-task work is shell builtins but for the runner's own
//! start. A launch used to cost some twenty processes on the host (`base64`
//! per file, `mkdir`, `id`, `ls | awk` on the task root, `cat` and `awk` for the
//! runner's identity, a subshell per task): 500 tasks over ten hosts on one
//! 2-core machine took 9.9 s. Now the task root is checked once, the dirs are
//! made by one `mkdir`, each distinct file content is a shell function
//! (`printf` of its bytes, a builtin; `base64 -d` for binary or large ones)
//! that every task using it redirects into its dir, and the runner's identity
//! is read from `/proc` with `read`.

use std::collections::HashMap;
use std::fmt::Write as _;

use executor_core::executor::LaunchSpec;
use executor_core::runner::{self, sh_quote};

use crate::scripts::{self, ERROR_PREFIX, FAIL_FN, LAUNCHED};

const TASK_MARK: &str = "@task ";
const END_MARK: &str = "@end ";

/// Dirs per `mkdir`: far below any argument-size limit.
const MKDIR_CHUNK: usize = 200;

/// Contents above this size travel as base64 (one process on the host, but
/// a third larger instead of up to four times as `printf` escapes).
const PRINTF_MAX: usize = 256 * 1024;

/// Makes `$root` (once) and every task's dir under it, writes their files and
/// starts their runners detached from the SSH session. Per task, between
/// `@task <i>` and `@end <i> <status>` on stdout: the `LAUNCHED` line (the
/// runner's pid and identity), or the task's one-line error. A task whose
/// runner already started (a retried launch) reports that one. `task_root`
/// must be usable: otherwise the whole script fails with its one-line error.
pub fn script(task_root: &str, specs: &[LaunchSpec<'_>], keep_background: bool) -> String {
    let mut s = String::from("mask=$(umask)\numask 077\n");
    s.push_str(FAIL_FN);
    s.push_str(&format!(
        "tfail() {{ echo \"{ERROR_PREFIX}$*\"; return 3; }}\nroot={}\n",
        sh_quote(task_root)
    ));
    s.push_str(&scripts::check_task_root(""));
    // A relative root is the login directory's: the dirs below must not move
    // with the `cd` of a task.
    s.push_str("case $root in /*) ;; *) root=$PWD/$root ;; esac\n");
    s.push_str(IDENTITY);
    s.push_str("if command -v setsid >/dev/null 2>&1; then detach=setsid; else detach=nohup; fi\n");

    let mut contents = Contents::default();
    let per_task: Vec<Vec<(&str, usize)>> = specs
        .iter()
        .map(|spec| {
            spec.files
                .iter()
                .map(|file| (file.name, contents.function(&file.contents)))
                .collect()
        })
        .collect();
    if contents.base64 {
        scripts::need_base64(&mut s, " on the host");
    }
    s.push_str(&contents.script);

    let ids: Vec<String> = specs
        .iter()
        .map(|spec| sh_quote(&spec.id.to_string()))
        .collect();
    for chunk in ids.chunks(MKDIR_CHUNK) {
        s.push_str("(cd \"$root\" && mkdir -p --");
        for id in chunk {
            s.push(' ');
            s.push_str(id);
        }
        s.push_str(") 2>/dev/null\n");
    }
    for (index, (spec, files)) in specs.iter().zip(&per_task).enumerate() {
        task(&mut s, spec, &ids[index], files, keep_background);
        let _ = writeln!(
            s,
            "echo '{TASK_MARK}{index}'\nt\necho \"{END_MARK}{index} $?\""
        );
    }
    s.push_str("exit 0\n");
    s
}

/// `started <pid>`: the `LAUNCHED` line of a runner, with its identity
/// (`boot_id:start_ticks`, as `scripts::IDENTITY_FN` prints it) read by
/// builtins: field 22 of `/proc/<pid>/stat`, the 20th after the command name.
const IDENTITY: &str = r#"boot=; { IFS= read -r boot </proc/sys/kernel/random/boot_id; } 2>/dev/null
started() {
    st=; { IFS= read -r st <"/proc/$1/stat"; } 2>/dev/null
    set -- "$1" ${st##*) }
    echo "OPENCLAW_LAUNCHED $1 $boot:${21}"
}
"#;

/// Defines `t`, the launch of one task (see [`script`]).
fn task(
    s: &mut String,
    spec: &LaunchSpec<'_>,
    id: &str,
    files: &[(&str, usize)],
    keep_background: bool,
) {
    let _ = write!(
        s,
        "t() {{\ndir=\"$root\"/{id}\n\
         if [ -s \"$dir/{pidf}\" ]; then IFS= read -r p <\"$dir/{pidf}\" || :; started \"$p\"; return 0; fi\n\
         [ -d \"$dir\" ] || {{ out=$(mkdir -p -- \"$dir\" 2>&1) || {{ tfail \"cannot create task directory $dir: $out\"; return; }}; }}\n",
        pidf = runner::RUNNER_PID_FILE,
    );
    if !spec.workspace.is_empty() {
        let _ = writeln!(
            s,
            "[ -d {ws} ] || {{ rm -rf -- \"$dir\"; tfail \"workspace \"{ws}\" does not exist on the host\"; return; }}",
            ws = sh_quote(spec.workspace)
        );
    }
    if let Some(agent) = spec.agent {
        let _ = writeln!(
            s,
            "command -v {c} >/dev/null 2>&1 || {{ rm -rf -- \"$dir\"; tfail \"{name} not found on the host at \"{c}\" (set {key})\"; return; }}",
            c = sh_quote(&agent.program),
            name = agent.kind.as_str(),
            key = agent.kind.path_key(),
        );
    }
    // A failed write (a full disk) takes the task dir with it: nothing
    // half-written stays on the host. The shell's builtins say only "I/O
    // error": the write is tried once more through `cat`, which names the
    // cause (such as "No space left on device"), on the failure path only.
    for (name, function) in files {
        let _ = writeln!(
            s,
            "c{function} >\"$dir/{name}\" 2>/dev/null || {{ why=$( {{ c{function} | cat >\"$dir/{name}\"; }} 2>&1 ) || {{ rm -rf -- \"$dir\"; tfail \"cannot write {name} on the host: $(printf '%s' \"${{why:-write error}}\" | tr '\\n' ' ')\"; return; }}; }}"
        );
    }
    // The environment (secrets among it) is the runner's alone: exported in
    // its own process, never written down.
    s.push_str("{ cd \"$dir\" || exit 1\n");
    scripts::export_env(s, spec.env);
    let _ = write!(
        s,
        "exec $detach /bin/sh ./{runner} \"$dir\" \"$mask\" {keep}\n}} </dev/null >>\"$dir/{log}\" 2>&1 &\nstarted $!\n}}\n",
        runner = runner::RUNNER_FILE,
        log = runner::LOG_FILE,
        keep = sh_quote(runner::keep_background_arg(keep_background)),
    );
}

/// The distinct file contents of a batch, each a function `c<n>` that prints it.
#[derive(Default)]
struct Contents {
    script: String,
    known: HashMap<Vec<u8>, usize>,
    base64: bool,
}

impl Contents {
    fn function(&mut self, bytes: &[u8]) -> usize {
        if let Some(n) = self.known.get(bytes) {
            return *n;
        }
        let n = self.known.len();
        let escaped = printf_format(bytes);
        if bytes.len() <= PRINTF_MAX && escaped.len() <= 2 * bytes.len().max(16) {
            let _ = writeln!(self.script, "c{n}() {{ printf '{escaped}'; }}");
        } else {
            self.base64 = true;
            let _ = writeln!(self.script, "c{n}() {{");
            scripts::put_base64(&mut self.script, "base64 -d", bytes);
            self.script.push_str("}\n");
        }
        self.known.insert(bytes.to_vec(), n);
        n
    }
}

/// `bytes` as a `printf` format in single quotes that prints them exactly:
/// printable ASCII and newlines as they are, `%` doubled, and every other byte
/// (quotes, backslashes, control bytes, NUL, UTF-8) as a three-digit octal escape.
fn printf_format(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
        match byte {
            b'%' => out.push_str("%%"),
            b'\'' | b'\\' => {
                let _ = write!(out, "\\{byte:03o}");
            }
            b'\n' | 0x20..=0x7e => out.push(byte as char),
            _ => {
                let _ = write!(out, "\\{byte:03o}");
            }
        }
    }
    out
}

/// Per task, in order: the `LAUNCHED` line's fields, or the script's own
/// one-line error. A task with no answer (the batch ended early) failed.
pub fn parse(text: &str, count: usize) -> Vec<Result<String, String>> {
    let mut lines: Vec<Vec<&str>> = vec![Vec::new(); count];
    let mut status: Vec<Option<i32>> = vec![None; count];
    let mut current = None;
    for line in text.lines() {
        if let Some(index) = line.strip_prefix(TASK_MARK) {
            current = index.trim().parse::<usize>().ok().filter(|i| *i < count);
        } else if let Some(rest) = line.strip_prefix(END_MARK) {
            let mut fields = rest.split_whitespace();
            if let (Some(index), Some(code)) = (fields.next(), fields.next())
                && let Ok(index) = index.parse::<usize>()
                && index < count
            {
                status[index] = code.parse().ok();
            }
            current = None;
        } else if let Some(index) = current {
            lines[index].push(line);
        }
    }
    lines
        .into_iter()
        .zip(status)
        .map(|(lines, status)| {
            let launched = lines
                .iter()
                .find_map(|l| l.strip_prefix(LAUNCHED))
                .map(|fields| fields.trim().to_owned());
            match (launched, status) {
                (Some(fields), Some(0)) => Ok(fields),
                (_, None) => Err("the host gave no answer for this task".to_owned()),
                (_, Some(code)) => Err(lines
                    .iter()
                    .rev()
                    .find_map(|l| l.trim().strip_prefix(ERROR_PREFIX))
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("the launch failed with status {code}"))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shell;
    use executor_core::model::{TaskId, TaskType};
    use executor_core::runner::TaskFile;
    use std::time::Duration;

    /// Run here by `/bin/sh`: every byte arrives, identical contents are
    /// defined once, a failing task fails alone and a repeated launch reports
    /// the runner it started.
    #[test]
    fn files_arrive_byte_for_byte_and_each_task_answers_alone() {
        let root = tempfile::tempdir().expect("temp dir");
        let root_path = root.path().join("tasks");
        let root_str = root_path.to_str().expect("utf-8");
        let blob: Vec<u8> = (0..=255u8).chain(*b"'$(x)`%s\\n\n").collect();
        let big: Vec<u8> = (0..PRINTF_MAX + 10).map(|i| (i % 251) as u8).collect();
        let runner_sh = b"echo \"$$\" >runner.pid\nsleep 2\n".to_vec();
        let files = [
            TaskFile {
                name: "blob",
                contents: blob.clone(),
            },
            TaskFile {
                name: "big",
                contents: big.clone(),
            },
            TaskFile {
                name: runner::RUNNER_FILE,
                contents: runner_sh,
            },
        ];
        let env = [("OC_SECRET".to_owned(), "it's $HOME".to_owned())];
        let ids = [TaskId::new(), TaskId::new(), TaskId::new()];
        let spec = |id: TaskId, workspace: &'static str| LaunchSpec {
            id,
            files: &files,
            env: &env,
            workspace,
            task_type: TaskType::ShellCommand,
            agent: None,
            worktree: None,
            caller: None,
        };
        let specs = [
            spec(ids[0], ""),
            spec(ids[1], "/no/such/workspace"),
            spec(ids[2], "/tmp"),
        ];
        let text = script(root_str, &specs, false);
        // Three tasks, one definition of each content.
        assert_eq!(text.matches("c0()").count(), 1, "{text}");
        let run = |text: &str| {
            let out = Shell::Here
                .stdout("t", text, true, Duration::from_secs(30))
                .expect("the script runs");
            parse(&String::from_utf8_lossy(&out), 3)
        };
        let answers = run(&text);
        assert_eq!(
            answers[1],
            Err("workspace /no/such/workspace does not exist on the host".to_owned())
        );
        assert!(!root_path.join(ids[1].to_string()).exists());
        for index in [0, 2] {
            let fields = answers[index].as_ref().expect("launched");
            let dir = root_path.join(ids[index].to_string());
            assert_eq!(std::fs::read(dir.join("blob")).expect("blob"), blob);
            assert_eq!(std::fs::read(dir.join("big")).expect("big"), big);
            let mut fields = fields.split_whitespace();
            let pid: u32 = fields.next().expect("pid").parse().expect("a pid");
            let identity = fields.next().expect("identity");
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
            let ticks = stat.rsplit_once(") ").expect("stat").1.split(' ').nth(19);
            assert_eq!(identity.rsplit_once(':').map(|(_, t)| t), ticks);
        }
        // Once the runners have recorded themselves, a repeat reports them.
        let recorded = |i: usize| {
            root_path
                .join(ids[i].to_string())
                .join(runner::RUNNER_PID_FILE)
        };
        let started = std::time::Instant::now();
        while !(recorded(0).exists() && recorded(2).exists())
            && started.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let again = run(&text);
        assert_eq!(again[0], answers[0]);
        assert_eq!(again[2], answers[2]);
    }

    #[test]
    fn printf_formats_escape_what_the_shell_would_read() {
        assert_eq!(
            printf_format(b"a%b'c\\\n\0\xc3"),
            "a%%b\\047c\\134\n\\000\\303"
        );
    }

    #[test]
    fn answers_follow_their_marks_and_missing_ones_fail() {
        let text = format!(
            "{TASK_MARK}0\n{LAUNCHED} 12 b:34\n{END_MARK}0 0\n{TASK_MARK}1\nsh: 1: cannot create x\n{ERROR_PREFIX}cannot write x on the host: write error\n{END_MARK}1 3\n"
        );
        let answers = parse(&text, 3);
        assert_eq!(answers[0], Ok("12 b:34".to_owned()));
        assert_eq!(
            answers[1],
            Err("cannot write x on the host: write error".to_owned())
        );
        assert_eq!(
            answers[2],
            Err("the host gave no answer for this task".to_owned())
        );
    }
}
