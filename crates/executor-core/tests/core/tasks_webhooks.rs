//! Webhook claims: one deliverer per delivery, retries with backoff, giving up.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use executor_core::store::{StoreError, WebhookClaim, WebhookOutcome};
use executor_core::{Store, TaskId, TaskStatus};

use crate::harness::{Harness, dispatch, shell};

/// Records a delivery outcome as the deliverer does, in one write transaction.
fn record_outcome(
    store: &mut Store,
    id: &TaskId,
    outcome: WebhookOutcome,
) -> Result<(), StoreError> {
    let tx = store.begin_write()?;
    tx.set_webhook_outcome(id, &outcome)?;
    tx.commit()
}

fn with_webhook(url: &str) -> String {
    format!(
        "
executors:
  - name: a
    type: local
defaults:
  webhook_url: {url}
"
    )
}

/// A task that ended while a webhook was configured: its delivery is pending.
fn ended_task(h: &Harness) -> TaskId {
    let mut manager = h.manager();
    let id = dispatch(&mut manager, shell("a", "true"));
    h.fake.exit(&id, 0);
    manager.reconcile(None).expect("reconcile");
    id
}

#[test]
fn an_end_with_a_webhook_configured_leaves_one_pending_delivery() {
    let h = Harness::new(&with_webhook("http://127.0.0.1:9/hook"));
    let id = ended_task(&h);
    let record = h.record(&id);
    assert_eq!(record.status, TaskStatus::Completed);
    assert_eq!(record.webhook_state.map(|s| s.as_str()), Some("pending"));
    assert_eq!(record.webhook_attempts, 0);
    assert!(h.store().has_pending_webhooks().expect("query"));

    // Without a webhook no delivery is queued.
    let plain = Harness::new("executors: [{name: a, type: local}]");
    let id = ended_task(&plain);
    assert_eq!(plain.record(&id).webhook_state, None);
    assert!(!plain.store().has_pending_webhooks().expect("query"));
}

#[test]
fn two_claimers_of_one_delivery_one_wins() {
    let h = Harness::new(&with_webhook("http://127.0.0.1:9/hook"));
    let id = ended_task(&h);
    let (mut first, mut second) = (h.store(), h.store());
    let now = executor_core::time::now_ms();

    let WebhookClaim::Due(task) = first.claim_webhook(now, 20_000).expect("claim") else {
        panic!("the delivery is due");
    };
    assert_eq!((task.id, task.webhook_attempts), (id, 1));
    // The lease hides it from the other deliverer until it runs out.
    match second.claim_webhook(now, 20_000).expect("claim") {
        WebhookClaim::NotDue { due_ms } => assert_eq!(due_ms, now + 20_000),
        _ => panic!("the other claimer must not get it"),
    }
    // A crashed deliverer's lease runs out: someone else retries.
    let WebhookClaim::Due(task) = second.claim_webhook(now + 20_000, 20_000).expect("claim") else {
        panic!("due again after the lease");
    };
    assert_eq!(task.webhook_attempts, 2);
}

#[test]
fn concurrent_claimers_never_both_get_a_delivery() {
    let h = Harness::new(&with_webhook("http://127.0.0.1:9/hook"));
    let ids: Vec<TaskId> = (0..6).map(|_| ended_task(&h)).collect();
    let barrier = std::sync::Barrier::new(3);
    let now = executor_core::time::now_ms();
    let mut claimed: Vec<TaskId> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let mut store = h.store();
                    barrier.wait();
                    let mut mine = Vec::new();
                    // Bounded, so a broken lease fails the test instead of hanging it.
                    while mine.len() <= 6
                        && let WebhookClaim::Due(task) =
                            store.claim_webhook(now, 60_000).expect("claim")
                    {
                        mine.push(task.id);
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("claimer thread"))
            .collect()
    });
    claimed.sort();
    let mut expected = ids;
    expected.sort();
    assert_eq!(claimed, expected, "each delivery claimed exactly once");
}

