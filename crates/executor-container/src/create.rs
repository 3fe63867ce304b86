//! The `create` call of a task's container: its name, labels, mounts, settings,
//! and the task's environment kept out of argv.

use std::ffi::OsString;
use std::path::Path;

use executor_core::{TaskId, runner};

use crate::{ContainerExecutor, EXECUTOR_LABEL, TASK_LABEL, TASK_MOUNT, container_name};

/// The arguments of `create`, the env-file text for its stdin, and the variables
/// that go through the CLI's own environment instead.
pub(crate) struct CreateCall {
    pub(crate) args: Vec<OsString>,
    pub(crate) input: Option<Vec<u8>>,
    pub(crate) inherited: Vec<(String, String)>,
}

impl ContainerExecutor {
    /// The `create` call of task `id`, whose task dir is `dir` on this host.
    pub(crate) fn create_call(
        &self,
        id: &TaskId,
        dir: &Path,
        env: &[(String, String)],
        worktree: Option<&executor_core::model::Worktree>,
    ) -> CreateCall {
        let mut args: Vec<OsString> = vec![
            "create".into(),
            // A missing image is an error, not a surprise download; `run_args`
            // may say `--pull=missing` (the last flag wins).
            "--pull".into(),
            "never".into(),
            "--name".into(),
            container_name(id).into(),
            "--label".into(),
            format!("{TASK_LABEL}={id}").into(),
            "--label".into(),
            format!("{EXECUTOR_LABEL}={}", self.config.name).into(),
            // The runner forwards SIGTERM to the payload's group and records the exit.
            "--stop-signal".into(),
            "TERM".into(),
            "--entrypoint".into(),
            "/bin/sh".into(),
        ];
        let mut mount = OsString::from(dir.as_os_str());
        // `z`: relabelled for containers where SELinux is on (a no-op elsewhere);
        // the dir belongs to this task alone.
        mount.push(format!(":{TASK_MOUNT}:z"));
        args.push("--volume".into());
        args.push(mount);
        // The task's worktree, over the repository's place in the container:
        // the payload sees its own checkout where the workspace is. A volume
        // that is the repository itself gives way to it (engines refuse two
        // mounts at one place).
        let worktree_target = worktree.filter(|w| w.on_host).and_then(|w| {
            w.mount
                .clone()
                .or_else(|| self.container_path(Path::new(&w.repo)))
        });
        for volume in &self.settings.volumes {
            let target = volume.split(':').nth(1).map(|t| t.trim_end_matches('/'));
            if target.is_some()
                && target == worktree_target.as_deref().map(|t| t.trim_end_matches('/'))
            {
                continue;
            }
            args.push("--volume".into());
            args.push(volume.into());
        }
        if let Some(target) = worktree_target {
            let mut mount = OsString::from(dir.join(runner::WORKTREE_DIR).as_os_str());
            mount.push(format!(":{target}"));
            args.push("--volume".into());
            args.push(mount);
        }
        if let Some(network) = &self.settings.network {
            args.push("--network".into());
            args.push(network.into());
        }
        if let Some(user) = &self.settings.user {
            args.push("--user".into());
            args.push(user.into());
        }
        // Values never go into argv: one-line values through an env file on
        // stdin, values with line breaks through the CLI's own environment.
        let (piped, inherited): (Vec<_>, Vec<_>) = env
            .iter()
            .cloned()
            .partition(|(_, value)| !value.contains(['\n', '\r']));
        let input = (!piped.is_empty()).then(|| {
            args.push("--env-file".into());
            args.push("/dev/stdin".into());
            piped
                .iter()
                .flat_map(|(name, value)| format!("{name}={value}\n").into_bytes())
                .collect()
        });
        for (name, _) in &inherited {
            args.push("--env".into());
            args.push(name.into());
        }
        args.extend(self.settings.run_args.iter().map(OsString::from));
        args.push(self.settings.image.as_str().into());
        args.push(format!("{TASK_MOUNT}/{}", runner::RUNNER_FILE).into());
        args.push(TASK_MOUNT.into());
        CreateCall {
            args,
            input,
            inherited,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{executor_with, settings};

    #[test]
    fn secrets_stay_out_of_argv() {
        let mut s = settings();
        s.network = Some("none".into());
        s.run_args = vec!["--memory".into(), "1g".into()];
        let executor = executor_with(s);
        let id = TaskId::new();
        let env = vec![
            ("TOKEN".to_owned(), "s3cret value".to_owned()),
            ("KEY".to_owned(), "line1\nline2".to_owned()),
        ];
        let CreateCall {
            args,
            input,
            inherited,
        } = executor.create_call(&id, Path::new("/data/openclaw/tasks/x"), &env, None);
        let args: Vec<String> = args.into_iter().map(|a| a.into_string().unwrap()).collect();
        let joined = args.join(" ");
        assert!(
            !joined.contains("s3cret") && !joined.contains("line1"),
            "{joined}"
        );
        assert_eq!(input.unwrap(), b"TOKEN=s3cret value\n");
        assert_eq!(inherited, [("KEY".to_owned(), "line1\nline2".to_owned())]);
        assert!(joined.contains("--env-file /dev/stdin --env KEY --memory 1g img:1"));
        assert!(joined.ends_with("img:1 /openclaw/task/runner.sh /openclaw/task"));
        assert!(joined.contains(&format!("--name openclaw-{id}")));
        assert!(joined.contains(&format!("--label openclaw.task={id}")));
        assert!(joined.contains("--volume /data/openclaw/tasks/x:/openclaw/task:z"));
        assert!(joined.contains("--network none"));
        assert!(!joined.contains("--rm"));
    }
}
