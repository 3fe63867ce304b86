//! Live events: a watcher thread compares the store after every supervisor
//! round (and at least once a second) with what it saw last, and sends each
//! change to every connected page as a Server-Sent Event.
//!
//! It looks at the tasks not yet ended and those newer than the newest it has
//! seen, so a look costs the same at any store size.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use executor_core::store::IndexFile;
use executor_core::view::TaskView;
use executor_core::{Store, TaskId, TaskRecord, TaskStatus};
use serde_json::json;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::state::{AppState, Shared};

/// Longest the watcher waits for a supervisor round before looking anyway.
const LOOK_EVERY: Duration = Duration::from_millis(500);

/// What of a task, when it changes, is worth an event.
#[derive(Clone, PartialEq)]
struct Seen {
    status: TaskStatus,
    pid: Option<u32>,
    cost: Option<u64>,
    activity: (u64, u64, Option<String>),
}

impl Seen {
    fn of(task: &TaskRecord) -> Self {
        let agent = task.agent.as_ref();
        Self {
            status: task.status,
            pid: task.pid,
            cost: agent.and_then(|a| a.total_cost_usd).map(f64::to_bits),
            activity: agent.map_or((0, 0, None), |a| {
                (a.turns, a.tool_calls, a.last_activity.clone())
            }),
        }
    }
}

/// Runs until the process ends: looks whenever `rounds` says a supervisor
/// round finished, or every [`LOOK_EVERY`].
pub fn run(state: Arc<AppState>, rounds: Receiver<()>) {
    let mut watcher: Option<Watcher> = None;
    loop {
        match rounds.recv_timeout(LOOK_EVERY) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(LOOK_EVERY),
        }
        while rounds.try_recv().is_ok() {}
        let current = match watcher.take() {
            // After `reindex` replaced the index, go on in the new file from
            // what was seen in the old one.
            Some(mut current) if current.store.index_file() == IndexFile::Replaced => {
                match open_store(&state) {
                    Some((store, _)) => {
                        current.store = store;
                        Some(current)
                    }
                    None => None,
                }
            }
            Some(current) => Some(current),
            None => Watcher::start(&state),
        };
        watcher = current.and_then(|mut w| match w.look(&state) {
            Ok(()) => Some(w),
            // A busy or replaced index: start over with a fresh connection.
            Err(err) => {
                eprintln!("warning: web events: {}", executor_core::error_chain(&err));
                None
            }
        });
    }
}

struct Watcher {
    store: Store,
    stall_timeout: Duration,
    newest: Option<TaskId>,
    live: HashMap<TaskId, Seen>,
}

/// A connection of the watcher's own to the index.
fn open_store(state: &AppState) -> Option<(Store, Duration)> {
    let manager = match (state.managers)() {
        Ok(manager) => manager,
        Err(message) => {
            eprintln!("warning: web events: {message}");
            return None;
        }
    };
    let stall_timeout = manager.config().defaults.stall_timeout;
    match Store::open(manager.store().paths()) {
        Ok(store) => Some((store, stall_timeout)),
        Err(err) => {
            eprintln!("warning: web events: {}", executor_core::error_chain(&err));
            None
        }
    }
}

impl Watcher {
    fn start(state: &AppState) -> Option<Self> {
        let (store, stall_timeout) = open_store(state)?;
        let newest = store.newest_id().ok()?;
        let live = store
            .watched(newest.as_ref())
            .ok()?
            .iter()
            .filter(|t| !t.status.is_terminal())
            .map(|t| (t.id, Seen::of(t)))
            .collect();
        Some(Self {
            store,
            stall_timeout,
            newest,
            live,
        })
    }

