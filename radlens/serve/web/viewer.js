// radlens web viewer: upload an image, show it with window/level and overlays, the findings,
// and the report (sentences highlight their regions). Talks only to this server's /v1 API.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { interp: null, base: null, regions: [], highlight: null };
const TINT = { lung: [0, 200, 0], zone: [0, 120, 255], finding: [255, 80, 0] };

$("apikey").value = sessionStorage.getItem("radlens-key") || "";
$("apikey").addEventListener("change", () => sessionStorage.setItem("radlens-key", $("apikey").value));

function headers() {
  const key = $("apikey").value.trim();
  return key ? { Authorization: "Bearer " + key } : {};
}
function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

// Forget the previous film, its findings and report, so nothing stale stays on screen under a
// new upload or an error.
function clearResult() {
  state.interp = null; state.base = null; state.regions = []; state.highlight = null;
  const canvas = $("canvas");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  $("meta").textContent = "";
  for (const id of ["qc", "sentences", "notes", "answer-evidence"]) $(id).replaceChildren();
  $("answer").textContent = ""; $("answer").className = "";
  $("findings").tBodies[0].replaceChildren();
  $("report").value = "";
}

let uploads = 0;  // only the latest upload may fill the page
async function upload(file) {
  const mine = ++uploads;
  clearResult();
  setStatus("reading " + file.name + " ...");
  const form = new FormData();
  form.append("file", file);
  try {
    const r = await fetch("/v1/interpret", { method: "POST", body: form, headers: headers() });
    const body = await r.json().catch(() => ({}));
    if (mine !== uploads) return;
    if (!r.ok) {
      const e = body.error || {};
      setStatus(`error ${r.status}: ${e.message || r.statusText}`, true);
      return;
    }
    await show(body);
    if (mine === uploads) setStatus("done: " + body.id);
  } catch (err) {
    if (mine !== uploads) return;
    clearResult();
    setStatus("error: " + (err && err.message ? err.message : "the upload failed"), true);
  }
}

async function loadImage(id) {
  const r = await fetch(`/v1/interpretations/${id}/image.png`, { headers: headers() });
  if (!r.ok) throw new Error("cannot load the image (" + r.status + ")");
  const bitmap = await createImageBitmap(await r.blob());
  const c = document.createElement("canvas");
  c.width = bitmap.width; c.height = bitmap.height;
  const ctx = c.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  return ctx.getImageData(0, 0, c.width, c.height);
}

async function show(interp) {
  state.interp = interp;
  state.highlight = null;
  state.base = await loadImage(interp.id);
  state.regions = [];
  for (const reg of interp.regions || []) {
    const item = { region: reg, heat: null, mask: null };
    if (reg.heatmap) item.heat = await decodeArray(reg.heatmap);
    if (reg.mask) item.mask = await decodeArray(reg.mask);
    state.regions.push(item);
  }
  const canvas = $("canvas");
  canvas.width = state.base.width; canvas.height = state.base.height;
  renderInfo(interp);
  draw();
}

function ramp(h) {  // blue-cyan-yellow-red, as in radlens.render.overlay
  const stops = [[0, [0, 0, 255]], [0.5, [0, 255, 255]], [0.75, [255, 255, 0]], [1, [255, 0, 0]]];
  for (let i = 1; i < stops.length; i++) {
    if (h <= stops[i][0]) {
      const [x0, c0] = stops[i - 1], [x1, c1] = stops[i], t = (h - x0) / (x1 - x0);
      return c0.map((v, k) => v + t * (c1[k] - v));
    }
  }
  return stops[stops.length - 1][1];
}

function sample(arr, x, y, w, h) {  // the array cell covering canvas pixel (x, y)
  const [ah, aw] = arr.shape;
  return arr.data[Math.min(ah - 1, Math.floor(y * ah / h)) * aw + Math.min(aw - 1, Math.floor(x * aw / w))];
}

