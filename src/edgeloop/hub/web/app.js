// edgeloop hub page: sign-in, devices, gallery, datasets. The review queue is in review.js.
// No framework, no network but the hub: every API call carries the admin token as a Bearer header,
// images are fetched with it and drawn from blob URLs.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "edgeloop-hub-token";
const MAX_IMAGES = 300;
const COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324"];

const hub = {
  token: null,
  tab: null,
  classes: [],       // class names for re-classing: dataset names first, then as first seen
  images: new Map(), // sha256 -> blob URL
  onTab: {},         // tab name -> loader
};

class AuthError extends Error {}

// ---- token ------------------------------------------------------------------------------------
function takeTokenFromFragment() {
  const match = location.hash.match(/(?:^#|&)token=([^&]*)/);
  if (match) {
    const token = decodeURIComponent(match[1]);
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    // Never leave the secret in the address bar or the history.
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function signIn(token) {
  hub.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("signin").hidden = true;
  $("signout").hidden = false;
  $("who").textContent = "admin";
  showTab(hub.tab || "devices");
}

function signOut(message) {
  hub.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  for (const url of hub.images.values()) URL.revokeObjectURL(url);
  hub.images.clear();
  for (const el of document.querySelectorAll(".tab")) el.hidden = true;
  $("signin").hidden = false;
  $("signout").hidden = true;
  $("who").textContent = "";
  $("signin-error").textContent = message || "";
  showError("");
  $("token").focus();
}

// ---- API --------------------------------------------------------------------------------------
async function api(path, opts = {}) {
  if (!hub.token) throw new AuthError("not signed in");
  const headers = { Authorization: "Bearer " + hub.token };
  let body;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  }
  let r;
  try {
    r = await fetch(path, { method: opts.method || "GET", headers, body, cache: "no-store" });
  } catch (e) {
    throw new Error(`the hub is unreachable (${e.message})`);
  }
  if (r.status === 401) {
    signOut("The hub refused the token (401): paste the admin token again.");
    throw new AuthError("401");
  }
  if (!r.ok) {
    let message = `${r.status} ${r.statusText}`;
    try {
      const b = await r.json();
      if (b.error) message = `${r.status}: ${b.error}` + (b.fix ? ` (${b.fix})` : "");
      else if (b.detail) message = `${r.status}: ${JSON.stringify(b.detail)}`;
    } catch (e) { /* not JSON */ }
    const err = new Error(message);
    err.status = r.status;
    throw err;
  }
  if (opts.raw) return r;
  if (r.status === 204) return null;
  return r.json();
}

function showError(message) {
  const el = $("error");
  el.textContent = message;
  el.hidden = !message;
}

// Run an async UI action; errors are shown inline (a 401 has already sent us to sign-in).
async function guarded(fn, where) {
  try {
    await fn();
  } catch (e) {
    if (e instanceof AuthError) return;
    const target = where ? $(where) : null;
    if (target) { target.textContent = "error: " + e.message; target.classList.add("bad"); }
    else showError(e.message);
  }
}

// ---- drawing ----------------------------------------------------------------------------------
function classColour(name) {
  let h = 0;
  for (const c of String(name)) h = (h * 31 + c.codePointAt(0)) >>> 0;
  return COLOURS[h % COLOURS.length];
}

function noteClasses(names) {
  for (const n of names) if (n !== undefined && n !== null && !hub.classes.includes(String(n))) hub.classes.push(String(n));
}

async function imageURL(sha) {
  let url = hub.images.get(sha);
  if (!url) {
    const r = await api(`/api/v1/samples/${encodeURIComponent(sha)}/image`, { raw: true });
    url = URL.createObjectURL(await r.blob());
    hub.images.set(sha, url);
    // Keep the newest few hundred images; a drawn canvas does not need its blob URL any more.
    while (hub.images.size > MAX_IMAGES) {
      const [oldest, old] = hub.images.entries().next().value;
      URL.revokeObjectURL(old);
      hub.images.delete(oldest);
    }
  }
  return url;
}

async function loadImage(sha) {
  const img = new Image();
  img.src = await imageURL(sha);
  await img.decode();
  return img;
}

// Boxes are the detection wire format: centre x, y and width, height in original-image pixels.
function drawBoxes(ctx, boxes, scale, selected = -1) {
  const line = Math.max(2, ctx.canvas.width / 250);
  ctx.font = `${Math.max(11, Math.round(ctx.canvas.width / 40))}px sans-serif`;
  ctx.textBaseline = "bottom";
  boxes.forEach((b, i) => {
    const x = (b.x - b.width / 2) * scale, y = (b.y - b.height / 2) * scale;
    const w = b.width * scale, h = b.height * scale;
    const colour = classColour(b.class);
    ctx.lineWidth = i === selected ? line * 2.5 : line;
    ctx.strokeStyle = colour;
    ctx.setLineDash(i === selected ? [line * 3, line * 2] : []);
    ctx.strokeRect(x, y, w, h);
    ctx.setLineDash([]);
    const label = b.confidence !== undefined && b.confidence < 1 ? `${b.class} ${(+b.confidence).toFixed(2)}` : `${b.class}`;
    const tw = ctx.measureText(label).width + 6, th = parseInt(ctx.font, 10) + 4;
    const ty = y - th >= 0 ? y : y + th;
    ctx.fillStyle = colour;
    ctx.fillRect(x, ty - th, tw, th);
    ctx.fillStyle = "#fff";
    ctx.fillText(label, x + 3, ty - 2);
  });
}

// ---- formatting -------------------------------------------------------------------------------
function ago(seconds) {
  if (seconds === null || seconds === undefined) return "never";
  const d = Math.max(0, Date.now() / 1000 - seconds);
  if (d < 60) return `${Math.round(d)} s ago`;
  if (d < 3600) return `${Math.round(d / 60)} min ago`;
  if (d < 86400) return `${Math.round(d / 3600)} h ago`;
  return `${Math.round(d / 86400)} d ago`;
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : "";
}

function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0, v = n;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function cell(tr, text, cls) {
  const td = tr.insertCell();
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  return td;
}

// ---- tabs -------------------------------------------------------------------------------------
function showTab(name) {
  hub.tab = name;
  for (const b of document.querySelectorAll("#tabs button")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const el of document.querySelectorAll(".tab")) el.hidden = el.id !== "tab-" + name;
  showError("");
  if (hub.token && hub.onTab[name]) guarded(hub.onTab[name]);
}

// ---- devices ----------------------------------------------------------------------------------
async function loadDevices() {
  const body = await api("/api/v1/devices");
  const devices = body.devices || [];
  const rows = $("devices").tBodies[0];
  rows.innerHTML = "";
  const select = $("f-device"), current = select.value;
  select.length = 1;
  for (const d of devices) {
    const tr = rows.insertRow();
    tr.dataset.name = d.name;
    if (d.revoked_at) tr.className = "revoked";
    cell(tr, d.name);
    cell(tr, d.group);
    cell(tr, ago(d.last_seen)).title = when(d.last_seen);
    cell(tr, d.model_version);
    cell(tr, d.health, d.health === "ok" ? "ok" : d.health === "unknown" ? "" : "bad");
    cell(tr, d.fps === null || d.fps === undefined ? "" : (+d.fps).toFixed(1));
    cell(tr, d.backlog);
    cell(tr, bytes(d.free_disk_bytes));
    cell(tr, d.revoked_at ? `revoked ${ago(d.revoked_at)}` : "active", d.revoked_at ? "state bad" : "state ok");
    select.add(new Option(d.name, d.name));
  }
  select.value = current;
  const revoked = devices.filter((d) => d.revoked_at).length;
  $("devices-count").textContent = `${devices.length} device${devices.length === 1 ? "" : "s"}` + (revoked ? `, ${revoked} revoked` : "");
}
hub.onTab.devices = loadDevices;

// ---- gallery ----------------------------------------------------------------------------------
const gallery = { cursors: [null], page: 0, next: null, size: 24 }; // size: thumbnails a page

function epoch(input) {
  return input.value ? String(new Date(input.value).getTime() / 1000) : "";
}

function galleryQuery() {
  const q = new URLSearchParams();
  const fields = { device: $("f-device").value, sampler: $("f-sampler").value.trim(), class: $("f-class").value.trim(),
                   status: $("f-status").value, since: epoch($("f-since")), until: epoch($("f-until")) };
  for (const [k, v] of Object.entries(fields)) if (v) q.set(k, v);
  q.set("limit", String(gallery.size));
  const after = gallery.cursors[gallery.page];
  if (after) q.set("after", after);
  return q;
}

async function loadGallery() {
  if (!$("f-device").length || $("f-device").length === 1) await guarded(loadDevices);
  const body = await api("/api/v1/samples?" + galleryQuery());
  const samples = body.samples || [];
  gallery.next = body.next || null;
  $("page-prev").disabled = gallery.page === 0;
  $("page-next").disabled = !gallery.next;
  const first = gallery.page * gallery.size;
  $("gallery-count").textContent = samples.length
    ? `samples ${first + 1}–${first + samples.length}` : "no sample matches these filters";
  const grid = $("gallery");
  grid.innerHTML = "";
  await Promise.all(samples.map((s) => galleryCard(grid, s)));
}
hub.onTab.gallery = loadGallery;

async function galleryCard(grid, s) {
  const card = document.createElement("figure");
  card.className = "card";
  card.dataset.sha = s.sha256;
  const canvas = document.createElement("canvas");
  canvas.width = 320;
  canvas.height = Math.max(1, Math.round((320 * s.height) / s.width)) || 240;
  const meta = document.createElement("figcaption");
  meta.className = "meta";
  const status = document.createElement("span");
  status.className = "status";
  status.dataset.status = s.status;
  status.textContent = s.status;
  meta.append(status);
  meta.append(` · ${s.device} · ${s.sampler || "?"} ${(+s.score).toFixed(2)} · ${ago(s.received_at)}`);
  meta.title = `${s.sha256}\n${s.reason || ""}\ncaptured ${when(s.captured_at)}`;
  card.append(canvas, meta);
  grid.append(card);
  try {
    let boxes = (s.predictions && s.predictions.predictions) || [];
    noteClasses(boxes.map((b) => b.class));
    if (s.status === "labelled") {
      const full = s.labels ? s : await api(`/api/v1/samples/${encodeURIComponent(s.sha256)}`);
      boxes = (full.labels && full.labels.predictions) || [];
      card.dataset.source = "labels";
    } else {
      card.dataset.source = "predictions";
    }
    const img = await loadImage(s.sha256);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    drawBoxes(ctx, boxes, canvas.width / img.naturalWidth);
    card.dataset.boxes = String(boxes.length);
    card.dataset.classes = boxes.map((b) => b.class).join(",");
  } catch (e) {
    if (e instanceof AuthError) return;
    meta.append(` · error: ${e.message}`);
    card.dataset.boxes = "error";
  }
}

// ---- datasets ---------------------------------------------------------------------------------
// GET /api/v1/datasets lists each dataset with its latest version; GET /api/v1/datasets/NAME has them all.
async function allVersions() {
  const body = await api("/api/v1/datasets");
  const lists = await Promise.all((body.datasets || []).map(async (d) => {
    if (Array.isArray(d.versions)) return d.versions.map((v) => ({ name: d.name, ...v }));
    if ((d.versions || 1) <= 1 && d.latest) return [d.latest];
    return (await api(`/api/v1/datasets/${encodeURIComponent(d.name)}`)).versions || [];
  }));
  return lists.flat();
}

async function loadDatasets() {
  const versions = await allVersions();
  versions.sort((a, b) => a.name.localeCompare(b.name) || b.version - a.version);
  const rows = $("datasets").tBodies[0];
  rows.innerHTML = "";
  for (const v of versions) {
    const tr = rows.insertRow();
    tr.dataset.ref = `${v.name}@${v.version}`;
    const counts = v.counts || {};
    cell(tr, v.name);
    cell(tr, v.version);
    cell(tr, (v.fingerprint || "").slice(0, 12)).title = v.fingerprint || "";
    for (const split of ["train", "val", "test"]) cell(tr, counts[split] || 0, "count-" + split);
    cell(tr, (v.names || []).join(", "));
    cell(tr, when(v.created_at));
    cell(tr, v.note);
  }
  if (!versions.length) cell(rows.insertRow(), "no dataset version yet: create one below").colSpan = 9;
  // The newest version of each dataset gives the class list its order (re-class keys 0-9).
  const seen = new Set();
  for (const v of [...versions].sort((a, b) => b.created_at - a.created_at)) {
    if (seen.has(v.name)) continue;
    seen.add(v.name);
    noteClasses(v.names || []);
  }
}
hub.onTab.datasets = loadDatasets;

async function createVersion(event) {
  event.preventDefault();
  const out = $("create-result");
  out.className = "";
  out.textContent = "creating...";
  const pending = $("c-pending").checked;
  const where = {};
  if ($("c-device").value.trim()) where.device = $("c-device").value.trim();
  if ($("c-class").value.trim()) where.class = $("c-class").value.trim();
  const body = { name: $("c-name").value.trim(), note: $("c-note").value.trim(), where, include_pending: pending };
  await guarded(async () => {
    const v = await api("/api/v1/datasets", { method: "POST", json: body });
    const n = v.images ?? Object.values(v.counts || {}).reduce((a, b) => a + b, 0);
    out.className = "ok";
    out.textContent = v.created === false
      ? `unchanged: ${v.name} v${v.version} already holds exactly these ${n} images`
      : `created ${v.name} v${v.version} (${n} images, fingerprint ${(v.fingerprint || "").slice(0, 12)})`;
    await loadDatasets();
  }, "create-result");
}

// ---- wiring -----------------------------------------------------------------------------------
function setUp() {
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const token = $("token").value.trim();
    $("token").value = "";
    if (token) signIn(token);
  });
  $("signout").addEventListener("click", () => signOut(""));
  $("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    gallery.cursors = [null];
    gallery.page = 0;
    guarded(loadGallery);
  });
  $("f-clear").addEventListener("click", () => {
    $("filters").reset();
    gallery.cursors = [null];
    gallery.page = 0;
    guarded(loadGallery);
  });
  $("page-next").addEventListener("click", () => {
    if (!gallery.next) return;
    gallery.cursors[gallery.page + 1] = gallery.next;
    gallery.page += 1;
    guarded(loadGallery);
  });
  $("page-prev").addEventListener("click", () => {
    if (gallery.page === 0) return;
    gallery.page -= 1;
    guarded(loadGallery);
  });
  $("create-form").addEventListener("submit", createVersion);
  setInterval(() => { if (hub.token && hub.tab === "devices" && !document.hidden) guarded(loadDevices); }, 5000);
  const initial = (location.hash.match(/(?:^#|&)tab=(\w+)/) || [])[1];
  hub.tab = initial && hub.onTab[initial] ? initial : "devices";
  const token = takeTokenFromFragment();
  if (token) signIn(token);
  else signOut("");
  // A link with a new #token=... opened in this tab signs in with it.
  window.addEventListener("hashchange", () => {
    if (!/(?:^#|&)token=/.test(location.hash)) return;
    const fresh = takeTokenFromFragment();
    if (fresh) signIn(fresh);
  });
}

document.addEventListener("DOMContentLoaded", setUp);
