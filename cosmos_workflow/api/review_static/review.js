// The review page: a sweep's grids of output videos on one shared clock, rating, picking,
// a two-run comparison with a slider, the input and control videos of a run, and the export.
// Everything comes from /api (the token guard covers it); no library, no build step.
"use strict";

const state = {
  query: new URLSearchParams(location.search),
  grid: null,
  page: 0,
  focus: { row: 0, column: 0 },
  compare: [], // run ids, at most two
  clock: { playing: true, base: 0, since: performance.now() },
};
const RESYNC_MS = 250;
const DRIFT_S = 0.08; // a video further than this from the clock is moved back onto it
const $ = (id) => document.getElementById(id);

// -- talking to the API ----------------------------------------------------------------------

class Unauthorised extends Error {}

async function api(path, options = {}) {
  const headers = { "X-Cosmos-Request": "1", ...(options.headers || {}) };
  const init = { credentials: "same-origin", ...options, headers };
  if (options.json !== undefined) {
    init.method = init.method || "POST";
    init.body = JSON.stringify(options.json);
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (response.status === 401) throw new Unauthorised();
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(body && body.error ? body.error.message : response.statusText);
  return body;
}

async function load() {
  try {
    const query = new URLSearchParams(state.query);
    state.grid = await api(`/api/review?${query}`);
  } catch (error) {
    if (error instanceof Unauthorised) return askForToken();
    $("summary").textContent = error.message;
    $("summary").className = "error";
    return;
  }
  $("login").hidden = true;
  $("main").hidden = false;
  state.page = Math.min(state.page, Math.max(state.grid.pages.length - 1, 0));
  renderAll();
}

function askForToken() {
  $("main").hidden = true;
  $("login").hidden = false;
  $("token").focus();
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = $("token").value;
  $("token").value = ""; // the cookie stands for it from now on; the page keeps nothing
  try {
    await api("/api/session", { json: {}, headers: { Authorization: `Bearer ${token}` } });
    $("login-error").textContent = "";
    await load();
  } catch (error) {
    $("login-error").textContent =
      error instanceof Unauthorised ? "That is not this server's token." : error.message;
  }
});

// -- drawing -----------------------------------------------------------------------------------

function renderAll() {
  const grid = state.grid;
  const sweep = grid.sweep;
  $("title").textContent = sweep ? sweep.name : "(runs by filter)";
  const counts = Object.entries(grid.counts).map(([s, n]) => `${n} ${s}`).join(", ");
  const more = grid.total > grid.runs ? ` (the newest ${grid.runs} of ${grid.total})` : "";
  $("summary").textContent = `${grid.pages.length} grid(s); runs: ${counts || "none"}${more}`;
  $("summary").className = "";
  if (sweep && !$("export-folder").value) $("export-folder").placeholder = `~/exports/${sweep.name}`;
  $("export").hidden = !sweep;
  renderPages();
  renderGrid();
}

function weightsText(weights, separator) {
  return Object.entries(weights).map(([c, v]) => `${c} ${v}`).join(separator);
}

function pageLabel(page) {
  const name = page.prompt_name || page.prompt_id;
  const seed = page.seed === null ? "" : ` · seed ${page.seed}`;
  const fixed = Object.entries(page.fixed).map(([c, v]) => ` · ${c} ${v}`).join("");
  return `${name}${seed}${fixed}`;
}

function renderPages() {
  const nav = $("pages");
  nav.replaceChildren(
    ...state.grid.pages.map((page, index) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = pageLabel(page);
      button.title = page.prompt_text || "";
      button.setAttribute("aria-pressed", String(index === state.page));
      button.addEventListener("click", () => showPage(index));
      return button;
    }),
  );
}

function showPage(index) {
  state.page = index;
  state.focus = { row: 0, column: 0 };
  renderPages();
  renderGrid();
}

function currentPage() {
  return state.grid.pages[state.page];
}

