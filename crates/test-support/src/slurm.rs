//! The private single-node Slurm cluster (munged, slurmctld, slurmd) that
//! `scripts/setup/slurm.sh` starts for a test run and announces with
//! `SLURM_CONF` and `OPENCLAW_TEST_SLURM=1`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

pub struct Cluster {
    /// The cluster's slurm.conf (every Slurm command reads `SLURM_CONF`).
    pub conf: PathBuf,
}

/// The test cluster, if one is up. In CI (`CI=true`) its absence fails the
/// test; elsewhere the test is skipped with a message saying how to get one.
pub fn cluster() -> Option<Cluster> {
    let announced = std::env::var("OPENCLAW_TEST_SLURM").is_ok_and(|v| v == "1");
    let conf = std::env::var_os("SLURM_CONF")
        .map(PathBuf::from)
        .filter(|p| p.is_file());
    let found = match conf {
        Some(conf) if announced => Some(Cluster { conf }),
        _ => None,
    };
    let Some(cluster) = found else {
        crate::missing(
            "a Slurm cluster: run `scripts/test` as root (it installs slurmctld, slurmd, \
             slurm-client and munge, starts a private single-node cluster and exports \
             SLURM_CONF and OPENCLAW_TEST_SLURM=1)",
        );
        return None;
    };
    let answers = Command::new("sinfo")
        .arg("--noheader")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !answers {
        crate::missing(&format!(
            "a Slurm cluster that answers: `sinfo` fails with SLURM_CONF={}",
            cluster.conf.display()
        ));
        return None;
    }
    Some(cluster)
}

/// What `squeue` says of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub state: String,
    pub name: String,
    pub reason: String,
}

impl Cluster {
    /// A job as `squeue` sees it (finished jobs too, for a few minutes).
    pub fn job(&self, id: &str) -> Option<Job> {
        let output = Command::new("squeue")
            .args([
                "--noheader",
                "--states=all",
                "-O",
                "JobID:|,State:|,Name:|,Reason:|",
            ])
            .arg(format!("--jobs={id},{id}"))
            .stdin(Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&output.stdout);
        let line = text.lines().next()?;
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        Some(Job {
            id: (*fields.first()?).to_owned(),
            state: (*fields.get(1)?).to_owned(),
            name: (*fields.get(2)?).to_owned(),
            reason: (*fields.get(3)?).to_owned(),
        })
    }

    /// A copy of the cluster's slurm.conf in `dir` with `key` set to `value`
    /// (e.g. a controller port nobody listens on).
    pub fn conf_with(&self, dir: &std::path::Path, key: &str, value: &str) -> PathBuf {
        let text = std::fs::read_to_string(&self.conf).expect("slurm.conf");
        let mut changed: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{key}=")))
            .map(str::to_owned)
            .collect();
        changed.push(format!("{key}={value}"));
        let path = dir.join(format!("slurm-{key}.conf"));
        std::fs::write(&path, changed.join("\n") + "\n").expect("write slurm.conf");
        path
    }
}
