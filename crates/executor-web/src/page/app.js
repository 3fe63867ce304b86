// openclaw-agent's page. Every value from a task, a host or a log is put in
// the document as text (textContent), never as markup.
"use strict";

const PAGE = 100;
const TOKEN_KEY = "openclaw-agent-token";
const $ = (id) => document.getElementById(id);

function takeToken() {
  const match = /(?:^#|&)token=([0-9a-f]{64})(?:&|$)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, match[1]);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

const token = takeToken();
// An address with a (new) token, pasted into an open page: start over with it.
window.addEventListener("hashchange", () => {
  if (/(?:^#|&)token=/.test(location.hash)) location.reload();
});
const state = {
  filter: { status: "", executor: "" },
  cursors: [""], // `before` of each page shown so far
  rows: new Map(), // task id -> <tr>
  task: null, // the id in the task view
  follow: null, // AbortController of the task view's stream
};

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = visible(text);
  if (cls) node.className = cls;
  return node;
}

function refuse(message) {
  $("app").hidden = true;
  const notice = $("auth");
  notice.textContent = message;
  notice.hidden = false;
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    refuse("The access token was refused. Open the address `openclaw-agent serve` printed.");
    throw new Error("unauthorized");
  }
  return response;
}

async function apiJson(path, options) {
  const response = await api(path, options);
  const body = await response.json().catch(() => ({ error: "unreadable answer" }));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// Reads a Server-Sent Events response, calling onEvent(name, data) per event.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}

// Control and bidirectional-override characters shown as escapes (as `logs`
// shows them), so a log cannot hide or reorder what it displays.
function visible(text) {
  return String(text).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => (c === "\u001b" ? "\\e" : "\\u{" + c.charCodeAt(0).toString(16) + "}"));
}

function money(value) {
  return typeof value === "number" ? "$" + value.toFixed(4) : "";
}

function age(created) {
  const seconds = Math.max(0, (Date.now() - Date.parse(created)) / 1000);
  if (seconds < 60) return Math.floor(seconds) + "s";
  if (seconds < 3600) return Math.floor(seconds / 60) + "m";
  if (seconds < 86400) return Math.floor(seconds / 3600) + "h";
  return Math.floor(seconds / 86400) + "d";
}

function agentName(task) {
  if (task.task_type === "shell_command") return "shell";
  return (task.agent && task.agent.model) || task.task_type;
}

function changes(task) {
  const result = task.result || task.diffstat;
  if (result && typeof result.insertions === "number") {
    return "+" + result.insertions + "/-" + (result.deletions || 0);
  }
  return "";
}

function fillRow(tr, task) {
  const cells = [
    el("td", task.task_id.slice(0, 13), "id"),
    el("td", task.status, "status s-" + task.status),
    el("td", task.executor),
    el("td", agentName(task)),
    el("td", task.summary, "what"),
    el("td", age(task.created_at), "age"),
    el("td", money(task.agent && task.agent.total_cost_usd), "num"),
    el("td", changes(task), "num"),
  ];
  cells[5].dataset.created = task.created_at;
  tr.replaceChildren(...cells);
  tr.dataset.id = task.task_id;
  tr.dataset.status = task.status;
}

function makeRow(task) {
  const tr = document.createElement("tr");
  fillRow(tr, task);
  tr.addEventListener("click", () => openTask(tr.dataset.id));
  state.rows.set(task.task_id, tr);
  return tr;
}

function matches(task) {
  return (!state.filter.status || task.status === state.filter.status) &&
    (!state.filter.executor || task.executor === state.filter.executor);
}

async function loadPage() {
  const before = state.cursors[state.cursors.length - 1];
  const query = new URLSearchParams({ limit: String(PAGE) });
  if (before) query.set("before", before);
  if (state.filter.status) query.set("status", state.filter.status);
  if (state.filter.executor) query.set("executor", state.filter.executor);
  const page = await apiJson("/api/tasks?" + query);
  const body = $("tasks").tBodies[0];
  state.rows.clear();
  body.replaceChildren(...page.tasks.map(makeRow));
  $("empty").hidden = page.tasks.length > 0;
  const first = (state.cursors.length - 1) * PAGE;
  $("page-info").textContent = page.total
    ? `${first + 1}–${first + page.tasks.length} of ${page.total}` : "";
  $("older").disabled = !page.next;
  $("older").dataset.next = page.next || "";
  $("newer").disabled = state.cursors.length < 2;
}

// A change from the event stream: update the row, or add a new task on top.
function applyTask(task) {
  const row = state.rows.get(task.task_id);
  if (row) {
    if (matches(task)) fillRow(row, task);
    else { row.remove(); state.rows.delete(task.task_id); }
  } else if (state.cursors.length === 1 && matches(task)) {
    const body = $("tasks").tBodies[0];
    body.insertBefore(makeRow(task), body.firstChild);
    while (body.rows.length > PAGE) {
      const last = body.rows[body.rows.length - 1];
      state.rows.delete(last.dataset.id);
      last.remove();
    }
    $("empty").hidden = true;
  }
  if (state.task === task.task_id) {
    showStatus(task);
    refreshFieldsSoon(task.task_id);
  }
}

let panelsDue = null;
function refreshPanelsSoon() {
  if (panelsDue) return;
  panelsDue = setTimeout(() => { panelsDue = null; loadExecutors(false); loadCosts(); }, 1000);
}

async function listen() {
  let connections = 0;
  for (;;) {
    try {
      const response = await api("/api/events");
      $("live").classList.add("on");
      $("live").textContent = "live";
      await readEvents(response, (name, data) => {
        // Events missed while reconnecting or reading too slowly: reload the page of tasks.
        if (name === "lagged" || (name === "hello" && connections++ > 0)) { loadPage(); return; }
        if (name === "removed") {
          const row = state.rows.get(data.task_id);
          if (row) { row.remove(); state.rows.delete(data.task_id); }
        } else if (data.task) {
          applyTask(data.task);
        }
        if (name !== "hello") refreshPanelsSoon();
      });
    } catch (err) {
      if (err.message === "unauthorized") return;
    }
    $("live").classList.remove("on");
    $("live").textContent = "reconnecting";
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function loadExecutors(check) {
  const list = await apiJson("/api/executors" + (check ? "?check=true" : ""));
  const body = $("executors").tBodies[0];
  const health = new Map([...body.rows].map((r) => [r.dataset.name, r.cells[5].textContent]));
  body.replaceChildren(...list.map((e) => {
    const tr = el("tr");
    tr.dataset.name = e.name;
    const known = e.check ? (e.check.ok ? "ok" : "problem: " + e.check.detail) : (health.get(e.name) || "…");
    const cell = el("td", known, e.check && !e.check.ok ? "error" : "");
    if (e.check) cell.title = e.check.detail;
    tr.append(el("td", e.name), el("td", e.type), el("td", e.running, "num"),
      el("td", e.queued, "num"), el("td", e.max_concurrent === null ? "∞" : e.max_concurrent, "num"), cell);
    return tr;
  }));
  const select = $("f-executor");
  const chosen = select.value;
  select.replaceChildren(el("option", "any"), ...list.map((e) => el("option", e.name)));
  select.options[0].value = "";
  select.value = chosen;
}

async function loadCosts() {
  const costs = await apiJson("/api/costs");
  $("cost-total").textContent = money(costs.total_usd);
  const rows = (list, key) => list.map((c) => {
    const tr = el("tr");
    tr.append(el("td", c[key]), el("td", c.tasks, "num"), el("td", money(c.cost_usd), "num"));
    return tr;
  });
  $("cost-executor").tBodies[0].replaceChildren(...rows(costs.by_executor, "executor"));
  $("cost-day").tBodies[0].replaceChildren(...rows(costs.by_day.slice().reverse(), "day"));
}

// The task view.

function showStatus(task) {
  const status = $("t-status");
  status.textContent = task.status;
  status.className = "status s-" + task.status;
}

async function openTask(id) {
  closeTask();
  state.task = id;
  $("app").classList.add("detail");
  $("task").hidden = false;
  $("t-title").textContent = id;
  $("t-error").hidden = true;
  const task = await loadFields(id);
  if (task) showTab(task.task_type === "shell_command" ? "log" : "activity");
}

// The task's fields, fetched again as its events arrive.
async function loadFields(id) {
  try {
    const task = await apiJson("/api/tasks/" + encodeURIComponent(id));
    if (state.task !== id) return null;
    showStatus(task);
    const fields = [
      ["executor", task.executor + " (" + task.executor_type + ")"],
      ["type", task.task_type],
      ["workspace", task.workspace],
      [task.prompt !== undefined ? "prompt" : "command", task.prompt !== undefined ? task.prompt : task.command],
      ["created", task.created_at], ["started", task.started_at], ["ended", task.ended_at],
      ["exit code", task.exit_code], ["reason", task.reason],
    ];
    if (task.agent) {
      const a = task.agent;
      fields.push(["agent", `${a.turns} turns · ${a.tool_calls} tool calls · ${a.input_tokens} in / ${a.output_tokens} out tokens`]);
      fields.push(["cost", money(a.total_cost_usd)]);
    }
    $("t-fields").replaceChildren(...fields.filter(([, v]) => v !== null && v !== undefined)
      .flatMap(([k, v]) => [el("dt", k), el("dd", v)]));
    $("t-fields").dataset.type = task.task_type;
    return task;
  } catch (err) {
    showError(err);
    return null;
  }
}

let fieldsDue = null;
function refreshFieldsSoon(id) {
  if (fieldsDue) return;
  fieldsDue = setTimeout(() => { fieldsDue = null; if (state.task === id) loadFields(id); }, 300);
}

function closeTask() {
  if (state.follow) state.follow.abort();
  state.follow = null;
  state.task = null;
  $("confirm").hidden = true;
  $("task").hidden = true;
  $("app").classList.remove("detail");
  $("t-output").replaceChildren();
  $("t-fields").replaceChildren();
}

function showError(err) {
  if (err.name === "AbortError") return;
  $("t-error").textContent = err.message;
  $("t-error").hidden = false;
}

async function showTab(tab) {
  const id = state.task;
  if (state.follow) state.follow.abort();
  for (const button of document.querySelectorAll(".tabs button")) {
    button.classList.toggle("on", button.dataset.tab === tab);
  }
  $("tab-activity").hidden = $("t-fields").dataset.type === "shell_command";
  const out = $("t-output");
  out.replaceChildren();
  out.dataset.tab = tab;
  if (tab === "diff") {
    const response = await api("/api/tasks/" + encodeURIComponent(id) + "/diff");
    const body = await response.json().catch(() => ({}));
    out.textContent = response.ok ? body.patch || "" : body.error || "no diff";
    return;
  }
  const controller = new AbortController();
  state.follow = controller;
  const format = tab === "activity" ? "activity" : "raw";
  try {
    const response = await api(`/api/tasks/${encodeURIComponent(id)}/log/follow?format=${format}&lines=500`,
      { signal: controller.signal });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.error || response.statusText);
    }
    await readEvents(response, (name, data) => {
      if (name === "log") {
        const text = data.lines ? data.lines.map((l) => l + "\n").join("") : data.text;
        out.append(document.createTextNode(visible(text)));
        out.scrollTop = out.scrollHeight;
      } else if (name === "end") {
        out.append(el("span", `\n— task ${data.status}` + (data.exit_code === null ? "" : ` (exit ${data.exit_code})`), "end"));
      } else if (name === "error") {
        showError(new Error(data.error));
      }
    });
  } catch (err) {
    showError(err);
  }
}

function ask(question, action) {
  $("confirm-text").textContent = question;
  $("confirm").hidden = false;
  $("confirm-yes").onclick = async () => {
    $("confirm").hidden = true;
    try { await action(); } catch (err) { showError(err); }
  };
}

function post(path, body) {
  return apiJson(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

function start() {
  if (!token) {
    refuse("No access token. Open the address `openclaw-agent serve` printed (it ends in #token=…).");
    return;
  }
  $("app").hidden = false;
  $("filters").addEventListener("change", () => {
    state.filter.status = $("f-status").value;
    state.filter.executor = $("f-executor").value;
    state.cursors = [""];
    loadPage();
  });
  $("older").addEventListener("click", () => { state.cursors.push($("older").dataset.next); loadPage(); });
  $("newer").addEventListener("click", () => { state.cursors.pop(); loadPage(); });
  $("close").addEventListener("click", closeTask);
  $("confirm-no").addEventListener("click", () => { $("confirm").hidden = true; });
  for (const button of document.querySelectorAll(".tabs button")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  $("kill").addEventListener("click", () => {
    const id = state.task;
    ask(`Kill task ${id} and its whole process tree?`, async () => {
      const task = await post(`/api/tasks/${encodeURIComponent(id)}/kill`, {});
      applyTask(task);
    });
  });
  $("cleanup").addEventListener("click", () => {
    const id = state.task;
    ask(`Remove task ${id}: its directory and its entry?`, async () => {
      await post(`/api/tasks/${encodeURIComponent(id)}/cleanup`, {});
      const row = state.rows.get(id);
      if (row) { row.remove(); state.rows.delete(id); }
      closeTask();
    });
  });
  setInterval(() => {
    for (const cell of document.querySelectorAll("td.age")) cell.textContent = age(cell.dataset.created);
  }, 5000);
  loadPage().then(() => {
    document.body.dataset.ready = "true";
    // The first page of tasks is on screen at the next frame (scripts/bench-web reads it).
    requestAnimationFrame(() => performance.mark("tasks-painted"));
  }, (err) => refuse(err.message));
  listen();
  loadExecutors(false).then(() => loadExecutors(true)).catch(() => {});
  loadCosts().catch(() => {});
}

start();
