//! Scripts run inside a task's container, running or ended, where the agent's
//! session store is (its home is the container's, not this host's).

use executor_core::executor::ExecutorError;
use executor_core::{ScriptOutput, TaskId};

use crate::engine::{Answer, Call};
use crate::{ContainerExecutor, container_name};

/// The repository of the snapshot images, tagged with the task id.
pub const SNAPSHOT_REPOSITORY: &str = "openclaw-transcript";

/// In the task dir while a snapshot image of the task may exist: made before
/// the snapshot, removed after it, so that a lookup killed in between leaves
/// what `remove` needs to know that the image must go too.
const SNAPSHOT_MARKER: &str = "transcript-snapshot";

impl ContainerExecutor {
    /// Runs `script` with `/bin/sh` in task `id`'s container as the user and
    /// with the environment its payload had: by `exec` while the container
    /// runs; once it has ended (completed or killed; it is kept until
    /// `cleanup`), in a throwaway container of a snapshot of it (`commit`)
    /// with its mounts (`--volumes-from`) and no network, since an ended
    /// container cannot be entered and starting it again would rerun the task.
    pub(crate) fn run_inside(
        &self,
        id: &TaskId,
        script: &str,
    ) -> Result<ScriptOutput, ExecutorError> {
        let name = container_name(id);
        if self.is_running(&name)? {
            let answer = self.shell(["exec", "-i", &name, "/bin/sh", "-s"], script)?;
            // Ended between the two calls: read its snapshot instead.
            if answer.success || self.is_running(&name)? {
                return Ok(output(answer));
            }
        }
        self.run_in_snapshot(id, script)
    }

    fn is_running(&self, name: &str) -> Result<bool, ExecutorError> {
        let answer = self.engine.call(Call::new([
            "container",
            "inspect",
            "--format",
            "{{.State.Running}}",
            name,
        ]))?;
        if !answer.success {
            return Err(self.engine.error(&answer.message()));
        }
        Ok(answer.text().trim() == "true")
    }

    fn run_in_snapshot(&self, id: &TaskId, script: &str) -> Result<ScriptOutput, ExecutorError> {
        let name = &container_name(id);
        let marker = self.dir(id).join(SNAPSHOT_MARKER);
        std::fs::write(&marker, b"")
            .map_err(self.io_err("cannot mark the task dir before a snapshot"))?;
        // Tagged after the task, so that one left behind is known for what it is.
        let answer = self.engine.call(Call::new([
            "commit".to_owned(),
            name.to_owned(),
            format!("{SNAPSHOT_REPOSITORY}:{id}"),
        ]))?;
        if !answer.success {
            return Err(self.engine.error(&answer.message()));
        }
        let text = answer.text();
        let Some(image) = text.lines().map(str::trim).rfind(|l| !l.is_empty()) else {
            return Err(self.engine.error("commit named no image"));
        };
        let image = image.to_owned();
        let ran = self.shell(
            [
                "run",
                "--rm",
                "-i",
                "--pull",
                "never",
                "--network",
                "none",
                "--volumes-from",
                name,
                "--entrypoint",
                "/bin/sh",
                &image,
                "-s",
            ],
            script,
        );
        // The snapshot holds the task's environment: never left behind.
        let removed = self.engine.call(Call::new(["rmi", "--force", &image]));
        let ran = ran?;
        if let Ok(answer) = &removed
            && !answer.success
        {
            return Err(self.engine.error(&format!(
                "cannot remove the snapshot image {image}: {}",
                answer.message()
            )));
        }
        removed?;
        let _ = std::fs::remove_file(&marker);
        Ok(output(ran))
    }

    /// Removes the snapshot a lookup killed midway left of task `id`, if any.
    pub(crate) fn remove_snapshot(&self, id: &TaskId) -> Result<(), ExecutorError> {
        if !self.dir(id).join(SNAPSHOT_MARKER).exists() {
            return Ok(());
        }
        let image = format!("{SNAPSHOT_REPOSITORY}:{id}");
        let answer = self.engine.call(Call::new(["rmi", "--force", &image]))?;
        let message = answer.message().to_lowercase();
        if answer.success
            || message.contains("no such image")
            || message.contains("image not known")
        {
            Ok(())
        } else {
            Err(self.engine.error(&format!(
                "cannot remove the snapshot image {image}: {}",
                answer.message()
            )))
        }
    }

    fn shell<const N: usize>(
        &self,
        args: [&str; N],
        script: &str,
    ) -> Result<Answer, ExecutorError> {
        let mut call = Call::new(args);
        call.input = Some(script.as_bytes().to_vec());
        self.engine.call(call)
    }
}

fn output(answer: Answer) -> ScriptOutput {
    ScriptOutput {
        code: answer.code,
        stdout: answer.stdout,
        stderr: answer.stderr.into_bytes(),
    }
}