function renderGrid() {
  const page = currentPage();
  const section = $("grid");
  if (!page) {
    section.textContent = "No runs to review.";
    return;
  }
  const table = document.createElement("table");
  table.className = "grid";
  const head = table.createTHead().insertRow();
  const corner = document.createElement("th");
  corner.className = "axis";
  corner.textContent = `${page.rows ? page.rows.control : ""} ↓ ${page.columns ? page.columns.control + " →" : ""}`;
  head.append(corner);
  (page.columns ? page.columns.values : [""]).forEach((value) => {
    const th = document.createElement("th");
    th.textContent = page.columns ? `${page.columns.control} ${value}` : "";
    th.className = "column-label";
    head.append(th);
  });
  const body = table.createTBody();
  page.cells.forEach((row, r) => {
    const tr = body.insertRow();
    const label = document.createElement("th");
    label.className = "row-label";
    label.textContent = page.rows ? `${page.rows.control} ${page.rows.values[r]}` : "";
    tr.append(label);
    row.forEach((cell, c) => tr.append(cellElement(cell, r, c)));
  });
  section.replaceChildren(table);
  markFocus();
  syncNow();
}

function cellElement(cell, r, c) {
  const td = document.createElement("td");
  td.className = "cell";
  td.dataset.row = r;
  td.dataset.column = c;
  const run = cell.run;
  td.title = weightsText(cell.weights, ", ");
  if (run) td.dataset.run = run.id;
  if (cell.video_url) {
    const video = loopingVideo(cell.video_url);
    if (cell.thumbnail_url) video.poster = cell.thumbnail_url;
    td.append(video);
  } else {
    const status = document.createElement("div");
    const what = run ? run.status : "no run";
    status.className = `status ${run ? run.status : "empty"}`;
    status.textContent = run && run.error ? `${what}: ${run.error}` : what;
    td.append(status);
  }
  td.append(badge(run));
  td.classList.toggle("picked", Boolean(run && run.picked));
  td.classList.toggle("comparing", Boolean(run && state.compare.includes(run.id)));
  td.addEventListener("click", () => {
    state.focus = { row: r, column: c };
    markFocus();
    showSources();
  });
  return td;
}

function loopingVideo(url) {
  // Muted and looping, kept on the shared clock once its length is known.
  const video = document.createElement("video");
  Object.assign(video, { muted: true, loop: true, playsInline: true, preload: "auto", src: url });
  video.addEventListener("loadedmetadata", syncNow);
  return video;
}

function badge(run) {
  const span = document.createElement("span");
  span.className = "badge";
  if (!run) return span;
  const stars = document.createElement("span");
  stars.className = "stars";
  stars.textContent = run.rating ? "★".repeat(run.rating) : "";
  const pick = document.createElement("span");
  pick.className = "pick";
  pick.textContent = run.picked ? " ✔ picked" : "";
  span.append(stars, pick);
  return span;
}

function focusedCell() {
  const page = currentPage();
  return page ? page.cells[state.focus.row][state.focus.column] : null;
}

function markFocus() {
  document.querySelectorAll("td.cell").forEach((td) => {
    const here = Number(td.dataset.row) === state.focus.row &&
      Number(td.dataset.column) === state.focus.column;
    td.classList.toggle("focused", here);
  });
}

function* placedRuns() {
  // Every cell that holds a run, with its page.
  for (const page of state.grid.pages) {
    for (const row of page.cells) {
      for (const cell of row) if (cell.run) yield { page, cell };
    }
  }
}

function updateRun(run) {
  // A rating or pick changed one run: redraw its cell where it shows.
  for (const { cell } of placedRuns()) if (cell.run.id === run.id) cell.run = run;
  const td = document.querySelector(`td.cell[data-run="${CSS.escape(run.id)}"]`);
  if (td) {
    td.querySelector(".badge").replaceWith(badge(run));
    td.classList.toggle("picked", run.picked);
  }
}

// -- one clock for every video -----------------------------------------------------------------

function clockTime() {
  const clock = state.clock;
  return clock.playing ? clock.base + (performance.now() - clock.since) / 1000 : clock.base;
}

