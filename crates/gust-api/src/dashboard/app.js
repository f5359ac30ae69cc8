"use strict";
// gust's dashboard: hash-routed views over gust's read-only endpoints. Every
// view is a function (root, params) that draws into `root` and may register
// live refreshers with `every`, which stop when the view changes.

// ------------------------------------------------------------------ helpers

const CHART_WINDOW = 300; // seconds of history the charts show
const CHART_STEP = 5;

// Fetches one of gust's endpoints as JSON. The header tells gust the request
// comes from this page, so that when it needs credentials the answer is a
// challenge the browser answers with the ones it holds.
async function api(path) {
  const resp = await fetch(path, {
    headers: { "x-gust-dashboard": "1" }, credentials: "same-origin", signal: viewSignal.signal,
  });
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
  if (!resp.ok) {
    const why = (body && (body.message || body.Message)) || text || resp.statusText;
    throw new Error(`${resp.status}: ${why}`);
  }
  setStatus(true);
  return body;
}

// el("td", {class: "num"}, "3") — text children are text nodes, never HTML.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function table(headers, rows, empty) {
  if (!rows.length) return el("p", { class: "muted" }, empty || "None.");
  return el("div", { class: "table" }, el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h) =>
      el("th", { class: h.startsWith("#") ? "num" : null }, h.replace(/^#/, ""))))),
    el("tbody", {}, rows)));
}

function panel(title, ...content) {
  return el("section", { class: "panel" }, title ? el("h2", {}, title) : null, ...content);
}

function tag(text, kind) { return el("span", { class: kind ? `tag ${kind}` : "tag" }, text); }

function statusTag(status) {
  const s = String(status || "").toLowerCase();
  const kind = ["succeeded", "success", "ok"].includes(s) ? "ok"
    : ["failed", "timed_out", "aborted", "expired"].includes(s) ? "bad"
      : ["running", "queued"].includes(s) ? "warn" : null;
  return tag(status, kind);
}

