// The review queue: the next pending sample (highest score first) with the device's boxes; the
// keyboard edits them and answers accept / reject / skip (see the help line on the page).
"use strict";

const MAX_SKIPPED = 100;
const review = {
  item: null,     // the sample under review (GET /api/v1/review/next)
  image: null,
  boxes: [],      // the edited boxes, wire format
  selected: -1,
  skipped: [],    // sha256 passed over with `s`, sent back so the queue hands out the next one
  counts: { accepted: 0, rejected: 0, skipped: 0 },
  busy: false,
  pending: null,
};

function reviewItemOf(body) {
  if (!body) return null;
  if (body.item !== undefined) return body.item;
  if (Array.isArray(body.items)) return body.items[0] || null;
  if (Array.isArray(body.samples)) return body.samples[0] || null;
  return body.sha256 ? body : null;
}

async function loadReview() {
  if (!hub.classes.length) await guarded(loadDatasets);
  await nextReviewItem();
}
hub.onTab.review = loadReview;

async function nextReviewItem() {
  const q = new URLSearchParams();
  // The newest 100 skips (the URL stays short); older skipped samples may come round again.
  if (review.skipped.length) q.set("skip", review.skipped.slice(-MAX_SKIPPED).join(","));
  const body = await api("/api/v1/review/next" + (q.toString() ? "?" + q : ""));
  const left = body && (body.remaining ?? body.pending);
  review.pending = typeof left === "number" ? left : null;
  const item = reviewItemOf(body);
  review.item = item;
  review.image = null;
  review.boxes = [];
  review.selected = -1;
  $("review-status").className = "";
  if (!item) {
    const canvas = $("review-canvas");
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    $("review-status").textContent = review.skipped.length
      ? `queue done: nothing else pending (${review.skipped.length} skipped this session)`
      : "queue empty: no sample is pending review";
    $("review-status").dataset.sha = "";
    renderReview();
    return;
  }
  resetBoxes();
  noteClasses(review.boxes.map((b) => b.class));
  review.image = await loadImage(item.sha256);
  const status = $("review-status");
  status.dataset.sha = item.sha256;
  status.textContent = `${item.sha256.slice(0, 12)} · ${item.device} · ${item.sampler || "?"} score ${(+item.score).toFixed(2)}`
    + (item.reason ? ` (${item.reason})` : "") + (item.model ? ` · ${item.model}` : "") + ` · captured ${when(item.captured_at)}`
    + (review.pending !== null ? ` · ${review.pending} pending in all` : "");
  renderReview();
  $("review-canvas").focus();
}

// The device's predictions as editable boxes (again, after `u`).
function resetBoxes() {
  const item = review.item;
  review.boxes = ((item.predictions && item.predictions.predictions) || []).map((b) => ({
    x: +b.x, y: +b.y, width: +b.width, height: +b.height, class: String(b.class), confidence: b.confidence,
  }));
  review.selected = review.boxes.length ? 0 : -1;
}

function renderReview() {
  const { accepted, rejected, skipped } = review.counts;
  const counter = $("review-counter");
  counter.textContent = `reviewed ${accepted + rejected} (accepted ${accepted}, rejected ${rejected}, skipped ${skipped})`;
  counter.dataset.reviewed = String(accepted + rejected);
  const classes = $("review-classes");
  classes.innerHTML = "";
  hub.classes.slice(0, 10).forEach((name, i) => {
    const span = document.createElement("span");
    span.dataset.key = String(i);
    span.dataset.class = name;
    const key = document.createElement("kbd");
    key.textContent = String(i);
    span.append(key, " " + name);
    classes.append(span);
  });
  const list = $("review-boxes");
  list.innerHTML = "";
  review.boxes.forEach((b, i) => {
    const li = document.createElement("li");
    li.textContent = `${b.class} (${Math.round(b.width)}×${Math.round(b.height)} at ${Math.round(b.x)},${Math.round(b.y)})`;
    li.dataset.class = b.class;
    if (i === review.selected) li.className = "selected";
    list.append(li);
  });
  list.dataset.count = String(review.boxes.length);
  const canvas = $("review-canvas");
  if (!review.image) return;
  canvas.width = review.image.naturalWidth;
  canvas.height = review.image.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(review.image, 0, 0);
  drawBoxes(ctx, review.boxes, 1, review.selected);
}

async function answer(action) {
  const item = review.item;
  const json = { action };
  if (action === "accept") {
    json.boxes = review.boxes.map((b) => ({ x: b.x, y: b.y, width: b.width, height: b.height, class: b.class }));
  }
  try {
    await api(`/api/v1/review/${encodeURIComponent(item.sha256)}`, { method: "POST", json });
  } catch (e) {
    if (e.status !== 409) throw e;
    showError(`not saved: ${e.message}; showing the next sample`); // someone else answered first
    return;
  }
  review.counts[action === "accept" ? "accepted" : "rejected"] += 1;
}

async function reviewKey(event) {
  if (!hub.token || hub.tab !== "review" || event.ctrlKey || event.metaKey || event.altKey) return;
  const tag = event.target && event.target.tagName;
  if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
  const key = event.key;
  const n = review.boxes.length;
  const move = (step) => { if (n) review.selected = (review.selected + step + n) % n; };
  let handled = true;
  if (key === "Tab") move(event.shiftKey ? -1 : 1);
  else if (key === "j") move(1);
  else if (key === "k") move(-1);
  else if (key === "x" || key === "Delete" || key === "Backspace") {
    if (review.selected >= 0) {
      review.boxes.splice(review.selected, 1);
      review.selected = review.boxes.length ? Math.min(review.selected, review.boxes.length - 1) : -1;
    }
  } else if (key === "u") {
    if (review.item) resetBoxes();
  } else if (/^[0-9]$/.test(key)) {
    const name = hub.classes[+key];
    if (review.selected >= 0 && name !== undefined) {
      review.boxes[review.selected].class = name;
      review.boxes[review.selected].confidence = undefined; // a person's class: no score shown
    }
  } else if (["a", "Enter", "r", "s"].includes(key)) {
    event.preventDefault();
    if (review.busy || !review.item) return;
    review.busy = true;
    await guarded(async () => {
      if (key === "s") {
        review.skipped.push(review.item.sha256);
        review.counts.skipped += 1;
      } else {
        await answer(key === "r" ? "reject" : "accept");
      }
      await nextReviewItem();
    }, "review-status");
    review.busy = false;
    return;
  } else handled = false;
  if (handled) {
    event.preventDefault();
    renderReview();
  }
}

document.addEventListener("keydown", reviewKey);