function setClock(seconds, playing) {
  state.clock = { playing, base: Math.max(seconds, 0), since: performance.now() };
  $("play").textContent = playing ? "Pause" : "Play";
  syncNow();
}

function videos() {
  return [...document.querySelectorAll("video")].filter((v) => !v.closest("[hidden]"));
}

function longest() {
  return Math.max(0, ...videos().map((v) => v.duration).filter(Number.isFinite));
}

function syncNow() {
  const now = clockTime();
  for (const video of videos()) {
    const length = video.duration;
    if (!Number.isFinite(length) || length <= 0) continue;
    const wanted = now % length;
    let drift = Math.abs(video.currentTime - wanted);
    drift = Math.min(drift, length - drift); // across the loop's seam
    if (drift > DRIFT_S || !state.clock.playing) video.currentTime = wanted;
    if (state.clock.playing && video.paused) video.play().catch(() => {});
    if (!state.clock.playing && !video.paused) video.pause();
  }
  const length = longest();
  $("clock").textContent = `${(length ? now % length : 0).toFixed(2)} s`;
  if (length && document.activeElement !== $("scrub")) {
    $("scrub").value = String(Math.round(((now % length) / length) * 1000));
  }
}

setInterval(syncNow, RESYNC_MS);
$("play").addEventListener("click", togglePlay);
$("scrub").addEventListener("input", () => {
  setClock((Number($("scrub").value) / 1000) * longest(), false);
});

function togglePlay() {
  setClock(clockTime() % (longest() || Infinity), !state.clock.playing);
}

// -- actions -----------------------------------------------------------------------------------

async function rate(value) {
  const cell = focusedCell();
  if (!cell || !cell.run) return;
  const run = await api(`/api/runs/${encodeURIComponent(cell.run.id)}/rating`, {
    json: { rating: value === 0 ? null : value },
  });
  updateRun(run);
}

async function togglePick() {
  const cell = focusedCell();
  if (!cell || !cell.run) return;
  const run = await api(`/api/runs/${encodeURIComponent(cell.run.id)}/pick`, {
    json: { picked: !cell.run.picked },
  });
  updateRun(run);
}

function findCell(runId) {
  for (const found of placedRuns()) if (found.cell.run.id === runId) return found;
  return null;
}

function addToCompare() {
  const cell = focusedCell();
  if (!cell || !cell.video_url) return;
  const id = cell.run.id;
  state.compare = [...state.compare.filter((x) => x !== id), id].slice(-2);
  document.querySelectorAll("td.cell").forEach((td) => {
    td.classList.toggle("comparing", state.compare.includes(td.dataset.run));
  });
  if (state.compare.length === 2) showCompare();
}

function describe(found) {
  return `${pageLabel(found.page)} · ${weightsText(found.cell.run.weights, " ")}`;
}

function showCompare() {
  const [a, b] = state.compare.map(findCell);
  $("compare-a").src = a.cell.video_url;
  $("compare-b").src = b.cell.video_url;
  $("compare-names").textContent = `left: ${describe(a)} | right: ${describe(b)}`;
  $("compare").hidden = false;
  setDivider(Number($("compare-slider").value));
  $("compare-a").addEventListener("loadedmetadata", syncNow, { once: true });
  $("compare-b").addEventListener("loadedmetadata", syncNow, { once: true });
}

function setDivider(percent) {
  const clamped = Math.min(100, Math.max(0, percent));
  // The left run shows left of the divider, the right run right of it.
  $("compare-a").style.clipPath = `inset(0 ${100 - clamped}% 0 0)`;
  $("compare-b").style.clipPath = `inset(0 0 0 ${clamped}%)`;
  $("divider").style.left = `${clamped}%`;
  $("compare-slider").value = String(clamped);
}

$("compare-slider").addEventListener("input", () => setDivider(Number($("compare-slider").value)));
$("divider").addEventListener("pointerdown", (event) => {
  const stage = $("compare-stage");
  $("divider").setPointerCapture(event.pointerId);
  const move = (e) => {
    const box = stage.getBoundingClientRect();
    setDivider(((e.clientX - box.left) / box.width) * 100);
  };
  const stop = () => {
    $("divider").removeEventListener("pointermove", move);
    $("divider").removeEventListener("pointerup", stop);
  };
  $("divider").addEventListener("pointermove", move);
  $("divider").addEventListener("pointerup", stop);
});