function when(ms) {
  if (!ms) return "–";
  const d = new Date(ms);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

// "2026-12-04T18:33:55.616+0000" (Lambda's LastModified) or "...616Z" (gust's
// own timestamps, UTC both) as "2026-12-04 18:33:55".
function shortTime(text) { return String(text || "").slice(0, 19).replace("T", " "); }

// A long URL with its middle (the URL id, mostly) elided.
function abbreviated(text) { return text.length > 44 ? `${text.slice(0, 30)}…${text.slice(-10)}` : text; }

function gb(mb) { return (mb / 1024).toFixed(mb && mb < 1024 ? 2 : 1); }

function functionLink(name) { return el("a", { href: `#/functions/${encodeURIComponent(name)}` }, name); }

// A queue's ARN as its name, a function's as "function:NAME[:QUALIFIER]".
function shortArn(arn) {
  const parts = String(arn || "").split(":");
  if (parts[2] === "sqs") return parts.slice(5).join(":");
  return parts.length > 6 ? parts.slice(6).join(":") : parts.slice(-2).join(":");
}

function failure(root, err) {
  root.replaceChildren(el("p", { class: "error" }, `Could not load: ${err.message}`));
}

function setStatus(ok, why) {
  const s = document.getElementById("status");
  if (!s) return;
  s.className = ok ? "status" : "status down";
  s.textContent = ok ? `live · ${new Date().toLocaleTimeString()}` : `unreachable: ${why}`;
}

// ------------------------------------------------------------------ live refresh

let timers = [];
// Aborted when the view changes, so that a long poll of the old view ends with it.
let viewSignal = new AbortController();

// Runs `fn` now and then every `ms` while the view lasts; a run waits for the
// previous one, so a slow server is never asked twice at once.
function every(ms, fn) {
  let busy = false;
  const run = async () => {
    if (busy) return;
    busy = true;
    try { await fn(); } catch (e) {
      if (e.name !== "AbortError") setStatus(false, e.message);
    } finally { busy = false; }
  };
  timers.push(setInterval(run, ms));
  return run();
}

function stopTimers() {
  timers.forEach(clearInterval);
  timers = [];
  viewSignal.abort();
  viewSignal = new AbortController();
}

// ------------------------------------------------------------------ charts

// Four live charts of a series (every function's when `fn` is absent).
function seriesCharts(fn) {
  const boxes = {
    rate: el("div", { class: "chart", "data-chart": "invocations" }),
    latency: el("div", { class: "chart", "data-chart": "latency" }),
    errors: el("div", { class: "chart", "data-chart": "errors" }),
    cold: el("div", { class: "chart", "data-chart": "cold-starts" }),
  };
  const grid = el("div", { class: "charts" }, Object.values(boxes));
  const query = `window=${CHART_WINDOW}&step=${CHART_STEP}` + (fn ? `&function=${encodeURIComponent(fn)}` : "");
  const span = `-${CHART_WINDOW / 60} min`;
  const update = async () => {
    const s = await api(`/gust/v1/series?${query}`);
    const pts = s.points;
    const last = pts.length - 1;
    const seconds = (i) => (i === last ? Math.max(1, s.lastPointSeconds) : s.stepSeconds);
    const sum = (k) => pts.reduce((a, p) => a + p[k], 0);
    const rate = pts.map((p, i) => p.invocations / seconds(i));
    Charts.line(boxes.rate, {
      title: "Invocations / s", span, now: rate[last], total: sum("invocations"),
      series: [{ label: "invocations/s", color: "#1d4ed8", values: rate }],
    });
    const pick = (k) => pts.map((p) => (p[k] === undefined ? null : p[k]));
    Charts.line(boxes.latency, {
      title: "Duration", unit: "ms", span, now: pts[last].p99Ms,
      total: pts.filter((p) => p.p50Ms !== undefined).length,
      series: [
        { label: "p50", color: "#15803d", values: pick("p50Ms") },
        { label: "p90", color: "#b45309", values: pick("p90Ms") },
        { label: "p99", color: "#b91c1c", values: pick("p99Ms") },
      ],
    });
    Charts.line(boxes.errors, {
      title: `Errors and throttles / ${s.stepSeconds} s`, span, now: pts[last].errors, total: sum("errors"),
      series: [
        { label: "errors", color: "#b91c1c", values: pts.map((p) => p.errors) },
        { label: "throttles", color: "#7c3aed", values: pts.map((p) => p.throttles) },
      ],
    });
    Charts.line(boxes.cold, {
      title: `Cold starts / ${s.stepSeconds} s`, span, now: pts[last].coldStarts, total: sum("coldStarts"),
      series: [{ label: "cold starts", color: "#0891b2", values: pts.map((p) => p.coldStarts) }],
    });
  };
  return { node: grid, update };
}

// ------------------------------------------------------------------ views

// "2 busy · 1 warm · 3 frozen": the states that have instances.
function instanceStates(states) {
  if (!states) return null;
  const parts = ["busy", "warm", "frozen", "starting"]
    .filter((k) => states[k] > 0)
    .map((k) => `${states[k]} ${k}`);
  return parts.length ? parts.join(" · ") : null;
}

async function overviewView(root) {
  const stats = el("div", { class: "stats" });
  const charts = seriesCharts(null);
  const list = el("div");
  root.replaceChildren(el("h1", {}, "Overview"), stats, charts.node, panel("Functions", list));
  every(2000, charts.update);
  every(5000, async () => {
    const [health, overview] = await Promise.all([api("/gust/v1/health"), api("/gust/v1/overview")]);
    const stat = (label, value, detail) => el("div", { class: "stat" },
      el("div", { class: "label" }, label), el("div", { class: "value" }, value),
      detail ? el("div", { class: "detail" }, detail) : null);
    const total = overview.functions.reduce((a, f) => a + f.invocations, 0);
    stats.replaceChildren(
      stat("Functions", overview.functions.length),
      stat("Invocations since start", total),
      stat("Instances", health.instances, instanceStates(health.instanceStates)),
      stat("Memory reserved, GB", `${gb(health.reservedMemoryMb)} / ${gb(health.capacityMemoryMb)}`),
      stat("Isolation", health.isolation),
      stat("gust", health.version));
    list.replaceChildren(table(
      ["Name", "Runtime", "#Memory", "#Timeout", "#Versions", "Aliases", "URL", "#Invocations", "Last modified"],
      overview.functions.map((f) => {
        const c = f.configuration;
        return el("tr", { "data-function": c.FunctionName, "data-invocations": f.invocations },
          el("td", { class: "nowrap" }, functionLink(c.FunctionName)),
          el("td", {}, c.Runtime || c.PackageType || ""),
          el("td", { class: "num" }, `${c.MemorySize} MB`),
          el("td", { class: "num" }, `${c.Timeout} s`),
          el("td", { class: "num" }, f.versions.length),
          el("td", {}, f.aliases.map((a) => tag(`${a.Name} → ${a.FunctionVersion}`))),
          el("td", {}, f.urls.map((u) => el("a", { href: u.FunctionUrl, target: "_blank", rel: "noreferrer", title: u.FunctionUrl },
            abbreviated(u.FunctionUrl)))),
          el("td", { class: "num invocations" }, f.invocations),
          el("td", { class: "nowrap" }, shortTime(c.LastModified)));
      }),
      "No functions yet: deploy one with `gust deploy` or an AWS SDK."));
  });
}

async function functionView(root, name) {
  const details = el("div");
  const charts = seriesCharts(name);
  const logs = el("pre", { class: "logs", "data-logs": name });
  const asyncList = el("div");
  root.replaceChildren(el("h1", {}, name), details, charts.node,
    panel("Logs (followed live)", logs), panel("Asynchronous invocations", asyncList));
  every(2000, charts.update);
  every(5000, async () => {
    const overview = await api("/gust/v1/overview");
    const f = overview.functions.find((x) => x.configuration.FunctionName === name);
    if (!f) { details.replaceChildren(el("p", { class: "error" }, `No function named ${name}.`)); return; }
    const c = f.configuration;
    const env = Object.keys((c.Environment && c.Environment.Variables) || {});
    const kv = (pairs) => el("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    details.replaceChildren(el("div", { class: "cols" },
      panel("Configuration", kv([
        ["ARN", el("code", {}, c.FunctionArn)],
        ["Runtime", c.Runtime || "–"], ["Handler", c.Handler || "–"],
        ["Memory", `${c.MemorySize} MB`], ["Timeout", `${c.Timeout} s`],
        ["Architecture", (c.Architectures || []).join(", ")],
        ["Code", `${c.CodeSize} bytes, sha256 ${c.CodeSha256}`],
        ["Reserved concurrency", f.reservedConcurrency ?? "unreserved"],
        ["Environment", env.length ? env.join(", ") : "–"],
        ["State", c.State || "–"], ["Last modified", c.LastModified],
        ["Invocations since start", el("span", { class: "invocations" }, f.invocations)],
      ])),
      el("div", {},
        panel("Versions", table(["#Version", "Description", "Code sha256", "Last modified"],
          f.versions.map((v) => el("tr", {}, el("td", { class: "num" }, v.Version),
            el("td", {}, v.Description || ""), el("td", {}, el("code", {}, v.CodeSha256)),
            el("td", {}, v.LastModified))), "Only $LATEST.")),
        panel("Aliases", table(["Name", "Version", "Routing"],
          f.aliases.map((a) => el("tr", {}, el("td", {}, a.Name), el("td", {}, a.FunctionVersion),
            el("td", {}, Object.entries((a.RoutingConfig && a.RoutingConfig.AdditionalVersionWeights) || {})
              .map(([v, w]) => `${Math.round(w * 100)}% → ${v}`).join(", ") || "–"))), "No aliases.")),
        panel("Function URLs", table(["URL", "Auth", "Qualifier"],
          f.urls.map((u) => el("tr", {},
            el("td", {}, el("a", { href: u.FunctionUrl, target: "_blank", rel: "noreferrer" }, u.FunctionUrl)),
            el("td", {}, u.AuthType), el("td", {}, shortArn(u.FunctionArn)))), "No URL.")))));
  });
  every(3000, async () => {
    const [r, overview] = await Promise.all([
      api(`/gust/v1/functions/${encodeURIComponent(name)}/async?limit=20`), api("/gust/v1/overview")]);
    const f = overview.functions.find((x) => x.configuration.FunctionName === name);
    asyncList.replaceChildren(f ? asyncSettings(f) : "", asyncTable(r.invocations));
  });
  followLogs(name, logs);
}

