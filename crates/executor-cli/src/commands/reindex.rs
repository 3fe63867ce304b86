//! `reindex`: rebuild a lost or damaged task index from the task directories.

use std::io::Write;

use executor_core::Store;
use executor_core::reindex::reindex as rebuild;

use crate::app::App;
use crate::cli::ReindexArgs;
use crate::exit::{CliError, code};

pub fn reindex(app: &App, args: ReindexArgs) -> Result<u8, CliError> {
    let mut store = Store::open(&app.paths)?;
    let report = rebuild(&mut store)?;
    drop(store);
    // Live tasks come back as their meta last saw them; their runners' records
    // bring them up to date (and announce those that ended meanwhile).
    let mut manager = app.manager()?;
    let reconciled = manager.reconcile(None)?;
    app.settle(&manager, &reconciled);

    let mut out = std::io::stdout().lock();
    if args.json {
        let skipped: Vec<_> = report
            .skipped
            .iter()
            .map(|(path, reason)| serde_json::json!({"path": path, "reason": reason}))
            .collect();
        let added: Vec<String> = report.added.iter().map(ToString::to_string).collect();
        let json = serde_json::json!({
            "added": added,
            "already_indexed": report.already_indexed,
            "skipped": skipped,
        });
        writeln!(out, "{json}")?;
    } else {
        for (path, reason) in &report.skipped {
            eprintln!("warning: skipped {}: {reason}", path.display());
        }
        writeln!(
            out,
            "added {} task(s) to the index; {} already there; {} skipped",
            report.added.len(),
            report.already_indexed,
            report.skipped.len()
        )?;
    }
    Ok(code::OK)
}
