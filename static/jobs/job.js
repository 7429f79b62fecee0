// A job's page, live: follows the job's event stream (EventSource reconnects with Last-Event-ID by itself),
// appends log lines, redraws the metric charts and updates status, progress, ETA and queue position.
import { fmt, lineChart, scatterChart } from "./charts.js";

const data = JSON.parse(document.getElementById("job-data").textContent);
const series = data.series || {};
const $ = (id) => document.getElementById(id);
const log = $("job-log");
const actions = $("job-actions");
let source = null;

// ---------------------------------------------------------------------------------------------------- charts

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const points = (rows, key) =>
  rows.map((r) => [r.step, num(typeof key === "function" ? key(r) : r[key])]).filter((p) => p[1] !== null);

function drawCharts() {
  const container = $("charts");
  const train = series.train || [], evals = series.eval || [];
  const drawn = [
    lineChart(container, "train-loss", { title: "Train loss", yLabel: "loss", lines: [{ name: "train", points: points(train, "loss") }] }),
    lineChart(container, "eval-loss", { title: "Eval loss", yLabel: "loss",
      lines: [{ name: "eval", points: points(evals, (r) => r.eval_loss ?? r.loss) }] }),
    lineChart(container, "quality", { title: "Accuracy and F1", yLabel: "score",
      lines: [{ name: "accuracy", points: points(evals, "accuracy") }, { name: "f1", points: points(evals, "f1") }] }),
    lineChart(container, "perplexity", { title: "Perplexity", yLabel: "perplexity",
      lines: [{ name: "eval", points: points(evals, "perplexity") }] }),
  ];
  $("charts-empty").hidden = drawn.some(Boolean);
}

function drawReport() {
  const container = $("report-chart");
  const rows = (data.report && data.report.rows) || [];
  if (!container || !rows.length) return;
  const name = data.report.metric_name || "quality";
  scatterChart(container, "quality-latency", {
    title: `${name} vs latency (batch 1, p50)`, xLabel: "latency p50 (ms)", yLabel: name,
    points: rows.map((r) => ({ name: r.name, x: num(r.latency_p50_ms_b1), y: num(r.metric) })),
  });
}

// ------------------------------------------------------------------------------------------------------- log

function appendLog(id, kind, text) {
  if (log.querySelector(`[data-event="${id}"]`)) return; // already shown (a replayed event)
  const stick = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  const item = document.createElement("li");
  item.className = `log-${kind}`;
  item.dataset.event = String(id);
  item.textContent = text;
  log.append(item);
  while (log.children.length > 1000) log.firstElementChild.remove();
  if (stick) log.scrollTop = log.scrollHeight;
}

function lineFor(kind, d) {
  if (kind === "status") return `[${d.status || ""}] ${d.message || ""}`.trim();
  if (kind === "checkpoint") return `[checkpoint] step ${d.step} → ${String(d.commit || "").slice(0, 12)}`;
  return String(d.message || d.error || "");
}

// ---------------------------------------------------------------------------------------------------- status

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}h ${pad(m)}m` : m ? `${m}m ${pad(r)}s` : `${r}s`;
}

const FINAL = new Set(["succeeded", "failed", "cancelled"]);

function setStatus(status) {
  const badge = $("job-status").querySelector(".job-status");
  badge.textContent = status;
  badge.dataset.status = status;
  badge.className = `badge job-status status-${status}`;
  data.status = status;
  actions.querySelector('[data-action="cancel"]').hidden = FINAL.has(status);
  actions.querySelector('[data-action="retry"]').hidden = !["failed", "cancelled"].includes(status);
  if (FINAL.has(status)) $("job-cancelling").hidden = true;
}

function setSnapshot(snap) {
  setStatus(snap.status);
  const p = snap.progress || {};
  $("job-progress").value = p.percent || 0;
  $("job-percent").textContent = `${(p.percent || 0).toFixed(1)}%`;
  $("job-steps").textContent = p.steps_total ? `${p.steps_done} / ${p.steps_total} steps` : "";
  $("job-eta").textContent = p.eta_seconds !== null && p.eta_seconds !== undefined ? `ETA ${duration(p.eta_seconds)}` : "";
  $("job-queue").hidden = !snap.queue_position;
  $("job-queue-position").textContent = snap.queue_position || "";
}

// Re-read the parts of the page that only change at the end (output commit, final metrics, report).
async function refreshSections() {
  try {
    const response = await fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const section of document.querySelectorAll("[data-refresh]")) {
      const replacement = fresh.getElementById(section.id);
      if (replacement) section.replaceWith(document.importNode(replacement, true));
    }
    const error = fresh.getElementById("job-error");
    if (error) { $("job-error").textContent = error.textContent; $("job-error").hidden = error.hidden; }
    const next = JSON.parse(fresh.getElementById("job-data").textContent);
    data.report = next.report;
    drawReport();
  } catch {
    // the live parts are already up to date; a reload shows the rest
  }
}

// ------------------------------------------------------------------------------------------------------ live

let retryDelay = 2000;

function follow() {
  if (source || !("EventSource" in window)) return;
  const live = $("live-state");
  source = new EventSource(`${data.stream}?after=${data.after}`);
  source.onopen = () => { live.textContent = "live"; retryDelay = 2000; };
  source.onerror = () => {
    live.textContent = "reconnecting…";
    if (source.readyState !== EventSource.CLOSED) return; // the browser retries by itself, with Last-Event-ID
    // An HTTP error (a proxy's 502, a restart) makes EventSource give up: start again from the last event seen.
    source = null;
    setTimeout(follow, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 30000);
  };
  for (const kind of ["log", "status", "error", "checkpoint"]) {
    source.addEventListener(kind, (event) => {
      const e = JSON.parse(event.data);
      data.after = Math.max(data.after, e.id);
      appendLog(e.id, kind, lineFor(kind, e.data || {}));
      if (kind === "status" && e.data.status) setStatus(e.data.status);
      if (kind === "log" && /cancellation requested/i.test(e.data.message || "")) $("job-cancelling").hidden = false;
      if (kind === "checkpoint") refreshSections();
    });
  }
  source.addEventListener("metrics", (event) => {
    const e = JSON.parse(event.data);
    data.after = Math.max(data.after, e.id);
    const { split = "train", ...values } = e.data || {};
    (series[split] ||= []).push(values);
    drawCharts();
  });
  source.addEventListener("job", (event) => setSnapshot(JSON.parse(event.data)));
  source.addEventListener("end", () => {
    stop();
    refreshSections();
  });
}

function stop() {
  if (source) source.close();
  source = null;
  $("live-state").textContent = "";
}

// --------------------------------------------------------------------------------------------------- actions

actions.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const error = $("action-error");
  error.hidden = true;
  button.disabled = true;
  try {
    const response = await fetch(button.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": actions.dataset.csrf, Accept: "application/json" },
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `The hub answered ${response.status}.`);
    setSnapshot(body);
    if (body.cancel_requested && !FINAL.has(body.status)) $("job-cancelling").hidden = false;
    if (!FINAL.has(body.status)) follow();
  } catch (exc) {
    error.textContent = exc.message;
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
});

drawCharts();
drawReport();
log.scrollTop = log.scrollHeight;
if (!data.final) follow();