// Follows a function's log: reads on from where it left off, each read a long
// poll that gust answers as soon as there are new lines, keeping the last lines.
function followLogs(name, box) {
  const KEEP = 500;
  let after = 0;
  every(250, async () => {
    for (;;) {
      const wait = after ? 20 : 0;
      const r = await api(`/gust/v1/functions/${encodeURIComponent(name)}/logs?after=${after}&limit=1000&wait=${wait}`);
      const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
      for (const e of r.events) {
        const system = /^(START|END|REPORT|INIT_START) /.test(e.message);
        box.append(el("div", { class: system ? "sys" : null, "data-seq": e.seq },
          el("time", {}, new Date(e.timestamp).toLocaleTimeString()), e.message));
      }
      while (box.childElementCount > KEEP) box.firstElementChild.remove();
      if (atBottom) box.scrollTop = box.scrollHeight;
      after = r.nextSeq;
      if (r.events.length < 1000) break;
    }
    if (!box.childElementCount) box.replaceChildren(el("span", { class: "muted" }, "No output yet."));
    else box.querySelector(":scope > span.muted")?.remove();
  });
}

// A function's retry policy and where failed events go, per qualifier.
function asyncSettings(f) {
  const dlq = f.configuration.DeadLetterConfig && f.configuration.DeadLetterConfig.TargetArn;
  const rows = f.eventInvokeConfigs.map((c) => {
    const d = c.DestinationConfig || {};
    const to = (x) => (x && x.Destination ? shortArn(x.Destination) : "–");
    return el("tr", {}, el("td", {}, c.FunctionArn.split(":").length > 7 ? c.FunctionArn.split(":").pop() : "$LATEST"),
      el("td", { class: "num" }, c.MaximumRetryAttempts ?? 2),
      el("td", { class: "num" }, `${c.MaximumEventAgeInSeconds ?? 21600} s`),
      el("td", {}, to(d.OnSuccess)), el("td", {}, to(d.OnFailure)));
  });
  return el("div", { class: "async-settings" },
    rows.length ? table(["Qualifier", "#Retries", "#Maximum event age", "On success", "On failure"], rows)
      : el("p", { class: "muted" }, "Default retry policy: 2 retries, events kept up to 6 hours."),
    el("p", {}, "Dead-letter queue: ", dlq ? el("code", {}, shortArn(dlq)) : "none"));
}

