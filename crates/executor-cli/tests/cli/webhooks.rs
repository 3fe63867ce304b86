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
            });
            drop(log);
            let reply =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            stream.write_all(reply.as_bytes()).ok();
        }
    });
    (url, received)
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
