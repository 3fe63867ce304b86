//! SSH: the connection settings (the `type: ssh` keys, which Slurm's login
//! node shares) and the transport that runs scripts over one shared connection.

pub mod config;
mod kept;
pub mod transport;

pub use config::{DEFAULT_REMOTE_TASK_ROOT, HostKeyPolicy, SshSection, SshSettings};
pub use kept::keep_shells;
pub use transport::Transport;
