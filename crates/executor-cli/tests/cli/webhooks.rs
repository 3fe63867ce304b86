//! Completion webhooks: delivered once, retried after a failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::{TestEnv, eventually};

#[derive(Debug, Clone)]
struct Received {
    status_sent: u16,
    headers: Vec<(String, String)>,
    body: serde_json::Value,
    /// When the request was read, in seconds since the epoch.
    at: f64,
}

/// A one-thread HTTP listener on loopback that answers the first `failures`
/// requests with 500, then 200, and records every request.
fn listener(failures: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", server.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in server.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut headers = Vec::new();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap_or(0);
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                if let Some((k, v)) = header.split_once(':') {
                    let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    if k == "content-length" {
                        length = v.parse().unwrap_or(0);
                    }
                    headers.push((k, v));
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).ok();
            let mut log = log.lock().unwrap();
            let status = if log.len() < failures { 500 } else { 200 };
            log.push(Received {
                status_sent: status,
                headers,
                body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                at: epoch_seconds(),
            });
            drop(log);
            let reply =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            stream.write_all(reply.as_bytes()).ok();
        }
    });
    (url, received)
}

fn epoch_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The supervisor waits on local runners between rounds: a local task's
/// webhook goes out as it ends, long before the next round.
#[test]
fn the_supervisor_announces_a_local_end_at_once() {
    let env = TestEnv::new();
    let (url, received) = listener(0);
    env.write_config(&format!("defaults:\n  webhook_url: {url}\n"));
    let mut daemon = env.command(&["daemon", "--interval", "10"]);
    daemon.stdout(std::process::Stdio::null());
    daemon.stderr(std::process::Stdio::null());
    let mut daemon = daemon.spawn().unwrap();
    let marker = env.home().join("ended");
    let mut ends = Vec::new();
    for _ in 0..3 {
        let _ = std::fs::remove_file(&marker);
        // Started after the daemon's first round: only its wait between rounds sees it.
        std::thread::sleep(Duration::from_millis(300));
        let id = env.run_task(&format!("sleep 1; date +%s.%N > {}", marker.display()));
        assert!(
            eventually(Duration::from_secs(8), || {
                received
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|r| r.body["task_id"] == id.as_str())
            }),
            "no webhook for {id} within 8 s (the interval is 10 s)"
        );
        let ended: f64 = std::fs::read_to_string(&marker)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let at = received
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.body["task_id"] == id.as_str())
            .unwrap()
            .at;
        ends.push(at - ended);
    }
    crate::helpers::kill_pid(daemon.id(), libc::SIGKILL);
    let _ = daemon.wait();
    ends.sort_by(f64::total_cmp);
    // The goal is 250 ms (scripts/bench measures it); a loaded test machine gets slack.
    assert!(ends[1] < 1.0, "webhooks {ends:?} s after the ends");
}

#[test]
fn webhook_is_retried_then_delivered_once() {
    let env = TestEnv::new();
    let (url, received) = listener(1);
    env.write_config(&format!("defaults:\n  webhook_url: {url}\n"));
    let id = env.run_task("exit 5");
    assert_eq!(env.run(&["wait", "--task-id", &id]).code, 5);

    assert!(
        eventually(Duration::from_secs(20), || {
            received
                .lock()
                .unwrap()
                .iter()
                .any(|r| r.status_sent == 200)
        }),
        "webhook never delivered: {:?}",
        received.lock().unwrap()
    );
    // More commands noticing the same task must not send it again.
    env.ok(&["list"]);
    env.ok(&["status", "--task-id", &id]);
    std::thread::sleep(Duration::from_secs(2));
    let received = received.lock().unwrap().clone();
    assert_eq!(
        received.len(),
        2,
        "one failed attempt, one delivery: {received:?}"
    );
    assert_eq!(received[0].status_sent, 500);
    for request in &received {
        assert_eq!(request.body["task_id"], id.as_str());
        assert_eq!(request.body["status"], "failure");
        assert_eq!(request.body["exit_code"], 5);
        assert_eq!(request.body["executor"], "local");
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("content-type").as_deref(), Some("application/json"));
        assert_eq!(header("x-openclaw-delivery").as_deref(), Some(id.as_str()));
    }
    // The body is the completion record.
    assert_eq!(Some(received[1].body.clone()), env.completion(&id));
    let status = env.status(&id);
    assert_eq!(status["webhook"]["state"], "delivered", "{status}");
    assert_eq!(status["webhook"]["attempts"], 2);
}

#[test]
fn every_task_is_announced_once() {
    let env = TestEnv::new();
    let (url, received) = listener(0);
    env.write_config(&format!("defaults:\n  webhook_url: {url}\n"));
    let ids: Vec<String> = (0..5).map(|i| env.run_task(&format!("exit {i}"))).collect();
    for id in &ids {
        env.run(&["wait", "--task-id", id]);
    }
    assert!(eventually(Duration::from_secs(20), || received
        .lock()
        .unwrap()
        .len()
        >= 5));
    std::thread::sleep(Duration::from_secs(1));
    env.ok(&["list"]);
    std::thread::sleep(Duration::from_secs(1));
    let received = received.lock().unwrap();
    let mut announced: Vec<String> = received
        .iter()
        .map(|r| r.body["task_id"].as_str().unwrap().to_owned())
        .collect();
    announced.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(announced, expected);
}
