//! Git on the dispatching machine: reading a task's patch, applying it to a
//! checkout, fetching its branch. Each call runs the user's `git` with the
//! settings that would change its output or run repository code turned off.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Why a git step on this machine failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("`{dir}` is not inside a git repository")]
    NotARepository { dir: String },
    #[error("the change does not apply to {target}: {} conflict{}: {}", .files.len(), if .files.len() == 1 { "" } else { "s" }, .files.join(", "))]
    Conflict { target: String, files: Vec<String> },
    #[error("git {what} failed: {message}")]
    Failed { what: String, message: String },
    #[error("cannot write a temporary file: {0}")]
    Temp(#[source] std::io::Error),
}

fn git(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "core.quotePath=true",
        ])
        .stdin(Stdio::null());
    command
}

fn output(mut command: Command) -> Result<Output, GitError> {
    command.output().map_err(GitError::Spawn)
}

fn failed(what: &str, out: &Output) -> GitError {
    GitError::Failed {
        what: what.to_owned(),
        message: String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// The top level of the repository `dir` is in.
pub fn toplevel(dir: &Path) -> Result<PathBuf, GitError> {
    let mut command = git(dir);
    command.args(["rev-parse", "--show-toplevel"]);
    let out = output(command)?;
    let top = String::from_utf8_lossy(&out.stdout)
        .trim_end_matches('\n')
        .to_owned();
    if !out.status.success() || top.is_empty() {
        return Err(GitError::NotARepository {
            dir: dir.display().to_string(),
        });
    }
    Ok(PathBuf::from(top))
}

/// A private (0600) temporary file holding `bytes`, removed when dropped.
pub fn temp_file(bytes: &[u8], suffix: &str) -> Result<tempfile::NamedTempFile, GitError> {
    use std::io::Write;
    let mut file = tempfile::Builder::new()
        .prefix("openclaw-")
        .suffix(suffix)
        .tempfile()
        .map_err(GitError::Temp)?;
    file.write_all(bytes).map_err(GitError::Temp)?;
    file.flush().map_err(GitError::Temp)?;
    Ok(file)
}

/// Applies `patch` to the checkout at `target` (its repository's top level),
/// all or nothing: a patch that does not apply cleanly changes nothing, and
/// the error names the files in the way.
pub fn apply(target: &Path, patch: &[u8], three_way: bool) -> Result<(), GitError> {
    let top = toplevel(target)?;
    if patch.is_empty() {
        return Ok(());
    }
    let file = temp_file(patch, ".patch")?;
    let run = |check: bool, three_way: bool| -> Result<Output, GitError> {
        let mut command = git(&top);
        command.arg("apply");
        if three_way {
            command.arg("--3way");
        }
        if check {
            command.arg("--check");
        }
        command.arg(file.path());
        output(command)
    };
    let check = run(true, three_way)?;
    if !check.status.success() {
        // The plain check names the files in the way (the 3-way one is silent).
        let plain = if three_way { run(true, false)? } else { check };
        return Err(GitError::Conflict {
            target: top.display().to_string(),
            files: conflict_files(&plain.stderr),
        });
    }
    let out = run(false, three_way)?;
    if !out.status.success() {
        return Err(failed("apply", &out));
    }
    Ok(())
}

/// The files `git apply --check` complained about, in order, once each.
fn conflict_files(stderr: &[u8]) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(stderr).lines() {
        let Some(rest) = line.strip_prefix("error: ") else {
            continue;
        };
        let name = if let Some(at) = rest.strip_prefix("patch failed: ") {
            at.rsplit_once(':').map(|(name, _)| name)
        } else {
            rest.rsplit_once(": ").map(|(name, _)| name)
        };
        if let Some(name) = name
            && !files.iter().any(|f| f == name)
        {
            files.push(name.to_owned());
        }
    }
    if files.is_empty() {
        files.push("(git named none)".to_owned());
    }
    files
}

/// Fetches `branch` from `source` (a repository path or a bundle file) into
/// the repository at `into`, under the same name.
pub fn fetch(into: &Path, source: &OsStr, branch: &str) -> Result<(), GitError> {
    let top = toplevel(into)?;
    let mut command = git(&top);
    command
        .args(["fetch", "--quiet", "--no-tags", "--force"])
        .arg(source)
        .arg(format!("refs/heads/{branch}:refs/heads/{branch}"));
    let out = output(command)?;
    if !out.status.success() {
        return Err(failed("fetch", &out));
    }
    Ok(())
}

/// `git diff --stat` of a patch (`git apply --stat`). Works outside any repository.
pub fn stat(patch: &[u8]) -> Result<Vec<u8>, GitError> {
    if patch.is_empty() {
        return Ok(Vec::new());
    }
    let file = temp_file(patch, ".patch")?;
    let mut command = Command::new("git");
    command
        .args(["apply", "--stat"])
        .arg(file.path())
        .stdin(Stdio::null());
    let out = output(command)?;
    if !out.status.success() {
        return Err(failed("apply --stat", &out));
    }
    Ok(out.stdout)
}

/// What `--sync` ships: the repository at `dir` here, at `base`.
#[derive(Debug)]
pub struct Shipped {
    pub base: String,
    /// The place of `dir` below the repository's top level (`""`: the top).
    pub subdir: String,
    /// A git bundle (v2) of `base` and its history, under `refs/openclaw/base`.
    pub bundle: Vec<u8>,
}

/// Bundles the repository at `dir` at `base` for `--sync`. The bundle is
/// written here from `git pack-objects`, so that no ref has to be made in
/// the user's repository for a base given as a commit.
pub fn ship(dir: &Path, base: &str) -> Result<Shipped, super::WorktreeError> {
    use super::WorktreeError;
    let probe_failed = |err: GitError| WorktreeError::Probe(err.to_string());
    let top = toplevel(dir).map_err(|err| match err {
        GitError::Spawn(source) if source.kind() == std::io::ErrorKind::NotFound => {
            WorktreeError::GitMissing {
                place: "this machine".into(),
            }
        }
        _ => WorktreeError::NotARepository {
            workspace: dir.display().to_string(),
        },
    })?;
    let mut command = git(dir);
    command.args(["rev-parse", "--show-prefix"]);
    let prefix = output(command).map_err(probe_failed)?;
    let mut command = git(&top);
    command
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("{base}^{{commit}}"));
    let out = output(command).map_err(probe_failed)?;
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || commit.is_empty() {
        return Err(WorktreeError::UnknownBase {
            base: base.to_owned(),
        });
    }
    let mut command = git(&top);
    command
        .args(["pack-objects", "--stdout", "--revs", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| probe_failed(GitError::Spawn(e)))?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(format!("{commit}\n").as_bytes())
            .map_err(|e| probe_failed(GitError::Spawn(e)))?;
    }
    let pack = child
        .wait_with_output()
        .map_err(|e| probe_failed(GitError::Spawn(e)))?;
    if !pack.status.success() {
        return Err(probe_failed(failed("pack-objects", &pack)));
    }
    let mut bundle = format!("# v2 git bundle\n{commit} refs/openclaw/base\n\n").into_bytes();
    bundle.extend_from_slice(&pack.stdout);
    Ok(Shipped {
        base: commit,
        subdir: String::from_utf8_lossy(&prefix.stdout)
            .trim_end_matches('\n')
            .trim_end_matches('/')
            .to_owned(),
        bundle,
    })
}

