//! Files copied out of a task's container (`cp` writes a tar stream), and the
//! home directory of the container's user.

use executor_core::TaskId;
use executor_core::executor::ExecutorError;

use crate::engine::Call;
use crate::{ContainerExecutor, container_name};

impl ContainerExecutor {
    /// One file of the task's container (created, running or stopped): `cp`
    /// writes it as a tar stream.
    pub(crate) fn copy_out(&self, id: &TaskId, path: &str) -> Result<Vec<u8>, ExecutorError> {
        let answer = self.engine.call(Call::new([
            "cp".to_owned(),
            format!("{}:{path}", container_name(id)),
            "-".to_owned(),
        ]))?;
        if !answer.success {
            return Err(self.engine.error(&answer.message()));
        }
        tar_file(&answer.stdout).ok_or_else(|| {
            ExecutorError::failed(
                self.name(),
                format!("{path} in the container is not a regular file"),
            )
        })
    }

    /// The home directory the task's payload had: `HOME` of the container's
    /// environment, else its user's entry in the image's /etc/passwd.
    pub(crate) fn container_home(&self, id: &TaskId) -> Result<String, ExecutorError> {
        let answer = self.engine.call(Call::new([
            "container".to_owned(),
            "inspect".to_owned(),
            "--format".to_owned(),
            "{{.Config.User}}{{range .Config.Env}}{{println}}{{.}}{{end}}".to_owned(),
            container_name(id),
        ]))?;
        if !answer.success {
            return Err(self.engine.error(&answer.message()));
        }
        let text = answer.text();
        let mut lines = text.lines();
        let user = lines.next().unwrap_or("").split(':').next().unwrap_or("");
        if let Some(home) = lines.find_map(|l| l.strip_prefix("HOME=")) {
            return Ok(home.to_owned());
        }
        let user = if user.is_empty() { "root" } else { user };
        let passwd = String::from_utf8_lossy(&self.copy_out(id, "/etc/passwd")?).into_owned();
        let by_uid = |uid: &str| {
            passwd.lines().find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields.get(2) == Some(&uid)).then(|| fields.get(5).map(|h| (*h).to_owned()))?
            })
        };
        passwd_field(&passwd, user, 5)
            .map(str::to_owned)
            .or_else(|| by_uid(user))
            .ok_or_else(|| {
                ExecutorError::failed(
                    self.name(),
                    format!("cannot find the home directory of user `{user}` in the container"),
                )
            })
    }
}

/// The first file of a tar stream (as `cp CONTAINER:FILE -` writes it).
pub(crate) fn tar_file(tar: &[u8]) -> Option<Vec<u8>> {
    let header = tar.get(..512)?;
    // A regular file ('0', or NUL in old archives); a link would need following.
    if !matches!(header[156], b'0' | 0) {
        return None;
    }
    let size = std::str::from_utf8(&header[124..136])
        .ok()?
        .trim_matches(|c: char| c == '\0' || c == ' ');
    let size = usize::from_str_radix(size, 8).ok()?;
    Some(tar.get(512..512 + size)?.to_vec())
}

/// Field `index` (2: uid, 5: home) of `user`'s line in a passwd file.
pub(crate) fn passwd_field<'a>(passwd: &'a str, user: &str, index: usize) -> Option<&'a str> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&user))
            .then(|| fields.get(index).copied())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lookup() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/bash\n";
        assert_eq!(passwd_field(passwd, "node", 2), Some("1000"));
        assert_eq!(passwd_field(passwd, "node", 5), Some("/home/node"));
        assert_eq!(passwd_field(passwd, "nobody", 2), None);
        let mut tar = vec![0u8; 1024];
        tar[..6].copy_from_slice(b"passwd");
        tar[124..135].copy_from_slice(format!("{:011o}", passwd.len()).as_bytes());
        tar[156] = b'0';
        tar[512..512 + passwd.len()].copy_from_slice(passwd.as_bytes());
        assert_eq!(tar_file(&tar).as_deref(), Some(passwd.as_bytes()));
        tar[156] = b'2';
        assert_eq!(tar_file(&tar), None);
    }
}