function asyncTable(invocations) {
  return table(["Request id", "Status", "#Attempts", "Accepted", "Finished", "Last error", "Record went to"],
    invocations.map((i) => el("tr", { "data-request-id": i.requestId },
      el("td", { class: "nowrap" }, el("code", {}, i.requestId)), el("td", {}, statusTag(i.status)),
      el("td", { class: "num" }, i.attempts), el("td", { class: "nowrap" }, shortTime(i.acceptedAt)),
      el("td", { class: "nowrap" }, i.finishedAt ? shortTime(i.finishedAt) : "–"),
      el("td", {}, i.lastError || ""), el("td", {}, i.destination ? shortArn(i.destination) : ""))),
    "No asynchronous invocations.");
}

// One message of a built-in queue: an invocation record (a destination's) or a
// dead letter (the original event, with the request id and error as attributes).
function queueRow(msg) {
  const a = msg.messageAttributes || {};
  let record = null;
  try { record = JSON.parse(msg.body); } catch (_) { record = null; }
  const ctx = record && record.requestContext;
  const attr = (k) => (a[k] ? a[k].stringValue : "");
  const requestId = attr("RequestID") || (ctx && ctx.requestId) || msg.messageId;
  const kind = ctx ? `${ctx.condition}, ${ctx.approximateInvokeCount} attempt${ctx.approximateInvokeCount === 1 ? "" : "s"}`
    : attr("RequestID") ? "dead letter" : "message";
  const payload = record && record.responsePayload;
  const error = attr("ErrorMessage") || (payload && payload.errorMessage) || "";
  const body = msg.body.length > 200 ? `${msg.body.slice(0, 200)}…` : msg.body;
  return el("tr", { "data-request-id": requestId }, el("td", { class: "nowrap" }, shortTime(msg.sentAt)),
    el("td", { class: "nowrap" }, el("code", {}, requestId)),
    el("td", {}, tag(kind, ctx ? (ctx.condition === "Success" ? "ok" : "bad") : attr("RequestID") ? "bad" : null)),
    el("td", {}, error), el("td", { class: "body" }, el("code", {}, body)));
}

