//! The executor's bind mounts, and host paths translated to where the
//! container sees them.

use std::path::{Path, PathBuf};

use executor_core::executor::ExecutorError;

use crate::ContainerExecutor;

impl ContainerExecutor {
    /// Host side to container side of each bind mount in `volumes`.
    pub(crate) fn bind_mounts(&self) -> Vec<(PathBuf, String)> {
        self.settings
            .volumes
            .iter()
            .filter_map(|spec| {
                let mut parts = spec.split(':');
                let host = parts.next()?;
                let target = parts.next()?;
                (host.starts_with('/') && target.starts_with('/'))
                    .then(|| (PathBuf::from(host), target.to_owned()))
            })
            .collect()
    }

    /// A host path inside one of the bind mounts, as the container sees it.
    pub(crate) fn container_path(&self, host_path: &Path) -> Option<String> {
        let host_path = std::fs::canonicalize(host_path).ok()?;
        self.bind_mounts().into_iter().find_map(|(source, target)| {
            let source = std::fs::canonicalize(&source).unwrap_or(source);
            let rest = host_path.strip_prefix(&source).ok()?;
            let mut mapped = PathBuf::from(target);
            mapped.push(rest);
            mapped.into_os_string().into_string().ok()
        })
    }
}

impl ContainerExecutor {
    /// A path inside the container that lies in one of the bind mounts, as
    /// this host sees it.
    pub(crate) fn host_path(&self, container_path: &str) -> Option<PathBuf> {
        self.bind_mounts().into_iter().find_map(|(source, target)| {
            let rest = Path::new(container_path).strip_prefix(&target).ok()?;
            Some(source.join(rest))
        })
    }
}

pub(crate) fn absolute(executor: &str, path: &str, what: &str) -> Result<String, ExecutorError> {
    if path.starts_with('/') {
        Ok(path.to_owned())
    } else {
        Err(ExecutorError::failed(
            executor,
            format!(
                "{what} `{path}` must be an absolute path inside the container \
                 (or a host path inside one of the executor's volumes)"
            ),
        ))
    }
}
