//! The dashboard's state: the tasks it has, what the user filters and sorts
//! by, what is selected, and which prompt (if any) is open. No I/O here.

use super::data::{Snapshot, TaskLine};
use super::worker::{Follow, LogUpdate};

/// Most lines of a log kept for the detail pane.
const MAX_LOG_LINES: usize = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Newest first.
    Created,
    Status,
    Executor,
    Cost,
}

impl Sort {
    pub fn next(self) -> Self {
        match self {
            Self::Created => Self::Status,
            Self::Status => Self::Executor,
            Self::Executor => Self::Cost,
            Self::Cost => Self::Created,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Created => "newest",
            Self::Status => "status",
            Self::Executor => "executor",
            Self::Cost => "cost",
        }
    }
}

/// The statuses the `s` key steps through (`None`: all).
pub const STATUS_FILTERS: [&str; 8] = [
    "running",
    "queued",
    "pending",
    "completed",
    "failed",
    "killed",
    "lost",
    "stalled",
];

/// A prompt at the bottom of the screen, waiting for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// `y` confirms killing the task.
    ConfirmKill(String),
    /// `y` confirms removing the task.
    ConfirmCleanup(String),
    /// A line of text: the free-text filter.
    Filter(String),
    /// A line of text: the prompt for a follow-up of the task.
    Resume { task_id: String, text: String },
}

#[derive(Debug, Default)]
pub struct Filters {
    pub status: Option<&'static str>,
    pub executor: Option<String>,
    pub label: Option<String>,
    pub text: String,
}

#[derive(Debug)]
pub struct State {
    pub snapshot: Snapshot,
    /// Indexes into `snapshot.tasks` of the rows shown, in order: worked out
    /// when the tasks, filters or sort change, not for every frame.
    order: Vec<usize>,
    /// Labels of each executor, for the label filter.
    pub filters: Filters,
    pub sort: Sort,
    /// Id of the selected task (kept across refreshes and re-sorts).
    pub selected: Option<String>,
    pub detail: bool,
    pub raw: bool,
    pub help: bool,
    pub prompt: Option<Prompt>,
    pub log: Vec<String>,
    pub log_error: Option<String>,
    /// Lines scrolled up from the end of the log (0: following the end).
    pub log_scroll: usize,
    pub message: Option<String>,
    /// The time ages and durations are measured to.
    pub now: jiff::Timestamp,
    /// A host not heard from for this long is marked stale.
    pub stale_after: std::time::Duration,
    pub quit: bool,
}

impl State {
    pub fn new(now: jiff::Timestamp) -> Self {
        Self {
            snapshot: Snapshot::default(),
            order: Vec::new(),
            filters: Filters::default(),
            sort: Sort::Created,
            selected: None,
            detail: false,
            raw: false,
            help: false,
            prompt: None,
            log: Vec::new(),
            log_error: None,
            log_scroll: 0,
            message: None,
            now,
            stale_after: std::time::Duration::from_secs(10),
            quit: false,
        }
    }

    pub fn set_snapshot(&mut self, snapshot: Snapshot) {
        self.snapshot = snapshot;
        self.order = self.sorted_matches();
        let visible = self.visible();
        let still_there = self
            .selected
            .as_ref()
            .is_some_and(|id| visible.iter().any(|t| &t.task_id == id));
        if !still_there {
            self.selected = visible.first().map(|t| t.task_id.clone());
        }
    }

    fn matches(&self, task: &TaskLine) -> bool {
        let f = &self.filters;
        if let Some(status) = f.status {
            let stalled = task.stalled == Some(true);
            let ok = if status == "stalled" {
                stalled
            } else {
                task.status == status
            };
            if !ok {
                return false;
            }
        }
        if f.executor.as_ref().is_some_and(|e| *e != task.executor) {
            return false;
        }
        if let Some(label) = &f.label {
            let has = self
                .snapshot
                .executors
                .iter()
                .any(|e| e.name == task.executor && e.labels.contains(label));
            if !has {
                return false;
            }
        }
        if !f.text.is_empty() {
            let needle = f.text.to_lowercase();
            let hay = [&task.task_id, &task.summary, &task.executor, &task.status];
            if !hay.iter().any(|h| h.to_lowercase().contains(&needle)) {
                return false;
            }
        }
        true
    }

    /// The tasks shown, filtered and sorted.
    pub fn visible(&self) -> Vec<&TaskLine> {
        self.order
            .iter()
            .filter_map(|i| self.snapshot.tasks.get(*i))
            .collect()
    }

    fn sorted_matches(&self) -> Vec<usize> {
        let tasks = &self.snapshot.tasks;
        let mut order: Vec<usize> = (0..tasks.len())
            .filter(|i| self.matches(&tasks[*i]))
            .collect();
        // Ids are UUIDv7: their order is creation order. The sorts below are
        // stable, so newest first stays the order within equal keys.
        order.sort_by(|a, b| tasks[*b].task_id.cmp(&tasks[*a].task_id));
        match self.sort {
            Sort::Created => {}
            Sort::Status => order.sort_by_key(|i| status_rank(&tasks[*i])),
            Sort::Executor => order.sort_by(|a, b| tasks[*a].executor.cmp(&tasks[*b].executor)),
            Sort::Cost => order.sort_by(|a, b| {
                let cost = |i: &usize| tasks[*i].cost().unwrap_or(0.0);
                cost(b).total_cmp(&cost(a))
            }),
        }
        order
    }

