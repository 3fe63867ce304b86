//! The page in a real headless Chromium, driven over WebDriver.

use std::time::Duration;

use serde_json::{Value, json};
use test_support::claude::{claude_binary, claude_env};
use test_support::webdriver::{Browser, Tripwire, png_content};
use test_support::{MockAnthropic, Script};

use super::{Served, session_members};
use crate::helpers::{TestEnv, eventually, process_alive};

const WAIT: Duration = Duration::from_secs(20);

/// Opens the page with the token and waits for the first page of tasks.
fn open(browser: &Browser, served: &Served) {
    browser.goto(&served.page_url());
    browser.wait_for(
        "the page to load",
        WAIT,
        "return document.body.dataset.ready",
    );
}

/// The status shown in the row of task `id`, or null.
fn row_status(browser: &Browser, id: &str) -> Value {
    browser.execute(
        "const r = document.querySelector(`tr[data-id=\"${arguments[0]}\"]`); \
         return r ? r.cells[1].textContent : null;",
        vec![json!(id)],
    )
}

fn wait_status(browser: &Browser, id: &str, status: &str) {
    let script = format!(
        "const r = document.querySelector('tr[data-id=\"{id}\"]'); \
         return r && r.cells[1].textContent === '{status}';"
    );
    browser.wait_for(&format!("task {id} to show {status}"), WAIT, &script);
}

fn open_task(browser: &Browser, id: &str) {
    browser.click(&format!("tr[data-id=\"{id}\"]"));
    browser.wait_for(
        "the task view",
        WAIT,
        "return !document.getElementById('task').hidden && \
         document.getElementById('t-fields').children.length > 0",
    );
}

fn save_screenshot(browser: &Browser, name: &str) -> std::path::PathBuf {
    let png = browser.screenshot();
    let (width, height, share) = png_content(&png);
    assert!(
        width == 1280 && height > 600,
        "the viewport is {width}x{height}"
    );
    assert!(
        share > 0.01,
        "{name}: the screenshot is blank ({share:.4} non-background)"
    );
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
    path
}

#[test]
fn the_page_needs_the_token() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let env = TestEnv::new();
    let id = env.run_task("echo private");
    env.wait_done(&id);
    let served = Served::serve(&env);

    browser.goto(&format!("{}/", served.base));
    let notice = browser.wait_for(
        "the refusal",
        WAIT,
        "const n = document.getElementById('auth'); return !n.hidden && n.textContent;",
    );
    assert!(
        notice.as_str().unwrap().contains("No access token"),
        "{notice}"
    );
    assert_eq!(row_status(&browser, &id), Value::Null);

    let wrong = "0".repeat(64);
    browser.goto(&format!("{}/#token={wrong}", served.base));
    // A new token in the address of an open page reloads it.
    browser.wait_for(
        "the refusal of a wrong token",
        WAIT,
        "const n = document.getElementById('auth'); \
         return !n.hidden && n.textContent.includes('refused');",
    );
    assert_eq!(row_status(&browser, &id), Value::Null);

    open(&browser, &served);
    assert_eq!(row_status(&browser, &id), "completed");
    // The token left the address bar for session storage, and no cookie was set.
    let kept = browser.execute(
        "return [location.hash, sessionStorage.getItem('openclaw-agent-token'), document.cookie]",
        vec![],
    );
    assert_eq!(kept, json!(["", served.token, ""]));
}

#[test]
fn a_cli_task_appears_live_turns_completed_and_is_shown() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let env = TestEnv::new();
    let served = Served::serve(&env);
    open(&browser, &served);
    // Marks this document: a reload would lose it.
    browser.execute("window.sameDocument = true", vec![]);

    let id = env.run_task("echo first; sleep 2; echo second");
    browser.wait_for(
        "the new task's row",
        WAIT,
        &format!("return document.querySelector('tr[data-id=\"{id}\"]')"),
    );
    let status = row_status(&browser, &id);
    assert!(status == "running" || status == "pending", "{status}");
    wait_status(&browser, &id, "completed");
    assert_eq!(browser.execute("return window.sameDocument", vec![]), true);
    let executors = browser.wait_for(
        "the executors panel",
        WAIT,
        "const r = document.querySelector('#executors tbody tr'); \
         return r && r.cells[5].textContent !== '…' && r.innerText;",
    );
    assert!(
        executors.as_str().unwrap().starts_with("local"),
        "{executors}"
    );
    let main = save_screenshot(&browser, "main");

    open_task(&browser, &id);
    let log = browser.wait_for(
        "the raw log",
        WAIT,
        "const o = document.getElementById('t-output'); \
         return o.textContent.includes('task completed') && o.textContent;",
    );
    assert!(
        log.as_str().unwrap().starts_with("first\nsecond\n"),
        "{log}"
    );
    let task = save_screenshot(&browser, "task");
    assert_ne!(std::fs::read(main).unwrap(), std::fs::read(task).unwrap());
}