async function asyncView(root) {
  const queues = el("div");
  const recent = el("div");
  root.replaceChildren(el("h1", {}, "Async queues, retries and dead letters"),
    panel("Queues (destinations and dead-letter queues)", queues), panel("Recent asynchronous invocations", recent));
  // Each queue is read on from where the last read ended; the newest messages stay.
  const KEEP = 50;
  const seen = new Map(); // queue name -> { after, messages }
  every(3000, async () => {
    const q = await api("/gust/v1/queues");
    const sections = await Promise.all(q.queues.map(async (queue) => {
      const state = seen.get(queue.name) || { after: 0, messages: [] };
      seen.set(queue.name, state);
      for (;;) {
        const m = await api(`/gust/v1/queues/${encodeURIComponent(queue.name)}/messages?after=${state.after}&limit=1000`);
        state.messages.push(...m.messages);
        state.after = m.nextSeq;
        if (m.messages.length < 1000) break;
      }
      state.messages.splice(0, Math.max(0, state.messages.length - KEEP));
      return el("div", { class: "queue", "data-queue": queue.name },
        el("h2", {}, `${queue.name} `, tag(`${queue.messages} messages`)),
        table(["Sent", "Request id", "Record", "Error", "Body"], state.messages.slice().reverse().map(queueRow)));
    }));
    queues.replaceChildren(...(sections.length ? sections : [el("p", { class: "muted" }, "No queue holds messages.")]));
  });
  every(5000, async () => {
    const overview = await api("/gust/v1/overview");
    const names = overview.functions.map((f) => f.configuration.FunctionName).slice(0, 50);
    const lists = await Promise.all(names.map((n) =>
      api(`/gust/v1/functions/${encodeURIComponent(n)}/async?limit=10`).catch(() => null)));
    const blocks = lists.filter((l) => l && l.invocations.length).map((l) =>
      el("div", {}, el("h2", {}, functionLink(l.functionName)), asyncTable(l.invocations)));
    recent.replaceChildren(...(blocks.length ? blocks : [el("p", { class: "muted" }, "No asynchronous invocations.")]));
  });
}

async function schedulesView(root) {
  const list = el("div");
  root.replaceChildren(el("h1", {}, "Schedules"), panel(null, list));
  every(5000, async () => {
    const r = await api("/gust/v1/schedules");
    list.replaceChildren(table(["Name", "Expression", "Function", "Last fired", "Next", "Description"],
      r.schedules.map((s) => el("tr", { "data-schedule": s.name }, el("td", {}, s.name), el("td", {}, el("code", {}, s.expression)),
        el("td", {}, s.function), el("td", {}, s.lastFired || "–"), el("td", {}, s.nextFire || "–"),
        el("td", {}, s.description))), "No schedules."));
  });
}