    pub fn next_sort(&mut self) {
        self.sort = self.sort.next();
        self.refilter();
    }

    pub fn selected_task(&self) -> Option<&TaskLine> {
        let id = self.selected.as_ref()?;
        self.snapshot.tasks.iter().find(|t| &t.task_id == id)
    }

    pub fn selected_index(&self) -> Option<usize> {
        let id = self.selected.as_ref()?;
        self.visible().iter().position(|t| &t.task_id == id)
    }

    /// Moves the selection by `delta` rows (clamped).
    pub fn move_selection(&mut self, delta: isize) {
        let visible = self.visible();
        if visible.is_empty() {
            self.selected = None;
            return;
        }
        let current = self.selected_index().unwrap_or(0);
        let last = visible.len() - 1;
        let next = current.saturating_add_signed(delta).min(last);
        self.selected = Some(visible[next].task_id.clone());
        self.log_scroll = 0;
    }

    pub fn select_edge(&mut self, last: bool) {
        let visible = self.visible();
        let pick = if last {
            visible.last()
        } else {
            visible.first()
        };
        self.selected = pick.map(|t| t.task_id.clone());
        self.log_scroll = 0;
    }

    /// What the log thread should follow now.
    pub fn follow(&self) -> Option<Follow> {
        if !self.detail {
            return None;
        }
        Some(Follow {
            task_id: self.selected.clone()?,
            raw: self.raw,
        })
    }

    /// Takes in new log text, if it is for what is followed now.
    pub fn apply_log(&mut self, update: LogUpdate) {
        if self.follow().as_ref() != Some(&update.follow) {
            return;
        }
        if update.reset {
            self.log.clear();
            self.log_scroll = 0;
        }
        self.log_error = update.error;
        let mut lines = update.lines.into_iter();
        if update.continues
            && let (Some(last), Some(rest)) = (self.log.last_mut(), lines.next())
        {
            last.push_str(&rest);
        }
        self.log.extend(lines);
        let excess = self.log.len().saturating_sub(MAX_LOG_LINES);
        self.log.drain(..excess);
    }

    /// Steps the status filter: all, then each status, then all again.
    pub fn cycle_status(&mut self) {
        let f = &mut self.filters;
        f.status = match f.status {
            None => Some(STATUS_FILTERS[0]),
            Some(current) => {
                let at = STATUS_FILTERS.iter().position(|s| *s == current);
                at.and_then(|i| STATUS_FILTERS.get(i + 1)).copied()
            }
        };
        self.refilter();
    }

    pub fn cycle_executor(&mut self) {
        let names: Vec<String> = self
            .snapshot
            .executors
            .iter()
            .map(|e| e.name.clone())
            .collect();
        self.filters.executor = step(&names, self.filters.executor.take());
        self.refilter();
    }

    pub fn cycle_label(&mut self) {
        let mut labels: Vec<String> = self
            .snapshot
            .executors
            .iter()
            .flat_map(|e| e.labels.iter().cloned())
            .collect();
        labels.sort();
        labels.dedup();
        self.filters.label = step(&labels, self.filters.label.take());
        self.refilter();
    }

    /// Keeps a selection among the tasks still shown.
    pub fn refilter(&mut self) {
        let snapshot = std::mem::take(&mut self.snapshot);
        self.set_snapshot(snapshot);
    }

    /// One line describing the filters in force ("" when none).
    pub fn filter_summary(&self) -> String {
        let f = &self.filters;
        let mut parts = Vec::new();
        if let Some(status) = f.status {
            parts.push(format!("status={status}"));
        }
        if let Some(executor) = &f.executor {
            parts.push(format!("executor={executor}"));
        }
        if let Some(label) = &f.label {
            parts.push(format!("label={label}"));
        }
        if !f.text.is_empty() {
            parts.push(format!("text={}", f.text));
        }
        parts.join(" ")
    }
}

/// The next of `items` after `current`; after the last, none.
fn step(items: &[String], current: Option<String>) -> Option<String> {
    match current {
        None => items.first().cloned(),
        Some(current) => {
            let at = items.iter().position(|i| *i == current)?;
            items.get(at + 1).cloned()
        }
    }
}

/// Live and troubled tasks first.
fn status_rank(task: &TaskLine) -> u8 {
    if task.stalled == Some(true) {
        return 0;
    }
    match task.status.as_str() {
        "lost" => 1,
        "running" => 2,
        "pending" => 3,
        "queued" => 4,
        "failed" => 5,
        "killed" => 6,
        _ => 7,
    }
}