#[test]
fn the_kill_button_ends_the_task_and_its_process_tree() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let env = TestEnv::new();
    let served = Served::serve(&env);
    let id = env.run_task("sleep 300 & sleep 300 & echo up; wait");
    let mut pid = 0;
    assert!(eventually(WAIT, || {
        pid = env.status(&id)["pid"].as_u64().unwrap_or(0) as u32;
        pid > 0 && session_members(pid).len() >= 3
    }));
    let tree = session_members(pid);
    open(&browser, &served);
    wait_status(&browser, &id, "running");
    open_task(&browser, &id);
    browser.click("#kill");
    // Nothing happens before the confirmation.
    let asked = browser.wait_for(
        "the confirmation",
        WAIT,
        "const c = document.getElementById('confirm'); return !c.hidden && c.textContent;",
    );
    assert!(asked.as_str().unwrap().contains(&id), "{asked}");
    assert!(tree.iter().all(|p| process_alive(*p)));
    browser.click("#confirm-yes");
    browser.wait_for(
        "the killed status",
        Duration::from_secs(30),
        "return document.getElementById('t-status').textContent === 'killed'",
    );
    for member in &tree {
        assert!(
            !process_alive(*member),
            "process {member} of the task survived"
        );
    }
    assert!(session_members(pid).is_empty());
    assert_eq!(env.status(&id)["status"], "killed");

    // Cleanup, after its own confirmation, removes the task.
    browser.click("#cleanup");
    browser.click("#confirm-yes");
    assert!(eventually(WAIT, || !env.task_dir(&id).exists()));
    browser.wait_for(
        "the list again",
        WAIT,
        "return document.getElementById('task').hidden",
    );
    assert_eq!(row_status(&browser, &id), Value::Null);
}

#[test]
fn hostile_task_text_is_shown_as_text() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let tripwire = Tripwire::start();
    let url = format!("http://127.0.0.1:{}/hit", tripwire.port);
    let env = TestEnv::new();
    let hostile = [
        "<script>alert(1)</script>".to_owned(),
        format!("<img src=\"{url}\" onerror=\"alert(2)\">"),
        "<img src=x onerror=alert(3)>".to_owned(),
        format!("<a href=\"javascript:alert(4)\">javascript:fetch(\"{url}\")</a>"),
        format!("<iframe src=\"{url}\"></iframe><svg onload=alert(5)>"),
    ];
    let mut ids = Vec::new();
    for text in &hostile {
        // The command echoes its own text (no single quote in it): the log holds it too.
        let command = format!("echo '{text}'");
        ids.push((env.run_task(&command), command));
    }
    for (id, _) in &ids {
        env.wait_done(id);
    }
    let served = Served::serve(&env);
    open(&browser, &served);
    for (id, command) in &ids {
        let shown = browser.execute(
            "return document.querySelector(`tr[data-id=\"${arguments[0]}\"]`).cells[4].textContent",
            vec![json!(id)],
        );
        assert_eq!(shown, json!(command));
    }
    // A bidi override or an escape sequence shows as an escape, as `logs` shows it.
    let tricky = env.run_task("echo 'invoice\u{202e}fdp.exe'; printf '\\033[31mred\\n'");
    env.wait_done(&tricky);
    browser.wait_for(
        "the escaped row",
        WAIT,
        &format!(
            "const r = document.querySelector('tr[data-id=\"{tricky}\"]'); \
             return r && r.cells[4].textContent === \"echo 'invoice\\\\u{{202e}}fdp.exe'; printf '\\\\033[31mred\\\\n'\";"
        ),
    );
    open_task(&browser, &tricky);
    browser.wait_for(
        "the escaped log",
        WAIT,
        "return document.getElementById('t-output').textContent.startsWith('invoice\\\\u{202e}fdp.exe\\n\\\\e[31mred\\n')",
    );
    browser.click("#close");

    let (id, command) = &ids[1];
    open_task(&browser, id);
    browser.wait_for(
        "the hostile log",
        WAIT,
        "return document.getElementById('t-output').textContent.includes('task completed')",
    );
    let text = browser.execute(
        "return [document.getElementById('t-fields').textContent, \
         document.getElementById('t-output').textContent]",
        vec![],
    );
    assert!(
        text[0].as_str().unwrap().contains(command.as_str()),
        "{text}"
    );
    assert!(text[1].as_str().unwrap().starts_with(&hostile[1]), "{text}");
    std::thread::sleep(Duration::from_millis(500));
    let elements = browser.execute(
        "return document.querySelectorAll('main script, main img, main iframe, main svg, main a').length",
        vec![],
    );
    assert_eq!(elements, 0, "markup from task text became elements");
    assert_eq!(browser.alert_text(), None, "a script from task text ran");
    assert_eq!(tripwire.hits(), 0, "the page fetched a URL from task text");
}

