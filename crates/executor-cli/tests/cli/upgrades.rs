//! A data dir left by an earlier version: `list` and `status` work on an
//! index of every earlier schema version (the fixtures of executor-core).

use std::path::Path;

use crate::helpers::TestEnv;

fn with_old_index(version: u32) -> TestEnv {
    let env = TestEnv::new();
    let data = env.home().join(".local/share/openclaw");
    std::fs::create_dir_all(&data).expect("data dir");
    std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../executor-core/tests/fixtures/index-v{version}.sqlite"
    ));
    std::fs::copy(&fixture, data.join("index.sqlite")).expect("copy fixture");
    env
}

#[test]
fn list_and_status_read_every_earlier_index() {
    for version in 1..=4u32 {
        let env = with_old_index(version);
        let table = env.ok(&["list"]);
        let rows = if version >= 3 { 14 } else { 12 };
        assert_eq!(table.lines().count(), rows + 1, "v{version}:\n{table}");
        assert!(table.contains("echo task 3"), "v{version}:\n{table}");
        assert!(table.contains("completed"), "v{version}:\n{table}");

        let listed = env.json(&["list", "--json"]);
        let tasks = listed.as_array().expect("an array");
        assert_eq!(tasks.len(), rows, "v{version}");
        // Ended tasks keep what they had; the agent tasks their stats.
        let completed_agent = tasks
            .iter()
            .find(|t| t["task_type"] == "claude_code" && t["status"] == "completed")
            .expect("a completed agent task");
        let id = completed_agent["task_id"].as_str().expect("id");
        let status = env.status(id);
        assert_eq!(status["exit_code"], 0, "v{version}: {status}");
        assert_eq!(
            status["webhook"]["state"], "delivered",
            "v{version}: {status}"
        );
        if version >= 2 {
            assert_eq!(status["agent"]["turns"], 3, "v{version}: {status}");
        }
        let human = env.ok(&["status", "--task-id", id]);
        assert!(human.contains("completed"), "v{version}:\n{human}");

        let failed = tasks
            .iter()
            .find(|t| t["task_type"] == "shell_command" && t["status"] == "failed")
            .expect("a failed shell task");
        assert_eq!(failed["exit_code"], 2, "v{version}");
        assert_eq!(failed["reason"], "exit code 2", "v{version}");
    }
}
