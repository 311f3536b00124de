// Rollouts tab: every rollout with its progress (devices committed of those targeted), the devices
// by state and the reason (a halted rollout names the canary and its failure); the chosen rollout's
// devices with their state and reason; promote / pause / resume / abort.
"use strict";

const ROLLOUT_ORDER = ["committed", "window", "switched", "health_check", "staged", "verifying",
  "downloading", "pending", "waiting", "rejected", "rolled_back"];
const ACTIONS = { canary: ["promote", "pause", "abort"], rolling: ["pause", "abort"], paused: ["resume", "abort"] };
let chosenRollout = null;

function countsText(counts) {
  const keys = Object.keys(counts || {}).filter((k) => counts[k]);
  keys.sort((a, b) => ROLLOUT_ORDER.indexOf(a) - ROLLOUT_ORDER.indexOf(b));
  return keys.map((k) => `${k} ${counts[k]}`).join(", ");
}

function rolloutProgress(tr, r) {
  const td = tr.insertCell();
  const done = (r.counts || {}).committed || 0;
  const bar = document.createElement("progress");
  bar.max = Math.max(1, r.targets);
  bar.value = Math.min(done, bar.max);
  td.append(bar, ` ${done}/${r.targets}`);
  td.className = "progress";
}

async function act(id, action) {
  await api(`/api/v1/rollouts/${id}/${action}`, { method: "POST" });
  await loadRollouts();
}

async function loadRollouts() {
  const body = await api("/api/v1/rollouts");
  const found = body.rollouts || [];
  const rows = $("rollouts").tBodies[0];
  rows.innerHTML = "";
  for (const r of found) {
    const tr = rows.insertRow();
    tr.dataset.id = r.id;
    tr.dataset.state = r.state;
    if (r.id === chosenRollout) tr.className = "selected";
    cell(tr, `#${r.id}`);
    cell(tr, r.ref);
    cell(tr, r.group);
    cell(tr, r.state, `state state-${r.state}`);
    rolloutProgress(tr, r);
    cell(tr, countsText(r.counts), "counts");
    cell(tr, r.reason, "reason");
    cell(tr, ago(r.updated_at)).title = when(r.updated_at);
    const td = tr.insertCell();
    for (const action of ["devices", ...(ACTIONS[r.state] || [])]) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = action;
      b.dataset.action = action;
      b.addEventListener("click", () => guarded(() => (action === "devices" ? showRollout(r.id) : act(r.id, action))));
      td.append(b, " ");
    }
  }
  const active = found.filter((r) => ACTIONS[r.state]).length;
  $("rollouts-count").textContent = `${found.length} rollout${found.length === 1 ? "" : "s"}` + (active ? `, ${active} active` : "");
  if (chosenRollout === null && found.length) chosenRollout = found[0].id;
  if (chosenRollout !== null) await showRollout(chosenRollout);
}

async function showRollout(id) {
  chosenRollout = id;
  const r = await api(`/api/v1/rollouts/${id}`);
  for (const tr of $("rollouts").tBodies[0].rows) tr.classList.toggle("selected", +tr.dataset.id === id);
  $("rollout-title").textContent = `Rollout #${r.id}: ${r.ref} to ${r.group}, ${r.state} — ${countsText(r.counts)}`;
  const rows = $("rollout-devices").tBodies[0];
  rows.innerHTML = "";
  for (const d of r.devices || []) {
    const tr = rows.insertRow();
    tr.dataset.device = d.device;
    tr.dataset.state = d.state;
    cell(tr, d.device);
    cell(tr, d.canary ? "canary" : "", "canary");
    cell(tr, d.state, `state state-${d.state}`);
    cell(tr, d.reason, "reason");
    cell(tr, d.updated_at ? ago(d.updated_at) : "");
  }
  $("rollout-view").hidden = false;
}

hub.onTab.rollouts = loadRollouts;

document.addEventListener("DOMContentLoaded", () => {
  setInterval(() => { if (hub.token && hub.tab === "rollouts" && !document.hidden) guarded(loadRollouts); }, 2000);
});
