use test_support::{MockModels, ModelScript};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let script = match args[1].as_str() {
        "hang" => ModelScript::hang(),
        "endless" => ModelScript::endless(),
        _ => ModelScript::shell_then_text(&args[1], "All done."),
    };
    let mock = MockModels::start(script);
    std::fs::write(&args[2], mock.port().to_string()).unwrap();
    let secs: u64 = args.get(3).map_or(60, |s| s.parse().unwrap());
    std::thread::sleep(std::time::Duration::from_secs(secs));
    let reqs = mock.requests();
    let out: Vec<_> = reqs
        .iter()
        .map(|r| serde_json::json!({"path": r.path, "body": r.body}))
        .collect();
    std::fs::write(
        format!("{}.requests", args[2]),
        serde_json::to_string_pretty(&out).unwrap(),
    )
    .unwrap();
}