async function bucketsView(root, bucket) {
  const list = el("div");
  root.replaceChildren(el("h1", {}, bucket ? `Bucket ${bucket}` : "Buckets"), panel(null, list));
  if (bucket) {
    every(5000, async () => {
      const r = await api(`/gust/v1/buckets/${encodeURIComponent(bucket)}/objects?limit=200`);
      list.replaceChildren(table(["Key", "#Size", "Last modified", "ETag"],
        r.Objects.map((o) => el("tr", { "data-key": o.Key }, el("td", {}, el("code", {}, o.Key)),
          el("td", { class: "num" }, o.Size), el("td", {}, o.LastModified), el("td", {}, el("code", {}, o.ETag)))),
        "The bucket is empty."),
      r.NextAfter ? el("p", { class: "muted" }, "First 200 objects shown.") : "");
    });
    return;
  }
  every(5000, async () => {
    const r = await api("/gust/v1/buckets");
    list.replaceChildren(table(["Name", "Created", "Triggers"],
      r.Buckets.map((b) => el("tr", { "data-bucket": b.Name },
        el("td", {}, el("a", { href: `#/buckets/${encodeURIComponent(b.Name)}` }, b.Name)), el("td", {}, b.Created),
        el("td", {}, b.Triggers.map((t) => tag(`${shortArn(t.FunctionArn)} ← ${t.Events.join(" ")}`))))), "No buckets."));
  });
}

async function workflowsView(root, selected) {
  const list = el("div");
  const graph = el("div");
  root.replaceChildren(el("h1", {}, "Workflows"), graph, list);
  let shown = null;
  every(3000, async () => {
    const r = await api("/gust/v1/workflows");
    list.replaceChildren(...(r.stateMachines.length ? r.stateMachines.map((m) => panel(null,
      el("h2", {}, `${m.name} `, tag(m.type)),
      table(["Execution", "Status", "Started", "Stopped"],
        m.executions.map((x) => el("tr", { "data-execution": x.name },
          el("td", {}, el("a", { href: `#/workflows/${encodeURIComponent(x.arn)}` }, x.name)),
          el("td", {}, statusTag(x.status)), el("td", {}, when(x.startMs)), el("td", {}, when(x.stopMs)))),
        "No executions yet."))) : [el("p", { class: "muted" }, "No state machines.")]));
    // The chosen execution's picture, else the newest execution's.
    const newest = r.stateMachines.flatMap((m) => m.executions).sort((a, b) => b.startMs - a.startMs)[0];
    const arn = selected || (newest && newest.arn);
    if (!arn) { graph.replaceChildren(); return; }
    const running = r.stateMachines.flatMap((m) => m.executions).some((x) => x.arn === arn && x.status === "RUNNING");
    if (shown === arn && !running) return;
    shown = arn;
    graph.replaceChildren(panel(`Execution ${shortArn(arn)}`,
      el("img", { class: "graph", alt: "the state machine, states coloured by this execution",
        src: `/gust/v1/workflows/graph?arn=${encodeURIComponent(arn)}&t=${Date.now()}` })));
  });
}

// ------------------------------------------------------------------ routing

// The views in the navigation, in order. Function groups get a view here once
// gust serves them (`/gust/v1/groups`).
const VIEWS = [
  { path: "", label: "Overview", view: overviewView },
  { path: "functions", label: null, view: functionView },
  { path: "async", label: "Async", view: asyncView },
  { path: "schedules", label: "Schedules", view: schedulesView },
  { path: "buckets", label: "Buckets", view: bucketsView },
  { path: "workflows", label: "Workflows", view: workflowsView },
];

function route() {
  stopTimers();
  const [first, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const found = VIEWS.find((v) => v.path === first) || VIEWS[0];
  const param = rest.length ? decodeURIComponent(rest.join("/")) : undefined;
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.path === found.path);
  }
  const root = document.getElementById("view");
  document.title = `gust · ${found.label || param || "dashboard"}`;
  Promise.resolve(found.view(root, param)).catch((e) => failure(root, e));
}

function start() {
  const nav = document.getElementById("nav");
  nav.replaceChildren(...VIEWS.filter((v) => v.label).map((v) =>
    el("a", { href: `#/${v.path}`, "data-path": v.path }, v.label)));
  window.addEventListener("hashchange", route);
  route();
}

start();