function draw() {
  if (!state.base) return;
  const canvas = $("canvas"), ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  const win = +$("window").value, lev = +$("level").value, lo = lev - win / 2;
  const img = new ImageData(w, h), src = state.base.data, out = img.data;
  const active = state.highlight ? new Set(state.highlight) : null;
  const layers = state.regions.filter((it) => !active || active.has(it.region.id));
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i += 4) {
      const g = Math.max(0, Math.min(255, ((src[i] - lo) / win) * 255));
      let r = g, gg = g, b = g;
      for (const it of layers) {
        if (it.heat && $("show-heat").checked) {
          const v = Math.max(0, Math.min(1, sample(it.heat, x, y, w, h)));
          const a = 0.55 * Math.max(0, Math.min(1, (v - 0.2) / 0.8));
          if (a > 0) { const c = ramp(v); r = r * (1 - a) + c[0] * a; gg = gg * (1 - a) + c[1] * a; b = b * (1 - a) + c[2] * a; }
        } else if (it.mask && $("show-masks").checked && sample(it.mask, x, y, w, h) >= 0.5) {
          const c = TINT[it.region.kind] || [255, 255, 0];
          r = r * 0.75 + c[0] * 0.25; gg = gg * 0.75 + c[1] * 0.25; b = b * 0.75 + c[2] * 0.25;
        }
      }
      out[i] = r; out[i + 1] = gg; out[i + 2] = b; out[i + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  if (!$("show-boxes").checked) return;
  const sx = w / state.interp.image.width, sy = h / state.interp.image.height;
  ctx.font = Math.max(11, Math.round(w / 45)) + "px sans-serif";
  for (const it of layers) {
    const bx = it.region.box;
    if (!bx || !boxShown(state.interp, it.region)) continue;
    const c = TINT[it.region.kind] || [255, 255, 0];
    ctx.strokeStyle = ctx.fillStyle = `rgb(${c.join(",")})`;
    ctx.lineWidth = active ? 4 : 2;
    ctx.strokeRect(bx.x0 * sx, bx.y0 * sy, (bx.x1 - bx.x0) * sx, (bx.y1 - bx.y0) * sy);
    if (it.region.kind === "finding") ctx.fillText(it.region.label, bx.x0 * sx + 3, bx.y0 * sy + 14);
  }
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

// certainty band (Report.certainty) and location (Finding.location) come from the reading
function band(f, interp) {
  const pairs = (interp.report && interp.report.certainty) || [];
  const b = (pairs.find((p) => p[0] === f.label) || [])[1];
  return b === "possible" ? `${f.call} (possible)` : f.call;
}
function where(f) {
  const loc = f.location;
  if (!loc) return "";
  if (loc.status === "not_determined") return " (location not determined)";
  if (loc.status === "withheld") return " (location withheld: lateral view)";
  return loc.zones && loc.zones.length ? ` (${loc.zones.join(", ")})` : "";
}
function boxShown(interp, region) {
  const f = (interp.findings || []).find((x) => (x.region_ids || []).includes(region.id));
  return !f || !f.location || f.location.status === "located";
}

function renderInfo(interp) {
  const m = interp.image;
  $("meta").textContent = [`${m.width}x${m.height}`, m.format.toUpperCase(), m.modality,
    m.view_position].filter(Boolean).join(", ");
  $("qc").replaceChildren(...(interp.qc.issues || []).filter((i) => i.severity !== "info")
    .map((i) => el("li", `${i.severity}: ${i.message}`, i.severity)),
    ...(interp.warnings || []).map((w) => el("li", `warning: ${w.message}`, "warning")));
  const rows = [...(interp.findings || [])].sort((a, b) => b.probability - a.probability).map((f) => {
    const tr = el("tr", undefined, f.call);
    [f.label + where(f), f.probability.toFixed(2), band(f, interp), f.threshold.toFixed(2)].forEach((t) => tr.append(el("td", t)));
    tr.addEventListener("mouseenter", () => { state.highlight = f.region_ids; draw(); });
    tr.addEventListener("mouseleave", () => { state.highlight = null; draw(); });
    return tr;
  });
  if (!rows.length) { const tr = el("tr"); tr.append(el("td", "no findings reported")); rows.push(tr); }
  $("findings").tBodies[0].replaceChildren(...rows);
  const sentences = (interp.report && interp.report.sentences) || [];
  $("sentences").replaceChildren(...sentences.map((s) => {
    const span = el("span", s.text + " ");
    span.dataset.regions = (s.region_ids || []).join(" ");
    const on = () => { state.highlight = s.region_ids || []; span.classList.add("active"); draw(); };
    const off = () => { if (!span.classList.contains("pinned")) { state.highlight = null; span.classList.remove("active"); draw(); } };
    span.addEventListener("mouseenter", on);
    span.addEventListener("mouseleave", off);
    span.addEventListener("click", () => { span.classList.toggle("pinned"); on(); });
    return span;
  }));
  const text = ["caution", "findings", "impression"].map((sec) => {
    const t = sentences.filter((s) => s.section === sec).map((s) => s.text).join(" ");
    return t ? sec.toUpperCase() + ": " + t : "";
  }).filter(Boolean).join("\n\n");
  $("report").value = text;
  $("notes").replaceChildren(...(interp.notes || []).map((n) => el("li", n)));
}

// The question box: POST /v1/ask about the film on screen; the answer comes only from its
// reading, with the evidence (finding, probability, threshold, zones; or the metadata field).
function evidenceText(e) {
  if (e.kind === "finding") {
    const where = (e.zones && e.zones.length) ? " in " + e.zones.join(", ") : (e.side ? " " + e.side : "");
    return `${e.label}: p=${e.probability.toFixed(2)}, threshold ${e.threshold.toFixed(2)}, ${e.call}${where}`;
  }
  if (e.kind === "region") return `${e.label}: ${e.value} (${e.region_ids.length} region(s))`;
  return `${e.kind} ${e.field || ""}: ${e.value || ""}`;
}
async function ask(event) {
  event.preventDefault();
  const question = $("question").value;
  $("answer-evidence").replaceChildren();
  if (!state.interp) { $("answer").textContent = "read a film first"; $("answer").className = "error"; return; }
  const id = state.interp.id;
  $("answer").textContent = "asking ..."; $("answer").className = "";
  try {
    const r = await fetch("/v1/ask", { method: "POST", body: JSON.stringify({ id, question }),
      headers: Object.assign({ "Content-Type": "application/json" }, headers()) });
    const body = await r.json().catch(() => ({}));
    if (!state.interp || state.interp.id !== id) return;  // a new film replaced this one
    if (!r.ok) {
      const e = body.error || {};
      $("answer").textContent = `error ${r.status}: ${e.message || r.statusText}`;
      $("answer").className = "error";
      return;
    }
    $("answer").textContent = body.answer;
    $("answer").className = body.answered ? "answered" : "unanswered";
    $("answer-evidence").replaceChildren(...(body.evidence || []).map((e) => el("li", evidenceText(e))));
  } catch (err) {
    $("answer").textContent = "error: " + (err && err.message ? err.message : "the question failed");
    $("answer").className = "error";
  }
}
$("ask-form").addEventListener("submit", ask);
$("export").addEventListener("click", () => {
  const blob = new Blob([$("report").value], { type: "text/plain" });
  const a = el("a");
  a.href = URL.createObjectURL(blob);
  a.download = `radlens-report-${state.interp ? state.interp.id : "draft"}.txt`;
  a.click();
  URL.revokeObjectURL(a.href);
});
for (const id of ["window", "level", "show-heat", "show-masks", "show-boxes"]) $(id).addEventListener("input", draw);
$("reset").addEventListener("click", () => { $("window").value = 255; $("level").value = 128; draw(); });
$("file").addEventListener("change", (e) => {
  const file = e.target.files[0];
  e.target.value = "";  // so that choosing the same file again fires "change" and re-sends it
  if (file) upload(file);
});
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault(); drop.classList.remove("over");
  if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]);
});