function showSources() {
  const page = currentPage();
  const cell = focusedCell();
  if (!page || !cell) return;
  const run = cell.run;
  const weights = weightsText(cell.weights, ", ");
  const details = run
    ? `${run.id} · ${run.status} · ${weights} · seed ${run.seed ?? "default"} · ` +
      `rating ${run.rating ?? "none"}${run.picked ? " · picked" : ""}` +
      (cell.earlier_run_ids.length ? ` · ${cell.earlier_run_ids.length} earlier attempt(s)` : "")
    : `no run at ${weights}`;
  $("run-details").textContent = `${details} — “${page.prompt_text || ""}” on ${page.input_name}`;
  const sources = [["input", page.input_video_url], ...Object.entries(page.control_video_urls)];
  $("source-videos").replaceChildren(
    ...sources.filter(([, url]) => url).map(([name, url]) => {
      const figure = document.createElement("figure");
      const video = loopingVideo(url);
      video.dataset.source = name;
      const caption = document.createElement("figcaption");
      caption.textContent = name;
      figure.append(video, caption);
      return figure;
    }),
  );
  $("sources").hidden = false;
}

$("export").addEventListener("submit", async (event) => {
  event.preventDefault();
  const out = $("export-result");
  try {
    const result = await api("/api/review/export", {
      json: {
        sweep: state.grid.sweep.id,
        folder: $("export-folder").value,
        overwrite: $("export-overwrite").checked,
      },
    });
    out.className = "ok";
    out.textContent = `wrote ${result.runs.length} video(s), manifest.json, manifest.csv and ` +
      `contact-sheet.png to ${result.folder}`;
  } catch (error) {
    out.className = "error";
    out.textContent = error instanceof Unauthorised ? "sign in again" : error.message;
  }
});

document.querySelectorAll("[data-close]").forEach((button) => {
  button.addEventListener("click", () => close(button.dataset.close));
});

function close(id) {
  $(id).hidden = true;
  if (id === "compare") {
    state.compare = [];
    document.querySelectorAll("td.comparing").forEach((td) => td.classList.remove("comparing"));
  }
}

// -- keys --------------------------------------------------------------------------------------

function move(dr, dc) {
  const page = currentPage();
  if (!page) return;
  const rows = page.cells.length;
  const columns = page.cells[0].length;
  state.focus = {
    row: Math.min(rows - 1, Math.max(0, state.focus.row + dr)),
    column: Math.min(columns - 1, Math.max(0, state.focus.column + dc)),
  };
  markFocus();
  if (!$("sources").hidden) showSources();
}

function report(promise) {
  promise.catch((error) => {
    $("summary").className = "error";
    $("summary").textContent = error instanceof Unauthorised ? "sign in again" : error.message;
  });
}

const KEYS = {
  ArrowUp: () => move(-1, 0),
  ArrowDown: () => move(1, 0),
  ArrowLeft: () => move(0, -1),
  ArrowRight: () => move(0, 1),
  p: () => report(togglePick()),
  c: addToCompare,
  Enter: showSources,
  " ": togglePlay,
  "?": () => ($("help").hidden = !$("help").hidden),
  "[": () => state.page > 0 && showPage(state.page - 1),
  "]": () => state.page < state.grid.pages.length - 1 && showPage(state.page + 1),
  Escape: () => ["help", "sources", "compare"].forEach(close),
};

document.addEventListener("keydown", (event) => {
  if (!state.grid || event.target.closest("input, textarea, form#login")) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const action = /^[0-5]$/.test(event.key) ? () => report(rate(Number(event.key))) : KEYS[event.key];
  if (!action) return;
  event.preventDefault();
  action();
});
$("help-button").addEventListener("click", KEYS["?"]);

window.review = { state, clockTime, setDivider, syncNow }; // for tests and the console
load();