    fn look(&mut self, state: &AppState) -> Result<(), executor_core::StoreError> {
        let now = jiff::Timestamp::now();
        let tasks = self.store.watched(self.newest.as_ref())?;
        let mut gone: Vec<TaskId> = self.live.keys().copied().collect();
        for task in &tasks {
            gone.retain(|id| *id != task.id);
            let seen = Seen::of(task);
            let kinds = changes(self.live.get(&task.id), &seen);
            if !kinds.is_empty() {
                let view = TaskView::at(task, self.stall_timeout, now).to_json();
                for kind in kinds {
                    send(state, kind, &view);
                }
            }
            if task.status.is_terminal() {
                self.live.remove(&task.id);
            } else {
                self.live.insert(task.id, seen);
            }
            if self.newest.is_none_or(|newest| task.id > newest) {
                self.newest = Some(task.id);
            }
        }
        // Tasks seen live last time that are no longer: ended, or removed.
        for id in gone {
            let before = self.live.remove(&id);
            match self.store.get(&id)? {
                Some(task) => {
                    let view = TaskView::at(&task, self.stall_timeout, now).to_json();
                    for kind in changes(before.as_ref(), &Seen::of(&task)) {
                        send(state, kind, &view);
                    }
                }
                None => state.publish("removed", json!({ "task_id": id.to_string() })),
            }
        }
        Ok(())
    }
}

/// The events a task's change from `before` (`None`: not seen yet) to `now` makes.
fn changes(before: Option<&Seen>, now: &Seen) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    let Some(before) = before else {
        kinds.push("created");
        if now.status.is_terminal() {
            kinds.push("ended");
        }
        return kinds;
    };
    if before.status != now.status {
        kinds.push(match now.status {
            s if s.is_terminal() => "ended",
            TaskStatus::Running => "started",
            _ => "changed",
        });
    } else if before.pid != now.pid {
        kinds.push("changed");
    }
    if before.activity != now.activity {
        kinds.push("activity");
    }
    if before.cost != now.cost {
        kinds.push("cost");
    }
    kinds
}

fn send(state: &AppState, kind: &str, view_json: &str) {
    let data = format!("{{\"kind\":\"{kind}\",\"task\":{view_json}}}");
    let _ = state.events.send(Arc::new((kind.to_owned(), data)));
}

/// `GET /api/events`: the live event stream. A `hello` event opens it; a
/// `lagged` event says events were dropped for a slow reader (reload).
pub async fn events(State(state): State<Shared>) -> Response {
    let receiver = state.events.subscribe();
    let hello = tokio_stream::once(Ok::<_, Infallible>(
        Event::default().event("hello").data("{}"),
    ));
    let live = BroadcastStream::new(receiver).map(|item| {
        Ok::<_, Infallible>(match item {
            Ok(event) => Event::default().event(&event.0).data(&event.1),
            Err(BroadcastStreamRecvError::Lagged(n)) => Event::default()
                .event("lagged")
                .data(json!({ "dropped": n }).to_string()),
        })
    });
    Sse::new(hello.chain(live))
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::{Seen, changes};
    use executor_core::TaskStatus;

    fn seen(status: TaskStatus, cost: Option<f64>, tool_calls: u64) -> Seen {
        Seen {
            status,
            pid: Some(7),
            cost: cost.map(f64::to_bits),
            activity: (tool_calls, tool_calls, None),
        }
    }

    #[test]
    fn each_change_is_named() {
        let queued = seen(TaskStatus::Queued, None, 0);
        let running = seen(TaskStatus::Running, None, 0);
        let busy = seen(TaskStatus::Running, None, 3);
        let ended = seen(TaskStatus::Failed, Some(0.25), 4);
        assert_eq!(changes(None, &running), ["created"]);
        assert_eq!(changes(None, &ended), ["created", "ended"]);
        assert_eq!(changes(Some(&queued), &running), ["started"]);
        assert_eq!(changes(Some(&running), &busy), ["activity"]);
        assert_eq!(changes(Some(&busy), &ended), ["ended", "activity", "cost"]);
        assert!(changes(Some(&busy), &busy).is_empty());
        let moved = Seen {
            pid: Some(8),
            ..busy.clone()
        };
        assert_eq!(changes(Some(&busy), &moved), ["changed"]);
    }
}
