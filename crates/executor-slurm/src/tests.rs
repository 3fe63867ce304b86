//! Unit tests of the Slurm executor: the `sbatch` arguments a config gives,
//! where task dirs go, and what the observe script reads back.

use super::*;
use executor_remote::ssh::SshSettings;

fn settings() -> SlurmSettings {
    SlurmSettings {
        login: None,
        task_root: None,
        partition: Some("gpu".into()),
        account: None,
        qos: Some("high".into()),
        time_limit: Some("1:00:00".into()),
        cpus: Some(4),
        mem: Some("8G".into()),
        gres: Some("gpu:1".into()),
        sbatch_args: vec!["--constraint=a100".into()],
    }
}

fn config(settings: &SlurmSettings) -> ExecutorConfig {
    ExecutorConfig {
        name: "hpc".into(),
        labels: Vec::new(),
        claude_path: None,
        agent_paths: Default::default(),
        agent: None,
        agents: None,
        max_budget_usd: None,
        env: Vec::new(),
        max_concurrent: None,
        allow_root: false,
        keep_background: false,
        isolation: None,
        sync: false,
        settings: executor_core::ExecutorSettings::new(settings.clone()),
        builtin: false,
    }
}

#[test]
fn sbatch_arguments_follow_the_settings() {
    let s = settings();
    let paths = Paths::new("/data/open%claw".into(), "/c".into());
    let executor = SlurmExecutor::new(config(&s), s, paths);
    let id = TaskId::new();
    let args = executor.sbatch_args(&id);
    let dir = format!("/data/open%claw/tasks/{id}");
    assert_eq!(
        args,
        [
            "--parsable".to_owned(),
            format!("--job-name=openclaw-{id}"),
            format!("--output=/data/open%%claw/tasks/{id}/slurm.out"),
            "--open-mode=append".to_owned(),
            format!("--chdir={dir}"),
            "--no-requeue".to_owned(),
            "--export=ALL".to_owned(),
            "--partition=gpu".to_owned(),
            "--qos=high".to_owned(),
            "--time=1:00:00".to_owned(),
            "--mem=8G".to_owned(),
            "--gres=gpu:1".to_owned(),
            "--cpus-per-task=4".to_owned(),
            "--constraint=a100".to_owned(),
        ]
    );
    assert_eq!(executor.task_dir(&id), dir);
}

#[test]
fn task_dirs_follow_the_task_root() {
    let mut s = settings();
    s.task_root = Some("/shared/tasks".into());
    let paths = Paths::new("/data".into(), "/c".into());
    let id = TaskId::new();
    let here = SlurmExecutor::new(config(&s), s.clone(), paths.clone());
    assert_eq!(here.task_dir(&id), format!("/shared/tasks/{id}"));
    s.login = Some(SshSettings {
        host: "login".into(),
        port: None,
        user: None,
        identity_file: None,
        ssh_config: None,
        known_hosts_file: None,
        ssh_options: Vec::new(),
        task_root: "/scratch/me/tasks".into(),
        host_key_policy: Default::default(),
    });
    let remote = SlurmExecutor::new(config(&s), s, paths);
    assert_eq!(remote.task_dir(&id), format!("/scratch/me/tasks/{id}"));
    assert_eq!(remote.runs_as_root(), None);
    assert!(remote.resolve_workspace("relative").is_err());
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "openclaw-slurm-test-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The observe script against a stub `squeue`, with task dirs whose path
/// needs quoting: one call for all jobs, records read back per task.
#[test]
fn observe_script_reads_jobs_and_records() {
    use std::io::Write;
    let temp = TempDir::new();
    let root = temp.path().join("it's a root");
    let (a, b) = (root.join("a"), root.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(a.join("runner.pid"), "11\n").unwrap();
    std::fs::write(a.join("task.pid"), "12\n").unwrap();
    std::fs::write(a.join("exit.json"), "{\"exit_code\":3}\n").unwrap();
    std::fs::write(a.join("task.log"), "hello\n").unwrap();
    std::fs::write(b.join("slurm-job"), "8\n").unwrap();
    let bin = temp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let calls = temp.path().join("calls");
    std::fs::write(
        bin.join("squeue"),
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\necho '7|FAILED|768|1:00|openclaw-a|NonZeroExitCode|'\necho '8|PENDING|0|1:00|openclaw-b|Resources|'\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        bin.join("squeue"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let dir = |p: &Path| p.to_str().unwrap().to_owned();
    let probes = [
        scripts::Probe {
            id: "a".into(),
            task_dir: dir(&a),
            job_id: Some("7"),
            log_offset: Some(2),
        },
        scripts::Probe {
            id: "b".into(),
            task_dir: dir(&b),
            job_id: None,
            log_offset: None,
        },
    ];
    let mut child = std::process::Command::new("/bin/sh")
        .arg("-s")
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(scripts::observe("", &probes, None).as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let seen = parse_observe(&String::from_utf8_lossy(&output.stdout), &probes, "");
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        "--noheader --states=all --jobs=7,8,8 -O JobID:|,State:|,exit_code:|,TimeLimit:|,Name:|,Reason:|\n"
    );
    let (records, job) = &seen[0];
    assert_eq!(job.as_ref().unwrap().state, "FAILED");
    assert!(records.runner_started);
    assert_eq!(records.payload_pid, Some(12));
    assert_eq!(records.exit.as_ref().unwrap().exit_code, 3);
    assert_eq!(records.log_size, Some(6));
    assert!(records.log_modified.is_some());
    assert_eq!(records.log_delta.as_deref(), Some(&b"llo\n"[..]));
    let (records, job) = &seen[1];
    let job = job.as_ref().unwrap();
    assert_eq!(
        (job.job_id.as_str(), job.reason.as_str()),
        ("8", "Resources")
    );
    assert!(!records.runner_started && records.exit.is_none() && records.log_size.is_none());
}
