// Retrain tab: jobs (status, a progress bar, the log's last lines, the result) and the model
// registry (versions, status, the gate's verdict and reasons, the stored gate report).
"use strict";

const REFRESH_MS = 2000;

function progressCell(tr, job) {
  const td = tr.insertCell();
  const bar = document.createElement("progress");
  bar.max = 1;
  bar.value = job.progress || 0;
  td.append(bar, ` ${Math.round((job.progress || 0) * 100)} %`);
  td.className = "progress";
  return td;
}

function jobResult(job) {
  if (job.status === "failed") return job.error || "failed";
  const r = job.result;
  if (!r) return "";
  const verdict = r.status === "published" ? "published" : `refused: ${(r.reasons || []).join("; ")}`;
  return `${r.model}@${r.version} ${verdict}`;
}

async function loadJobs() {
  const body = await api("/api/v1/jobs?limit=50");
  const jobs = body.jobs || [];
  const rows = $("jobs").tBodies[0];
  rows.innerHTML = "";
  for (const j of jobs) {
    const tr = rows.insertRow();
    tr.dataset.id = j.id;
    tr.dataset.status = j.status;
    cell(tr, `#${j.id} ${j.kind}`);
    cell(tr, j.status, j.status === "done" ? "status ok" : j.status === "failed" ? "status bad" : "status warn");
    progressCell(tr, j);
    cell(tr, j.trigger);
    cell(tr, ago(j.started_at)).title = when(j.started_at);
    cell(tr, j.worker);
    cell(tr, j.log, "log");
    const r = j.result;
    cell(tr, jobResult(j), "result " + (j.status === "failed" || (r && r.status === "refused") ? "bad" : r ? "ok" : ""));
  }
  const active = jobs.filter((j) => j.status === "queued" || j.status === "running").length;
  $("jobs-count").textContent = `${jobs.length} job${jobs.length === 1 ? "" : "s"}` + (active ? `, ${active} active` : "");
}

async function showGate(name, version) {
  const r = await api(`/api/v1/models/${encodeURIComponent(name)}/${version}/gate/gate.md`, { raw: true });
  $("gate-title").textContent = `Gate report of ${name}@${version}`;
  $("gate-report").textContent = await r.text();
  $("gate-view").hidden = false;
}

async function loadModels() {
  const body = await api("/api/v1/models");
  const rows = $("models").tBodies[0];
  rows.innerHTML = "";
  for (const m of body.models || []) {
    const tr = rows.insertRow();
    tr.dataset.ref = m.ref;
    if (m.current) tr.className = "current";
    cell(tr, m.ref + (m.current ? " (current)" : ""));
    cell(tr, m.status, m.status === "published" ? "status ok" : m.status === "refused" ? "status bad" : "status warn");
    cell(tr, m.parent_version ? `${m.name}@${m.parent_version}` : "");
    cell(tr, m.dataset_name ? `${m.dataset_name}@${m.dataset_version}` : "");
    const score = (m.metrics || {}).map50_95;
    cell(tr, score === undefined ? "" : (+score).toFixed(3));
    const gate = m.gate;
    cell(tr, gate ? (gate.passed ? "passed" : "refused") : "", gate ? (gate.passed ? "gate ok" : "gate bad") : "gate");
    cell(tr, gate ? (gate.reasons || []).join("; ") : "", "reasons");
    cell(tr, m.counter);
    cell(tr, m.trigger);
    cell(tr, when(m.created_at));
    const td = tr.insertCell();
    if (gate && m.job_id) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = "gate report";
      b.addEventListener("click", () => guarded(() => showGate(m.name, m.version)));
      td.append(b);
    }
  }
}

async function loadRetrain() {
  await loadJobs();
  await loadModels();
}
hub.onTab.retrain = loadRetrain;

async function startJob(event) {
  event.preventDefault();
  const out = $("job-result");
  out.className = "";
  out.textContent = "queuing…";
  await guarded(async () => {
    const body = { kind: "retrain", dataset: $("j-dataset").value.trim() };
    if ($("j-model").value.trim()) body.model = $("j-model").value.trim();
    if ($("j-field").value.trim()) body.field = $("j-field").value.trim();
    if ($("j-time").value) body.train = { time_s: +$("j-time").value };
    const job = await api("/api/v1/jobs", { method: "POST", json: body });
    out.className = "ok";
    out.textContent = `job #${job.id} queued`;
    await loadJobs();
  }, "job-result");
}

document.addEventListener("DOMContentLoaded", () => {
  $("job-form").addEventListener("submit", startJob);
  setInterval(() => { if (hub.token && hub.tab === "retrain" && !document.hidden) guarded(loadRetrain); }, REFRESH_MS);
});
