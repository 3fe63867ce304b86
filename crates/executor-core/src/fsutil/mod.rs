//! Small filesystem helpers shared by the store, the task directories and the
//! executors.

mod dirs;
mod files;

pub use dirs::{DirError, check_private_dir, check_task_dir, ensure_private_dir};
pub use files::{
    create_private_dir, create_private_dir_all, open_private_file, read_from, tail_lines,
    write_atomic, write_private,
};
