//! `reindex`: rebuild a lost or damaged task index from the task directories.

use std::io::Write;

use crate::app::App;
use crate::cli::ReindexArgs;
use crate::exit::{CliError, code};

pub fn reindex(app: &App, args: ReindexArgs) -> Result<u8, CliError> {
    let (store, damaged) = executor_core::Store::open_for_rebuild(&app.paths)?;
    let mut manager = app.manager_with(store);
    let report = manager.reindex()?;
    // Live tasks come back as their meta last saw them; their runners' records
    // bring them up to date (and announce those that ended meanwhile).
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
            "removed_orphans": report.removed,
            "damaged_index_kept_at": damaged,
        });
        writeln!(out, "{json}")?;
    } else {
        if let Some(copy) = &damaged {
            eprintln!(
                "warning: the task index was damaged; kept it as {} and built a new one",
                copy.display()
            );
        }
        for path in &report.removed {
            writeln!(out, "removed orphan dir {}", path.display())?;
        }
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
