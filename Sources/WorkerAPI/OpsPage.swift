/// The operations page (SPEC section 9): one HTML document with its CSS and JavaScript inline,
/// served by the binary as is. No external resource, no build step: plain modern JavaScript that
/// reads the JSON routes of section 4 and `/ops/api/status`, every 5 seconds.
///
/// Safety: every value from the store (URLs, errors from receivers) goes into the page through
/// `textContent`, never as HTML; the token is only ever typed into the sign-in form, which posts
/// it to `/ops/login` (the session then lives in an `HttpOnly` cookie the script cannot read).
enum OpsPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>clipping-worker · operations</title>
<style>
:root {
  --bg: #f4f5f7; --panel: #fff; --ink: #1d2330; --muted: #677084; --line: #e3e6eb;
  --accent: #2456d6; --ok: #18864b; --warn: #b76e00; --bad: #c4302b; --chip: #eef1f6;
  font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); }
header { display: flex; align-items: center; gap: 16px; padding: 10px 18px; background: #1d2330; color: #fff; }
header h1 { font-size: 15px; margin: 0; font-weight: 600; letter-spacing: .2px; }
header .spacer { flex: 1; }
header .refresh { color: #c9cfdb; font-size: 12px; }
header .dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; background: #4ade80; margin-right: 6px; }
header .dot.stale { background: #f87171; }
header button { background: transparent; color: #fff; border: 1px solid #515a6e; border-radius: 4px; padding: 3px 10px; cursor: pointer; }
main { padding: 12px 18px 24px; display: grid; gap: 12px; grid-template-columns: repeat(12, 1fr); }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; min-width: 0; }
section h2 { font-size: 13px; margin: 0 0 8px; display: flex; align-items: baseline; gap: 8px; }
.scope { font-size: 10.5px; font-weight: 600; text-transform: uppercase; letter-spacing: .5px; padding: 1px 6px; border-radius: 10px; }
.scope.store { background: #e6edff; color: #2446a8; }
.scope.process { background: #fff1dc; color: #8a5200; }
.cli { margin-top: 8px; font: 11.5px/1.3 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: var(--muted); }
.cli code { background: var(--chip); padding: 1px 5px; border-radius: 3px; color: #39414f; }
.span-7 { grid-column: span 7; } .span-5 { grid-column: span 5; } .span-6 { grid-column: span 6; } .span-12 { grid-column: span 12; }
.kpis { display: grid; grid-template-columns: repeat(6, 1fr); gap: 8px; }
.kpi { background: var(--chip); border-radius: 6px; padding: 7px 9px; }
.kpi .label { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .4px; }
.kpi .value { font-size: 20px; font-weight: 650; font-variant-numeric: tabular-nums; }
.kpi.bad .value { color: var(--bad); } .kpi.warn .value { color: var(--warn); } .kpi.ok .value { color: var(--ok); }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th { text-align: left; font-size: 11px; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: .3px; border-bottom: 1px solid var(--line); padding: 4px 6px; }
td { border-bottom: 1px solid var(--line); padding: 4px 6px; vertical-align: top; }
tr:last-child td { border-bottom: 0; }
td.mono, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 11.5px; }
td.trunc { max-width: 200px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
td.nowrap { white-space: nowrap; }
.scroll { max-height: 230px; overflow: auto; }
.empty { color: var(--muted); padding: 8px 2px; }
.badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 11px; font-weight: 600; background: var(--chip); color: #39414f; }
.badge.delivered, .badge.closed, .badge.completed { background: #e2f5ea; color: var(--ok); }
.badge.failed, .badge.open, .badge.dropped, .badge.cancelled { background: #fde7e6; color: var(--bad); }
.badge.pending, .badge.probing, .badge.retrying, .badge.queued { background: #fff1dc; color: var(--warn); }
.bar { height: 6px; background: var(--chip); border-radius: 3px; overflow: hidden; min-width: 70px; }
.bar > span { display: block; height: 100%; background: var(--accent); }
tr.clickable { cursor: pointer; } tr.clickable:hover td { background: #f6f8fc; } tr.selected td { background: #eef3ff; }
button.act { background: var(--accent); color: #fff; border: 0; border-radius: 4px; padding: 3px 10px; cursor: pointer; font-size: 12px; }
button.act.danger { background: var(--bad); }
button.act:disabled { background: #aab3c5; cursor: default; }
button.ghost { background: #fff; border: 1px solid var(--line); border-radius: 4px; padding: 3px 10px; cursor: pointer; font-size: 12px; }
form.inline { display: flex; flex-wrap: wrap; gap: 6px; align-items: end; }
form.inline label { display: flex; flex-direction: column; font-size: 11px; color: var(--muted); gap: 2px; }
input, select { font: inherit; padding: 3px 6px; border: 1px solid #cfd5df; border-radius: 4px; background: #fff; }
.result { margin-top: 6px; min-height: 18px; }
.result.ok { color: var(--ok); } .result.bad { color: var(--bad); }
.timeline { list-style: none; margin: 0; padding: 0; }
.timeline li { border-left: 2px solid var(--line); margin-left: 6px; padding: 2px 0 6px 12px; position: relative; }
.timeline li::before { content: ""; position: absolute; left: -6px; top: 6px; width: 10px; height: 10px; border-radius: 50%; background: #c4cad6; }
.timeline li.delivered::before { background: var(--ok); } .timeline li.failed::before, .timeline li.dropped::before { background: var(--bad); }
.timeline li.pending::before { background: var(--warn); }
.attempts { margin: 3px 0 0; font-size: 11.5px; color: #39414f; }
.attempts td { padding: 1px 6px; border: 0; }
#login { position: fixed; inset: 0; background: rgba(20, 25, 35, .55); display: none; align-items: center; justify-content: center; }
#login.show { display: flex; }
#login form { background: #fff; border-radius: 10px; padding: 22px 24px; width: 340px; display: flex; flex-direction: column; gap: 10px; box-shadow: 0 10px 40px rgba(0,0,0,.25); }
#login h2 { margin: 0; font-size: 16px; }
#login p { margin: 0; color: var(--muted); }
#error-banner { display: none; grid-column: span 12; background: #fde7e6; color: var(--bad); border: 1px solid #f5c2c0; border-radius: 6px; padding: 6px 10px; }
#error-banner.show { display: block; }
</style>
</head>
<body>
<header>
  <h1>clipping-worker · operations</h1>
  <span class="spacer"></span>
  <span class="refresh"><span id="live-dot" class="dot"></span>refreshes every 5 s · updated <span id="updated">–</span></span>
  <form method="post" action="/ops/logout" id="logout-form" style="display:none"><button type="submit">Sign out</button></form>
</header>
<main>
  <div id="error-banner"></div>

  <section class="span-7" id="panel-outbox">
    <h2>Outbox <span class="scope store">store-wide</span></h2>
    <div class="kpis">
      <div class="kpi warn"><div class="label">pending</div><div class="value" id="depth-pending">–</div></div>
      <div class="kpi ok"><div class="label">delivered</div><div class="value" id="depth-delivered">–</div></div>
      <div class="kpi bad"><div class="label">failed</div><div class="value" id="depth-failed">–</div></div>
      <div class="kpi bad"><div class="label">dropped</div><div class="value" id="depth-dropped">–</div></div>
      <div class="kpi"><div class="label">superseded</div><div class="value" id="depth-superseded">–</div></div>
      <div class="kpi"><div class="label">oldest pending</div><div class="value" id="oldest-pending">–</div></div>
    </div>
    <div class="cli">CLI: <code>curl -s $CLIPPING_WORKER_URL/metrics | grep webhook_o</code></div>
  </section>

  <section class="span-5" id="panel-attempts">
    <h2>Attempts, last 5 minutes <span class="scope process">this process</span></h2>
    <div class="kpis" style="grid-template-columns: repeat(4, 1fr)">
      <div class="kpi"><div class="label">attempts/s</div><div class="value" id="attempts-rate">–</div></div>
      <div class="kpi"><div class="label">failure rate</div><div class="value" id="failure-rate">–</div></div>
      <div class="kpi"><div class="label">in flight</div><div class="value" id="in-flight">–</div></div>
      <div class="kpi"><div class="label">paused origins</div><div class="value" id="paused-origins">–</div></div>
    </div>
    <div class="cli">CLI: <code>clipping-worker deliveries tail -f</code></div>
  </section>

  <section class="span-7">
    <h2>Origins <span class="scope process">this process</span></h2>
    <div class="scroll"><table id="origins-table">
      <thead><tr><th>origin</th><th>breaker</th><th>success</th><th>attempts</th><th>in flight</th><th>waiting</th><th>last error</th></tr></thead>
      <tbody></tbody></table></div>
  </section>

  <section class="span-5">
    <h2>Head-of-line <span class="scope store">store-wide</span></h2>
    <div class="scroll"><table id="hol-table">
      <thead><tr><th>job</th><th>blocking event</th><th>state</th><th>attempts</th><th>next attempt</th><th>waiting</th></tr></thead>
      <tbody></tbody></table></div>
    <div class="cli">CLI: <code>clipping-worker deliveries list --job JOB</code></div>
  </section>

  <section class="span-6">
    <h2>Recent jobs <span class="scope store">store-wide</span></h2>
    <div class="scroll"><table id="jobs-table">
      <thead><tr><th>job</th><th>external id</th><th>status</th><th>progress</th><th>created</th></tr></thead>
      <tbody></tbody></table></div>
    <div class="cli">CLI: <code>clipping-worker jobs list -n 20</code></div>
  </section>

  <section class="span-6" id="panel-timeline">
    <h2>Job timeline <span class="scope store">store-wide</span> <span class="mono" id="timeline-job"></span></h2>
    <div class="scroll" style="max-height: 260px"><ul class="timeline" id="timeline"><li class="empty" style="border:0">Select a job to see its events and every attempt.</li></ul></div>
    <div class="cli">CLI: <code id="timeline-cli">clipping-worker deliveries list --job JOB</code></div>
  </section>

  <section class="span-7">
    <h2>Failed and dropped events <span class="scope store">store-wide</span></h2>
    <div class="scroll"><table id="failed-table">
      <thead><tr><th>event</th><th>job</th><th>state</th><th>attempts</th><th>last status</th><th>callback</th><th>stored</th><th></th></tr></thead>
      <tbody></tbody></table></div>
    <div class="result" id="redeliver-result"></div>
    <div class="cli">CLI: <code>clipping-worker deliveries redeliver EVENT_ID</code></div>
  </section>

  <section class="span-5">
    <h2>Bulk redelivery <span class="scope store">store-wide</span></h2>
    <form class="inline" id="bulk-form">
      <label>state<select id="bulk-state"><option>failed</option><option>dropped</option><option>superseded</option></select></label>
      <label>since<input id="bulk-since" size="6" placeholder="24h" value="24h"></label>
      <label>until<input id="bulk-until" size="6" placeholder="now"></label>
      <label>origin<input id="bulk-origin" size="22" placeholder="https://hooks.example.com"></label>
      <button type="button" class="ghost" id="bulk-count">Count</button>
      <button type="button" class="act" id="bulk-send" disabled>Redeliver</button>
    </form>
    <div class="result" id="bulk-result"></div>
    <div class="cli">CLI: <code id="bulk-cli">clipping-worker deliveries redeliver --state failed --since 24h --dry-run</code></div>
    <h2 style="margin-top:12px">Discard pending events <span class="scope store">store-wide</span></h2>
    <form class="inline" id="discard-form">
      <label>origin (receiver gone for good)<input id="discard-origin" size="26" placeholder="https://gone.example.com"></label>
      <button type="button" class="ghost" id="discard-count">Count</button>
      <button type="button" class="act danger" id="discard-send" disabled>Discard</button>
    </form>
    <div class="result" id="discard-result"></div>
    <div class="cli">CLI: <code id="discard-cli">clipping-worker deliveries discard --origin URL --dry-run</code></div>
  </section>
</main>

<div id="login">
  <form method="post" action="/ops/login" id="login-form">
    <h2>Sign in</h2>
    <p>This worker needs its API token (<span class="mono">CLIPPING_WORKER_API_TOKEN</span>). It is sent once; the page keeps a 12-hour session cookie, never the token.</p>
    <input type="password" name="token" id="token" autocomplete="current-password" placeholder="API token" required>
    <button type="submit" class="act">Sign in</button>
  </form>
</div>

<script>
"use strict";
const $ = (id) => document.getElementById(id);
let selectedJob = null;
let refreshing = false;

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "onclick") node.addEventListener("click", value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function badge(text) { return el("span", { class: "badge " + text }, text); }
function fill(tbody, rows, columns, emptyText) {
  tbody.replaceChildren();
  if (rows.length === 0) {
    tbody.append(el("tr", {}, el("td", { class: "empty", colspan: String(columns) }, emptyText)));
  } else {
    tbody.append(...rows);
  }
}
function shortID(id) { return id.length > 14 ? id.slice(0, 8) + "…" + id.slice(-5) : id; }
function age(seconds) {
  if (seconds === null || seconds === undefined) return "none";
  if (seconds < 90) return Math.round(seconds) + " s";
  if (seconds < 5400) return Math.round(seconds / 60) + " min";
  if (seconds < 172800) return (seconds / 3600).toFixed(1) + " h";
  return (seconds / 86400).toFixed(1) + " d";
}
function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  const diff = (Date.now() - date.getTime()) / 1000;
  if (diff > -60 && diff < 60) return diff >= 0 ? "just now" : "in " + Math.round(-diff) + " s";
  return diff > 0 ? age(diff) + " ago" : "in " + age(-diff);
}
function percent(rate) { return rate === null || rate === undefined ? "–" : (rate * 100).toFixed(rate < 0.1 && rate > 0 ? 1 : 0) + " %"; }

class Unauthorized extends Error {}
async function api(path, options) {
  const response = await fetch(path, Object.assign({ credentials: "same-origin", cache: "no-store" }, options || {}));
  if (response.status === 401) throw new Unauthorized();
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((body.error && body.error.message) || ("HTTP " + response.status));
  return body;
}
function post(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
}

function showError(message) {
  const banner = $("error-banner");
  banner.textContent = message || "";
  banner.classList.toggle("show", Boolean(message));
  $("live-dot").classList.toggle("stale", Boolean(message));
}

function renderStatus(status) {
  const depth = status.store.depth;
  for (const state of ["pending", "delivered", "failed", "dropped", "superseded"]) $("depth-" + state).textContent = (depth[state] || 0).toLocaleString();
  $("oldest-pending").textContent = age(status.store.oldest_pending_age_seconds);
  const process = status.process;
  $("attempts-rate").textContent = process.attempts_per_second.toFixed(process.attempts_per_second < 10 ? 2 : 0);
  $("failure-rate").textContent = percent(process.failure_rate);
  $("in-flight").textContent = process.attempts_in_flight;
  $("paused-origins").textContent = process.paused_origins;
  $("logout-form").style.display = status.token_required ? "" : "none";
  fill($("origins-table").tBodies[0], process.origins.map((o) => el("tr", {},
    el("td", { class: "mono trunc" }, o.origin),
    el("td", {}, badge(o.breaker)),
    el("td", {}, o.success_rate === undefined || o.success_rate === null ? "–" :
      el("div", { title: percent(o.success_rate) }, percent(o.success_rate), el("div", { class: "bar" }, el("span", { style: "width:" + Math.round(o.success_rate * 100) + "%" })))),
    el("td", {}, o.attempts),
    el("td", {}, o.in_flight),
    el("td", {}, o.waiting_jobs + o.parked_jobs),
    el("td", { class: "trunc", title: o.last_error || "" }, o.last_error ? o.last_error + " · " + when(o.last_error_at) : "–"))), 7, "No origin contacted in the last 10 minutes.");
  fill($("hol-table").tBodies[0], status.store.head_of_line.map((h) => el("tr", { class: "clickable", onclick: () => selectJob(h.job_id) },
    el("td", { class: "mono", title: h.job_id }, shortID(h.job_id)),
    el("td", { class: "mono", title: h.event_id }, h.event + " #" + h.sequence),
    el("td", {}, badge(h.state)),
    el("td", { title: h.last_error || "" }, h.attempts + (h.last_status_code ? " (" + h.last_status_code + ")" : "")),
    el("td", {}, when(h.next_attempt_at)),
    el("td", {}, h.waiting))), 6, "No job is waiting behind an earlier event.");
}

function renderJobs(jobs) {
  fill($("jobs-table").tBodies[0], jobs.map((job) => el("tr", {
      class: "clickable" + (job.job_id === selectedJob ? " selected" : ""), dataset: { jobId: job.job_id }, onclick: () => selectJob(job.job_id) },
    el("td", { class: "mono", title: job.job_id }, shortID(job.job_id)),
    el("td", { class: "trunc" }, job.external_job_id || "–"),
    el("td", {}, badge(job.status)),
    el("td", {}, el("div", { title: job.progress_percent + " %" }, job.progress_percent + " %", el("div", { class: "bar" }, el("span", { style: "width:" + job.progress_percent + "%" })))),
    el("td", {}, when(job.created_at)))), 5, "No jobs yet.");
}

function renderFailed(events) {
  fill($("failed-table").tBodies[0], events.map((e) => {
    const last = e.attempts[e.attempts.length - 1];
    return el("tr", { dataset: { eventId: e.event_id, jobId: e.job_id } },
      el("td", { class: "mono nowrap", title: e.event_id }, e.event + " #" + e.sequence),
      el("td", { class: "mono clickable", title: e.job_id, onclick: () => selectJob(e.job_id) }, shortID(e.job_id)),
      el("td", {}, badge(e.state)),
      el("td", {}, e.attempts.length),
      el("td", { title: (last && last.error) || e.final_reason || "" }, last && last.status_code ? last.status_code : (last && last.error ? "error" : "–")),
      el("td", { class: "mono trunc", title: e.callback_url }, e.callback_url),
      el("td", { class: "nowrap" }, when(e.created_at)),
      el("td", {}, el("button", { class: "act redeliver", type: "button", onclick: (event) => redeliver(e.event_id, event.target) }, "Redeliver")));
  }), 8, "No failed or dropped events. ");
}

async function renderTimeline() {
  if (!selectedJob) return;
  const body = await api("/ai-clipping/jobs/" + encodeURIComponent(selectedJob) + "/deliveries");
  $("timeline-job").textContent = selectedJob;
  $("timeline-cli").textContent = "clipping-worker deliveries list --job " + selectedJob;
  const items = body.events.map((e) => el("li", { class: e.state },
    el("div", {}, el("strong", {}, e.event), " #" + e.sequence + " ", badge(e.state), " ", el("span", { class: "mono" }, e.event_id)),
    e.attempts.length === 0 ? el("div", { class: "attempts" }, "no attempt yet") :
      el("table", { class: "attempts" }, ...e.attempts.map((a) => el("tr", {},
        el("td", {}, "#" + a.attempt), el("td", {}, new Date(a.started_at).toLocaleTimeString()),
        el("td", {}, a.status_code === null ? "–" : a.status_code), el("td", {}, a.duration_ms + " ms"),
        el("td", {}, badge(a.outcome)), el("td", {}, a.error || ""))))));
  $("timeline").replaceChildren(...(items.length ? items : [el("li", { class: "empty" }, "This job has no events.")]));
}

function selectJob(id) {
  selectedJob = id;
  for (const row of $("jobs-table").tBodies[0].rows) row.classList.toggle("selected", row.dataset.jobId === id);
  renderTimeline().catch(handleError);
}

async function redeliver(id, button) {
  button.disabled = true;
  const result = $("redeliver-result");
  try {
    await api("/deliveries/" + encodeURIComponent(id) + "/redeliver", { method: "POST" });
    result.className = "result ok";
    result.textContent = "Redelivery of " + id + " started (same webhook-id).";
    setTimeout(refresh, 700);
  } catch (error) {
    button.disabled = false;
    result.className = "result bad";
    result.textContent = "Redelivery failed: " + error.message;
    handleError(error);
  }
}

function bulkFilter() {
  const filter = { state: $("bulk-state").value };
  if ($("bulk-since").value.trim()) filter.since = $("bulk-since").value.trim();
  if ($("bulk-until").value.trim()) filter.until = $("bulk-until").value.trim();
  if ($("bulk-origin").value.trim()) filter.origin = $("bulk-origin").value.trim();
  return filter;
}
function bulkCLI(filter, dry) {
  let text = "clipping-worker deliveries redeliver --state " + filter.state;
  if (filter.since) text += " --since " + filter.since;
  if (filter.until) text += " --until " + filter.until;
  if (filter.origin) text += " --origin " + filter.origin;
  return text + (dry ? " --dry-run" : "");
}
let bulkCounted = null;
async function bulkCount() {
  const filter = bulkFilter();
  const result = $("bulk-result");
  $("bulk-cli").textContent = bulkCLI(filter, true);
  try {
    const body = await post("/deliveries/redeliver", Object.assign({ dry_run: true }, filter));
    const sendable = body.matched > 10000 ? 10000 - body.skipped_gone : body.matched - body.skipped_gone;
    bulkCounted = JSON.stringify(filter);
    result.className = "result";
    result.textContent = body.matched + " events match" + (body.skipped_gone ? ", " + body.skipped_gone + " skipped (callback gone)" : "") +
      (body.matched > 10000 ? "; at most 10,000 per call" : "") + ".";
    $("bulk-send").disabled = sendable <= 0;
    $("bulk-send").textContent = "Redeliver " + Math.max(0, sendable);
  } catch (error) {
    result.className = "result bad";
    result.textContent = error.message;
    handleError(error);
  }
}
async function bulkSend() {
  const filter = bulkFilter();
  if (JSON.stringify(filter) !== bulkCounted) { await bulkCount(); return; }
  $("bulk-send").disabled = true;
  $("bulk-cli").textContent = bulkCLI(filter, false);
  try {
    const body = await post("/deliveries/redeliver", filter);
    $("bulk-result").className = "result ok";
    $("bulk-result").textContent = "Redelivered " + body.redelivered + " of " + body.matched + " matching events" +
      (body.skipped_gone ? " (" + body.skipped_gone + " skipped: callback gone)" : "") + ".";
    bulkCounted = null;
    setTimeout(refresh, 700);
  } catch (error) {
    $("bulk-result").className = "result bad";
    $("bulk-result").textContent = error.message;
    handleError(error);
  }
}

let discardCounted = null;
function discardFilter() {
  const filter = { state: "pending" };
  if ($("discard-origin").value.trim()) filter.origin = $("discard-origin").value.trim();
  return filter;
}
async function discardCount() {
  const filter = discardFilter();
  $("discard-cli").textContent = "clipping-worker deliveries discard" + (filter.origin ? " --origin " + filter.origin : "") + " --dry-run";
  try {
    const body = await post("/deliveries/discard", Object.assign({ dry_run: true }, filter));
    discardCounted = JSON.stringify(filter);
    $("discard-result").className = "result";
    $("discard-result").textContent = body.matched + " pending events match" + (filter.origin ? "" : " (no origin: every pending event)") + ".";
    $("discard-send").disabled = body.matched === 0;
    $("discard-send").textContent = "Discard " + Math.min(body.matched, 10000);
  } catch (error) {
    $("discard-result").className = "result bad";
    $("discard-result").textContent = error.message;
    handleError(error);
  }
}
async function discardSend() {
  const filter = discardFilter();
  if (JSON.stringify(filter) !== discardCounted) { await discardCount(); return; }
  $("discard-send").disabled = true;
  try {
    const body = await post("/deliveries/discard", filter);
    $("discard-result").className = "result ok";
    $("discard-result").textContent = "Discarded " + body.discarded + " of " + body.matched + " pending events.";
    discardCounted = null;
    setTimeout(refresh, 700);
  } catch (error) {
    $("discard-result").className = "result bad";
    $("discard-result").textContent = error.message;
    handleError(error);
  }
}

function handleError(error) {
  if (error instanceof Unauthorized) {
    $("login").classList.add("show");
    $("token").focus();
    return;
  }
  showError("Could not refresh: " + error.message);
}

async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    const [status, jobs, failed, dropped] = await Promise.all([
      api("/ops/api/status"),
      api("/ai-clipping/jobs?limit=20"),
      api("/deliveries?state=failed&limit=50"),
      api("/deliveries?state=dropped&limit=50"),
    ]);
    $("login").classList.remove("show");
    renderStatus(status);
    renderJobs(jobs.jobs);
    renderFailed(failed.events.concat(dropped.events).sort((a, b) => (a.created_at < b.created_at ? 1 : -1)).slice(0, 60));
    if (!selectedJob && jobs.jobs.length) selectedJob = jobs.jobs[0].job_id;
    await renderTimeline();
    showError(null);
    $("updated").textContent = new Date().toLocaleTimeString();
  } catch (error) {
    handleError(error);
  } finally {
    refreshing = false;
  }
}

for (const id of ["bulk-state", "bulk-since", "bulk-until", "bulk-origin"]) $(id).addEventListener("input", () => { $("bulk-send").disabled = true; bulkCounted = null; });
$("discard-origin").addEventListener("input", () => { $("discard-send").disabled = true; discardCounted = null; });
$("bulk-count").addEventListener("click", bulkCount);
$("bulk-send").addEventListener("click", bulkSend);
$("discard-count").addEventListener("click", discardCount);
$("discard-send").addEventListener("click", discardSend);
refresh();
setInterval(refresh, 5000);
</script>
</body>
</html>
"""#
}
