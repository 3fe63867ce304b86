//! The task image as the engine describes it: its working dir and default user.

use executor_core::executor::ExecutorError;

use crate::ContainerExecutor;
use crate::engine::{self, Call};

#[derive(Debug, Clone)]
pub(crate) struct ImageInfo {
    pub(crate) working_dir: String,
    pub(crate) user: String,
}

impl ContainerExecutor {
    /// `image inspect`: the image's working dir and user. Errors only when the
    /// engine cannot be reached; a missing image gives `None` (launch reports it).
    pub(crate) fn image_info(&self) -> Result<Option<ImageInfo>, ExecutorError> {
        if let Some(info) = self.image.get() {
            return Ok(info.clone());
        }
        let answer = self.engine.call(Call::new([
            "image",
            "inspect",
            "--format",
            "{{.Config.WorkingDir}}|{{.Config.User}}",
            self.settings.image.as_str(),
        ]))?;
        let info = if answer.success {
            let text = answer.text();
            let line = text.lines().next().unwrap_or("");
            let (working_dir, user) = line.split_once('|').unwrap_or((line, ""));
            Some(ImageInfo {
                working_dir: working_dir.trim().to_owned(),
                user: user.trim().to_owned(),
            })
        } else {
            let message = answer.message();
            if !engine::is_missing_image(&message) {
                return Err(self.engine.error(&message));
            }
            None
        };
        Ok(self.image.get_or_init(|| info).clone())
    }
}
