//! Who the runner runs as in the container, and giving that user the task dir.

use std::path::Path;

use executor_core::TaskId;
use executor_core::executor::ExecutorError;

use crate::engine::Call;
use crate::files::passwd_field;
use crate::{ContainerExecutor, access, container_name};

impl ContainerExecutor {
    /// The user the runner runs as in the container, if `user` or `run_args` set it.
    pub(crate) fn configured_user(&self) -> Option<&str> {
        let args = &self.settings.run_args;
        let from_args = args.iter().enumerate().find_map(|(i, arg)| {
            if arg == "--user" || arg == "-u" {
                args.get(i + 1).map(String::as_str)
            } else {
                arg.strip_prefix("--user=")
            }
        });
        from_args.or(self.settings.user.as_deref())
    }

    /// The files must be reachable by whoever the runner runs as; see [`access`].
    pub(crate) fn share_task_dir(
        &self,
        dir: &Path,
        container_uid: Option<u32>,
    ) -> Result<(), ExecutorError> {
        // SAFETY: geteuid has no preconditions.
        let host_uid = unsafe { libc::geteuid() };
        let users = access::extra_users(host_uid, container_uid);
        access::share_dir(dir, &users).map_err(self.io_err(format!(
            "cannot give the container's user access to the task directory {} (it needs POSIX ACLs)",
            dir.display()
        )))
    }

    /// The uid the created container of `id` runs as: from `user`/`run_args`, else
    /// the image's `USER`; a user name is looked up in the image's /etc/passwd.
    /// `None` when it cannot be known (the runner then may lack access, and the
    /// task ends with the runner's exit code 120).
    pub(crate) fn container_uid(&self, id: &TaskId) -> Option<u32> {
        let name = container_name(id);
        let user = match self.configured_user() {
            Some(user) => user.to_owned(),
            None => self
                .engine
                .call(Call::new([
                    "container",
                    "inspect",
                    "--format",
                    "{{.Config.User}}",
                    name.as_str(),
                ]))
                .ok()
                .filter(|answer| answer.success)?
                .text()
                .trim()
                .to_owned(),
        };
        let user = user.split(':').next().unwrap_or("");
        match user {
            "" | "root" => return Some(0),
            _ => {}
        }
        if let Some(uid) = numeric_uid(user) {
            return Some(uid);
        }
        let passwd = self.copy_out(id, "/etc/passwd").ok()?;
        passwd_field(&String::from_utf8_lossy(&passwd), user, 2)?
            .parse()
            .ok()
    }
}

/// The uid of a `user` setting (`uid` or `uid:gid`), when it is numeric.
pub(crate) fn numeric_uid(user: &str) -> Option<u32> {
    user.split(':').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_users() {
        assert_eq!(numeric_uid("65534:65534"), Some(65534));
        assert_eq!(numeric_uid("nobody"), None);
    }
}