#[test]
fn a_failed_attempt_is_retried_after_its_backoff_then_given_up() {
    let h = Harness::new(&with_webhook("http://127.0.0.1:9/hook"));
    let id = ended_task(&h);
    let mut store = h.store();
    let now = executor_core::time::now_ms();
    let WebhookClaim::Due(_) = store.claim_webhook(now, 20_000).expect("claim") else {
        panic!("due");
    };
    record_outcome(
        &mut store,
        &id,
        WebhookOutcome::Retry {
            at_ms: now + 2_000,
            error: "webhook answered HTTP 503".into(),
        },
    )
    .expect("record retry");
    let record = h.record(&id);
    assert_eq!(record.webhook_state.map(|s| s.as_str()), Some("pending"));
    assert_eq!(
        record.webhook_error.as_deref(),
        Some("webhook answered HTTP 503")
    );
    assert!(matches!(
        store.claim_webhook(now + 1_999, 20_000).expect("claim"),
        WebhookClaim::NotDue { due_ms } if due_ms == now + 2_000
    ));
    let WebhookClaim::Due(task) = store.claim_webhook(now + 2_000, 20_000).expect("claim") else {
        panic!("due after the backoff");
    };
    assert_eq!(task.webhook_attempts, 2);

    record_outcome(
        &mut store,
        &id,
        WebhookOutcome::GaveUp {
            error: "gone".into(),
        },
    )
    .expect("record give-up");
    let record = h.record(&id);
    assert_eq!(record.webhook_state.map(|s| s.as_str()), Some("failed"));
    assert!(matches!(
        store.claim_webhook(now + 1_000_000, 20_000).expect("claim"),
        WebhookClaim::Idle
    ));
    assert!(!store.has_pending_webhooks().expect("query"));
}

#[test]
fn deliver_to_a_closed_port_schedules_a_retry() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let h = Harness::new(&with_webhook(&format!("http://127.0.0.1:{port}/hook")));
    let id = ended_task(&h);
    let before = executor_core::time::now_ms();

    let delivered = h
        .manager()
        .deliver_webhooks(Duration::from_secs(5), false)
        .expect("deliver");
    assert_eq!(delivered, 0);
    let record = h.record(&id);
    assert_eq!(record.webhook_state.map(|s| s.as_str()), Some("pending"));
    assert_eq!(record.webhook_attempts, 1);
    assert!(record.webhook_error.is_some());
    // The retry waits for the first backoff step (1 s).
    match h.store().claim_webhook(before + 500, 1).expect("claim") {
        WebhookClaim::NotDue { due_ms } => assert!(due_ms >= before + 1_000, "{due_ms}"),
        _ => panic!("the retry must not be due at once"),
    }
}

#[test]
fn deliver_posts_each_completion_once() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let h = Harness::new(&with_webhook(&url));
    let id = ended_task(&h);

    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        conn.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Read the headers, then the body they announce.
        loop {
            let n = conn.read(&mut buf).expect("read");
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if request.len() >= end + 4 + length || n == 0 {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .expect("answer");
        String::from_utf8_lossy(&request).into_owned()
    });

    let delivered = h
        .manager()
        .deliver_webhooks(Duration::from_secs(5), false)
        .expect("deliver");
    let request = server.join().expect("server thread");
    assert_eq!(delivered, 1);
    assert!(request.starts_with("POST /hook "), "{request}");
    assert!(
        request.contains(&format!("\"task_id\": \"{id}\"")),
        "{request}"
    );
    let record = h.record(&id);
    assert_eq!(record.webhook_state.map(|s| s.as_str()), Some("delivered"));
    assert_eq!(record.webhook_attempts, 1);
    // Nothing left to send.
    assert_eq!(
        h.manager()
            .deliver_webhooks(Duration::from_secs(1), false)
            .expect("deliver"),
        0
    );
}