/// One file of a patch, as `git apply --numstat` counts it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileStat {
    pub path: String,
    /// `None` for a binary file.
    pub insertions: Option<u64>,
    pub deletions: Option<u64>,
}

/// The files a patch touches, with their counts. Works outside any repository.
pub fn numstat(patch: &[u8]) -> Result<Vec<FileStat>, GitError> {
    if patch.is_empty() {
        return Ok(Vec::new());
    }
    let file = temp_file(patch, ".patch")?;
    let mut command = Command::new("git");
    command
        .args(["apply", "--numstat", "-z"])
        .arg(file.path())
        .stdin(Stdio::null());
    let out = output(command)?;
    if !out.status.success() {
        return Err(failed("apply --numstat", &out));
    }
    Ok(parse_numstat_z(&out.stdout))
}

/// `ins\tdel\tpath\0`, or for a rename `ins\tdel\t\0old\0new\0`.
fn parse_numstat_z(bytes: &[u8]) -> Vec<FileStat> {
    let mut stats = Vec::new();
    let mut fields = bytes.split(|b| *b == 0);
    while let Some(record) = fields.next() {
        if record.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(record);
        let mut parts = text.splitn(3, '\t');
        let (Some(ins), Some(del), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let path = if path.is_empty() {
            let _old = fields.next();
            String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned()
        } else {
            path.to_owned()
        };
        stats.push(FileStat {
            path,
            insertions: ins.parse().ok(),
            deletions: del.parse().ok(),
        });
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numstat_reads_names_with_any_bytes() {
        let out = b"1\t0\ta b\nc\x00-\t-\tbin\x002\t1\t\x00old\x00new\x00";
        let stats = parse_numstat_z(out);
        assert_eq!(stats.len(), 3);
        assert_eq!(stats[0].path, "a b\nc");
        assert_eq!(stats[1].insertions, None);
        assert_eq!(stats[2].path, "new");
    }

    #[test]
    fn conflicts_are_named_once() {
        let err = b"error: f: does not match index\nerror: patch failed: g:1\nerror: g: patch does not apply\n";
        assert_eq!(conflict_files(err), vec!["f", "g"]);
    }
}