#[test]
fn an_agent_tool_call_shows_in_the_activity_view() {
    let mock = MockAnthropic::start(Script::bash_then_text(
        "echo agent-was-here > proof.txt",
        "All done.",
    ));
    let Some(claude) = claude_binary() else {
        return;
    };
    let Some(browser) = Browser::start() else {
        return;
    };
    let mut env = TestEnv::new();
    for (key, value) in claude_env(&mock.url()) {
        env.set_env(key, &value);
    }
    env.write_config(&format!(
        "executors:\n  - name: local\n    type: local\n    allow_root: true\n    claude_path: {}\n",
        claude.display()
    ));
    let served = Served::serve(&env);
    open(&browser, &served);
    let dispatched = served.post(
        "/api/tasks",
        &json!({"type": "agent", "executor": "local", "prompt": "Write the proof file."})
            .to_string(),
    );
    assert_eq!(dispatched.status, 201, "{}", dispatched.body);
    let id = dispatched.json()["task_id"].as_str().unwrap().to_owned();
    browser.wait_for(
        "the agent task's row",
        WAIT,
        &format!("return document.querySelector('tr[data-id=\"{id}\"]')"),
    );
    open_task(&browser, &id);
    let activity = browser.wait_for(
        "the tool call in the activity view",
        Duration::from_secs(90),
        "const o = document.getElementById('t-output'); \
         return o.dataset.tab === 'activity' && \
         o.textContent.includes('→ Bash: echo agent-was-here > proof.txt') && o.textContent;",
    );
    assert!(
        !activity.as_str().unwrap().contains("\"type\""),
        "{activity}"
    );
    wait_status(&browser, &id, "completed");
    assert_eq!(
        std::fs::read_to_string(env.work.join("proof.txt")).unwrap(),
        "agent-was-here\n"
    );
    save_screenshot(&browser, "agent-task");
}

#[test]
fn filters_and_pages() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let env = TestEnv::new();
    env.write_config("executors:\n  - name: other\n    type: local\n");
    let mut ids = Vec::new();
    for n in 0..120 {
        let (executor, command) = match n % 10 {
            0 => ("other", "exit 3"),
            _ => ("local", "true"),
        };
        let out = env.ok(&["run", "-e", executor, "--cmd", command]);
        ids.push(out.trim().to_owned());
    }
    for id in &ids {
        env.run(&["wait", "-t", id, "--timeout", "30"]);
    }
    let served = Served::serve(&env);
    open(&browser, &served);
    let rows = "return [document.querySelectorAll('#tasks tbody tr').length, \
                document.getElementById('page-info').textContent, \
                document.querySelector('#tasks tbody tr').dataset.id]";
    assert_eq!(
        browser.execute(rows, vec![]),
        json!([100, "1–100 of 120", ids[119]])
    );
    browser.click("#older");
    browser.wait_for(
        "the second page",
        WAIT,
        "return document.getElementById('page-info').textContent === '101–120 of 120'",
    );
    assert_eq!(
        browser.execute(rows, vec![]),
        json!([20, "101–120 of 120", ids[19]])
    );
    browser.click("#newer");
    browser.wait_for(
        "the first page again",
        WAIT,
        "return document.getElementById('page-info').textContent === '1–100 of 120'",
    );
    // The executor filter lists the configured executors; failed tasks of `other`.
    browser.wait_for(
        "the executor choices",
        WAIT,
        "return document.querySelectorAll('#f-executor option').length === 3",
    );
    browser.execute(
        "const s = document.getElementById('f-status'); s.value = 'failed'; \
         const e = document.getElementById('f-executor'); e.value = 'other'; \
         document.getElementById('filters').dispatchEvent(new Event('change'));",
        vec![],
    );
    browser.wait_for(
        "the filtered page",
        WAIT,
        "return document.getElementById('page-info').textContent === '1–12 of 12'",
    );
    let shown = browser.execute(
        "return [...document.querySelectorAll('#tasks tbody tr')].map(r => [r.dataset.id, r.cells[1].textContent, r.cells[2].textContent])",
        vec![],
    );
    let expected: Vec<Value> = ids
        .iter()
        .enumerate()
        .rev()
        .filter(|(n, _)| n % 10 == 0)
        .map(|(_, id)| json!([id, "failed", "other"]))
        .collect();
    assert_eq!(shown, Value::Array(expected));
}
