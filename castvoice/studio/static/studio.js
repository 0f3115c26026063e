// castvoice studio: one page per step, each drawn from the studio's JSON API (/studio/api).
"use strict";

const API = "/studio/api";
const state = { project: localStorage.getItem("castvoice.project") || "", page: "projects", timer: null };
const $ = (selector, root = document) => root.querySelector(selector);
const esc = (text) => String(text ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const fmt = (value, digits = 2) => (value === null || value === undefined ? "–" : Number(value).toFixed(digits));
const projectUrl = (path) => `${API}/p/${encodeURIComponent(state.project)}${path}`;

function show(text, isError = false) {
  const box = $("#message");
  box.textContent = text;
  box.className = isError ? "error" : "";
  box.hidden = !text;
}

async function call(path, options = {}) {
  const init = { ...options };
  if (options.json !== undefined) {
    init.method = options.method || "POST";
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(options.json);
  }
  const answer = await fetch(path, init);
  if (!answer.ok) {
    let problem = `${answer.status} ${answer.statusText}`;
    try { problem = (await answer.json()).error.message; } catch (_) { /* not JSON */ }
    throw new Error(problem);
  }
  return answer;
}
const getJson = async (path, options) => (await call(path, options)).json();

function play(url) {
  speech.stop();
  const player = $("#player");
  player.src = url;
  return player.play().catch((error) => show(`cannot play: ${error.message}`, true));
}

// -- speech as it arrives ------------------------------------------------------------
// Streamed speech is played while it downloads: 16-bit mono PCM is turned into float samples piece by piece
// and each piece is scheduled on the Web Audio clock right after the one before (an <audio> element would
// buffer seconds of a streamed WAV before it starts).

const PLAY_LEAD = 0.05; // seconds between a piece's arrival and its start, so the first one is not clipped

class StreamPlayer {
  constructor() { this.context = null; this.sources = []; this.next = 0; this.run = 0; }

  // Call from the click that asks for speech: browsers let an audio context start only after a gesture.
  begin() {
    if (!this.context) this.context = new AudioContext();
    this.context.resume();
    this.stop();
    this.run += 1;
    return this.run;
  }

  stop() {
    for (const source of this.sources) { try { source.stop(); } catch (_) { /* not started */ } }
    this.sources = [];
    this.next = 0;
  }

  // Schedule float `samples` at `rate` after what is queued; the seconds from now until they start.
  push(samples, rate) {
    if (!samples.length) return null;
    const context = this.context;
    const buffer = context.createBuffer(1, samples.length, rate);
    buffer.copyToChannel(samples, 0);
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(context.destination);
    const at = Math.max(this.next, context.currentTime + PLAY_LEAD);
    source.start(at);
    source.onended = () => { this.sources = this.sources.filter((s) => s !== source); };
    this.sources.push(source);
    this.next = at + buffer.duration;
    return at - context.currentTime;
  }

  // Seconds still to be heard.
  remaining() { return this.context ? Math.max(0, this.next - this.context.currentTime) : 0; }
}

const speech = new StreamPlayer();

// 16-bit signed little-endian PCM bytes, in pieces of any length, as float samples.
class Pcm16 {
  constructor() { this.odd = null; }

  samples(bytes) {
    if (this.odd !== null) {
      const joined = new Uint8Array(bytes.length + 1);
      joined[0] = this.odd;
      joined.set(bytes, 1);
      bytes = joined;
      this.odd = null;
    }
    if (bytes.length % 2) { this.odd = bytes[bytes.length - 1]; bytes = bytes.subarray(0, bytes.length - 1); }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const out = new Float32Array(bytes.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = view.getInt16(2 * i, true) / 32768;
    return out;
  }
}

// What a stream of speech did: seconds received, the loudness heard, and when its first audio started.
class SpeechTally {
  constructor(began) {
    this.began = began; this.seconds = 0; this.squares = 0; this.count = 0; this.firstAudio = null;
    this.pieces = []; this.rate = null;
  }

  add(samples, rate, startsIn) {
    if (!samples.length) return;
    if (this.firstAudio === null && startsIn !== null) this.firstAudio = (performance.now() - this.began) / 1000 + startsIn;
    this.seconds += samples.length / rate;
    this.pieces.push(samples);
    this.rate = rate;
    for (const x of samples) this.squares += x * x;
    this.count += samples.length;
  }

  get rms() { return this.count ? Math.sqrt(this.squares / this.count) : 0; }

  // What was heard as a WAV file, to hear again.
  wav() {
    const data = new DataView(new ArrayBuffer(44 + 2 * this.count));
    const text = (at, word) => [...word].forEach((c, i) => data.setUint8(at + i, c.charCodeAt(0)));
    text(0, "RIFF"); data.setUint32(4, 36 + 2 * this.count, true); text(8, "WAVEfmt ");
    data.setUint32(16, 16, true); data.setUint16(20, 1, true); data.setUint16(22, 1, true);
    data.setUint32(24, this.rate, true); data.setUint32(28, 2 * this.rate, true); data.setUint16(32, 2, true);
    data.setUint16(34, 16, true); text(36, "data"); data.setUint32(40, 2 * this.count, true);
    let at = 44;
    for (const piece of this.pieces) {
      for (const x of piece) { data.setInt16(at, Math.max(-32768, Math.min(32767, Math.round(x * 32768))), true); at += 2; }
    }
    return new Blob([data.buffer], { type: "audio/wav" });
  }
}

// Play a streamed WAV answer as it arrives (its header read once, then PCM16); `onFirst` hears the seconds
// from `began` to the first audio. Resolves with the tally once the stream has ended.
async function playWavStream(answer, run, began, onFirst) {
  const reader = answer.body.getReader();
  const tally = new SpeechTally(began);
  const pcm = new Pcm16();
  let head = new Uint8Array(0);
  let rate = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (run !== speech.run) { reader.cancel(); break; } // something else is speaking now
    let bytes = value;
    if (rate === null) {
      const joined = new Uint8Array(head.length + bytes.length);
      joined.set(head);
      joined.set(bytes, head.length);
      const found = wavHeader(joined);
      if (!found) { head = joined; continue; }
      rate = found.rate;
      bytes = joined.subarray(found.dataAt);
    }
    const samples = pcm.samples(bytes);
    const hadNone = tally.firstAudio === null;
    tally.add(samples, rate, speech.push(samples, rate));
    if (hadNone && tally.firstAudio !== null && onFirst) onFirst(tally.firstAudio);
  }
  if (rate === null) throw new Error("the answer held no audio");
  return tally;
}

// The sample rate of a 16-bit mono WAV header and where its samples begin, or null while it is incomplete.
function wavHeader(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const tag = (at) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.length < 12) return null;
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE") throw new Error("the answer is not WAV audio");
  let at = 12;
  let rate = null;
  while (at + 8 <= bytes.length) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    if (id === "data") return rate === null ? null : { rate, dataAt: at + 8 };
    if (at + 8 + size > bytes.length) return null;
    if (id === "fmt ") {
      if (view.getUint16(at + 8, true) !== 1 || view.getUint16(at + 10, true) !== 1 || view.getUint16(at + 22, true) !== 16) {
        throw new Error("the answer is not 16-bit mono PCM");
      }
      rate = view.getUint32(at + 12, true);
    }
    at += 8 + size + (size % 2);
  }
  return null;
}

// Every action goes through here: its error becomes the message at the top of the page.
async function attempt(work, done) {
  try {
    const result = await work();
    if (done) show(done);
    return result;
  } catch (error) {
    show(error.message, true);
    return undefined;
  }
}

// An action that changes what the page shows: on success the page is drawn again and says what was done.
async function redrawAfter(work, done) {
  const result = await attempt(work);
  if (result === undefined) return undefined;
  await route();
  show(typeof done === "function" ? done(result) : done);
  return result;
}

// -- navigation ------------------------------------------------------------------

const pages = {};

async function route() {
  clearInterval(state.timer);
  clearTimeout(state.timer);
  show("");
  state.page = (location.hash.slice(1) || "projects").split("/")[0];
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === state.page));
  const draw = pages[state.page] || pages.projects;
  $("#page").innerHTML = "<p class='muted'>loading…</p>";
  await attempt(draw);
  document.body.dataset.ready = state.page;
}

async function loadProjects() {
  const listing = await getJson(`${API}/projects`);
  const ready = listing.projects.filter((p) => p.ready).map((p) => p.name);
  if (!ready.includes(state.project)) state.project = ready[0] || "";
  $("#project").innerHTML = ready.map((n) => `<option ${n === state.project ? "selected" : ""}>${esc(n)}</option>`).join("");
  return listing;
}

function needProject() {
  if (!state.project) throw new Error("no project is ready yet: import a movie on the Projects page");
}

async function characterNames() {
  const found = await getJson(projectUrl("/characters"));
  return found.characters.filter((c) => c.name).map((c) => c.name);
}

function characterPicker(names, id) {
  const chosen = localStorage.getItem("castvoice.character");
  const pick = names.includes(chosen) ? chosen : names[0];
  return `<select id="${id}">${names.map((n) => `<option ${n === pick ? "selected" : ""}>${esc(n)}</option>`).join("")}</select>`;
}

function progressRows(tasks) {
  return Object.values(tasks || {}).map((t) => {
    const fraction = t.total ? Math.min(1, t.done / t.total) : (t.finished ? 1 : 0);
    return `<span>${esc(t.task)}${t.note ? ` <span class="muted">${esc(t.note)}</span>` : ""}</span>
      <div class="progress"><div style="width:${(fraction * 100).toFixed(0)}%"></div></div>
      <span class="muted">${t.finished ? "done" : `${(fraction * 100).toFixed(0)}%`}</span>`;
  }).join("");
}

// -- 1. projects -----------------------------------------------------------------

pages.projects = async () => {
  const listing = await loadProjects();
  const rows = listing.projects.map((p) => {
    const job = p.job;
    const status = job ? `<span class="state-${job.state}">${esc(job.state)}</span> ${esc(job.message)}` : (p.ready ? "ready" : "");
    const buttons = [
      job && job.state === "running" ? `<button data-cancel="${esc(p.name)}">Cancel</button>` : "",
      job && ["failed", "cancelled"].includes(job.state) ? `<button data-resume="${esc(p.name)}">Resume</button>` : "",
      p.ready ? `<button data-open="${esc(p.name)}">Open</button>` : "",
    ].join(" ");
    return `<section class="card project" data-name="${esc(p.name)}" data-state="${esc(job ? job.state : "ready")}">
      <div class="row"><strong>${esc(p.name)}</strong> <span class="status">${status}</span> ${buttons}</div>
      ${job && job.state !== "done" ? `<div class="tasks">${progressRows(job.tasks)}</div>` : ""}</section>`;
  }).join("") || "<p class='muted'>No projects yet.</p>";
  const limit = (listing.max_upload_bytes / 1e6).toFixed(0);
  const form = listing.can_create ? `<section class="card"><h3>New project</h3>
    <form id="new-project" class="grid">
      <label for="np-name">name</label><input type="text" id="np-name" name="name" required>
      <label for="np-movie">movie</label><div class="row"><input type="file" id="np-movie" name="movie">
        ${listing.media.length ? `or <select id="np-movie-name" name="movie_name"><option value="">from the projects folder…</option>
        ${listing.media.map((m) => `<option>${esc(m)}</option>`).join("")}</select>` : ""}</div>
      <label for="np-subs">subtitles</label><input type="file" id="np-subs" name="subs">
      <label for="np-script">screenplay</label><input type="file" id="np-script" name="script">
      <span></span><div class="row"><button class="primary" id="np-start">Import</button>
        <span class="muted">uploads up to ${limit} MB</span></div>
    </form></section>` : "<p class='muted'>This studio serves one workspace; start it with --projects DIR to add projects.</p>";
  $("#page").innerHTML = `<h2>Projects</h2><div id="projects">${rows}</div>${form}`;

  $("#page").onclick = (event) => {
    const target = event.target.closest("button");
    if (!target) return;
    if (target.dataset.open) { selectProject(target.dataset.open); location.hash = "characters"; }
    if (target.dataset.cancel) redrawAfter(() => call(`${API}/projects/${encodeURIComponent(target.dataset.cancel)}/cancel`, { method: "POST" }), "import cancelled");
    if (target.dataset.resume) redrawAfter(() => call(`${API}/projects/${encodeURIComponent(target.dataset.resume)}/resume`, { method: "POST" }), "import resumed");
  };
  const newProject = $("#new-project");
  if (newProject) {
    newProject.onsubmit = async (event) => {
      event.preventDefault();
      const data = new FormData(newProject);
      for (const key of ["movie", "subs", "script"]) if (data.get(key) && !data.get(key).name) data.delete(key);
      if (data.get("movie_name") === "") data.delete("movie_name");
      const movie = data.get("movie");
      if (movie && movie.size > listing.max_upload_bytes) {
        show(`${movie.name} is ${(movie.size / 1e6).toFixed(0)} MB; this studio takes uploads up to ${limit} MB`, true);
        return;
      }
      show("uploading…");
      $("#np-start").disabled = true;
      if (!await redrawAfter(() => getJson(`${API}/projects`, { method: "POST", body: data }), "importing in the background")) $("#np-start").disabled = false;
    };
  }
  if (listing.projects.some((p) => p.job && p.job.state === "running")) state.timer = setInterval(refreshJobs, 700);
};

async function refreshJobs() {
  const listing = await getJson(`${API}/projects`).catch(() => null);
  if (!listing || state.page !== "projects") return;
  const running = listing.projects.some((p) => p.job && p.job.state === "running");
  const shown = [...document.querySelectorAll(".project")].map((s) => s.dataset.name + s.dataset.state).join();
  const now = listing.projects.map((p) => p.name + (p.job ? p.job.state : "ready")).join();
  if (shown !== now) { route(); return; }
  for (const p of listing.projects) {
    const tasks = $(`.project[data-name="${CSS.escape(p.name)}"] .tasks`);
    if (tasks && p.job) tasks.innerHTML = progressRows(p.job.tasks);
  }
  if (!running) clearInterval(state.timer);
}

function selectProject(name) {
  state.project = name;
  localStorage.setItem("castvoice.project", name);
}

// -- 2. characters ---------------------------------------------------------------

pages.characters = async () => {
  await loadProjects();
  needProject();
  const found = await getJson(projectUrl("/characters"));
  const named = found.characters.filter((c) => c.name).map((c) => c.name);
  const characters = found.characters.map((c) => `<tr class="character"><td>${c.name ? esc(c.name) : "<em>unnamed</em>"}</td>
    <td>${c.lines}</td><td>${(c.seconds / 60).toFixed(1)}</td>
    <td>${c.name ? `<button data-hear="${esc(c.name)}">▶ play</button>` : ""}</td></tr>`).join("");
  const speakerRows = found.speakers.map((s) => `<tr class="speaker" data-label="${esc(s.label)}">
    <td>${esc(s.label)}</td><td>${s.name ? esc(s.name) : "<em>anonymous</em>"}</td><td>${fmt(s.seconds, 1)} s</td><td>${s.lines}</td>
    <td><button data-sample="${esc(s.label)}">▶ sample</button></td>
    <td class="row"><input type="text" class="speaker-name" placeholder="name" list="known-names" aria-label="name ${esc(s.label)}">
      <button data-name-speaker="${esc(s.label)}">Name</button></td></tr>`).join("");
  $("#page").innerHTML = `<h2>Characters</h2>
    <table id="characters"><tr><th>character</th><th>lines</th><th>minutes</th><th></th></tr>${characters}</table>
    <h3>Speakers the audio holds</h3>
    <p class="muted">Listen to a sample, then name it (a known name merges it into that character).
      To find a character by an example of the voice, select a line on Lines and press <kbd>f</kbd>.</p>
    <datalist id="known-names">${named.map((n) => `<option value="${esc(n)}">`).join("")}</datalist>
    <table id="speakers"><tr><th>speaker</th><th>named</th><th>speech</th><th>lines</th><th></th><th>name it</th></tr>${speakerRows}</table>`;
  $("#page").onclick = async (event) => {
    const target = event.target.closest("button");
    if (!target) return;
    if (target.dataset.sample) play(projectUrl(`/speakers/${encodeURIComponent(target.dataset.sample)}/sample`));
    if (target.dataset.hear) {
      const said = await attempt(() => getJson(projectUrl("/lines")));
      const first = said && said.lines.find((l) => l.character === target.dataset.hear);
      if (first) play(projectUrl(`/lines/${first.id}/audio`));
    }
    if (target.dataset.nameSpeaker) {
      const name = target.closest("tr").querySelector(".speaker-name").value.trim();
      if (!name) { show("type a name first", true); return; }
      await redrawAfter(() => getJson(projectUrl(`/speakers/${encodeURIComponent(target.dataset.nameSpeaker)}/name`), { json: { name } }),
        (done) => `${target.dataset.nameSpeaker} is ${name}: ${done.named} lines named`);
    }
  };
};

// -- 3. lines --------------------------------------------------------------------

const LOW_CONFIDENCE = 0.6;

pages.lines = async () => {
  await loadProjects();
  needProject();
  const [said, names] = await Promise.all([getJson(projectUrl("/lines")), characterNames()]);
  const filter = { character: sessionStorage.getItem("castvoice.lines.character") || "", low: sessionStorage.getItem("castvoice.lines.low") === "1" };
  $("#page").innerHTML = `<h2>Lines</h2>
    <div class="row">
      <label>character <select id="filter-character"><option value="">everyone</option><option value="-">unnamed</option>
        ${names.map((n) => `<option ${n === filter.character ? "selected" : ""}>${esc(n)}</option>`).join("")}</select></label>
      <label><input type="checkbox" id="filter-low" ${filter.low ? "checked" : ""}> low confidence only</label>
      <span class="muted"><kbd>↑</kbd><kbd>↓</kbd> move · <kbd>space</kbd> play · <kbd>e</kbd> edit text ·
        <kbd>c</kbd> character · <kbd>u</kbd> unname · <kbd>f</kbd> find this voice elsewhere</span>
    </div>
    <datalist id="line-names">${names.map((n) => `<option value="${esc(n)}">`).join("")}</datalist>
    <table id="lines"><thead><tr><th>time</th><th>character</th><th class="wide-only">conf.</th><th>text</th></tr></thead><tbody></tbody></table>`;
  const linesById = new Map(said.lines.map((l) => [l.id, l]));
  let selected = 0;
  const visible = () => said.lines.filter((l) => (!filter.character || (filter.character === "-" ? !l.character : l.character === filter.character))
    && (!filter.low || (l.confidence ?? 0) < LOW_CONFIDENCE));
  const rowHtml = (l) => `<tr class="line ${(l.confidence ?? 0) < LOW_CONFIDENCE ? "low" : ""}" data-id="${l.id}" tabindex="-1">
    <td>${fmt(l.start, 1)}</td><td class="who">${l.character ? esc(l.character) : "<em>unnamed</em>"}</td>
    <td class="conf wide-only">${fmt(l.confidence)}</td><td class="text">${esc(l.text)}</td></tr>`;
  const draw = () => {
    $("#lines tbody").innerHTML = visible().map(rowHtml).join("");
    select(Math.min(selected, visible().length - 1));
  };
  const rows = () => [...document.querySelectorAll("#lines tr.line")];
  function select(index) {
    const all = rows();
    if (!all.length) return;
    selected = Math.max(0, Math.min(index, all.length - 1));
    all.forEach((r, i) => r.classList.toggle("selected", i === selected));
    all[selected].scrollIntoView({ block: "nearest" });
  }
  const current = () => { const row = rows()[selected]; return row && linesById.get(Number(row.dataset.id)); };
  const redraw = (line) => { linesById.set(line.id, line); said.lines = said.lines.map((l) => (l.id === line.id ? line : l)); draw(); };

  function editCell(cell, value, list, save) {
    cell.innerHTML = `<input type="text" ${list ? `list="${list}"` : ""} value="${esc(value)}">`;
    const input = cell.querySelector("input");
    input.focus();
    input.select();
    input.onkeydown = async (event) => {
      event.stopPropagation();
      if (event.key === "Escape") draw();
      if (event.key === "Enter") { event.preventDefault(); await save(input.value); }
    };
  }
  const editText = (line) => editCell(rows()[selected].querySelector(".text"), line.text, null, async (text) => {
    const changed = await attempt(() => getJson(projectUrl(`/lines/${line.id}`), { json: { text, was: line.text } }), `line ${line.id} saved`);
    if (changed) redraw(changed); else draw();
  });
  const editCharacter = (line) => editCell(rows()[selected].querySelector(".who"), line.character || "", "line-names", async (character) => {
    const changed = await attempt(() => getJson(projectUrl(`/lines/${line.id}`), { json: character.trim() ? { character } : { unname: true } }),
      `line ${line.id} is ${character.trim() || "unnamed"}`);
    if (changed) redraw(changed); else draw();
  });
  async function findVoice(line) {
    const name = line.character || window.prompt("whose voice is this line?");
    if (!name) return;
    show(`finding ${name}'s voice in the film…`);
    const found = await attempt(() => getJson(projectUrl("/enroll"), { json: { name, line_id: line.id } }));
    if (found) { show(`${found.named} more lines named ${name}`); Object.assign(said, await getJson(projectUrl("/lines"))); said.lines.forEach((l) => linesById.set(l.id, l)); draw(); }
  }

  $("#filter-character").onchange = (event) => { filter.character = event.target.value; sessionStorage.setItem("castvoice.lines.character", filter.character); selected = 0; draw(); };
  $("#filter-low").onchange = (event) => { filter.low = event.target.checked; sessionStorage.setItem("castvoice.lines.low", filter.low ? "1" : ""); selected = 0; draw(); };
  $("#lines").onclick = (event) => { const row = event.target.closest("tr.line"); if (row) select(rows().indexOf(row)); };
  $("#lines").ondblclick = () => { const line = current(); if (line) editText(line); };
  document.onkeydown = (event) => {
    if (state.page !== "lines" || ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) return;
    const line = current();
    const actions = {
      ArrowDown: () => select(selected + 1), j: () => select(selected + 1),
      ArrowUp: () => select(selected - 1), k: () => select(selected - 1),
      " ": () => line && play(projectUrl(`/lines/${line.id}/audio`)),
      e: () => line && editText(line), Enter: () => line && editText(line),
      c: () => line && editCharacter(line),
      u: () => line && attempt(() => getJson(projectUrl(`/lines/${line.id}`), { json: { unname: true } }), `line ${line.id} unnamed`).then((l) => l && redraw(l)),
      f: () => line && findVoice(line),
    };
    if (actions[event.key]) { event.preventDefault(); actions[event.key](); }
  };
  draw();
};

// -- 4. dataset ------------------------------------------------------------------

pages.dataset = async () => {
  await loadProjects();
  needProject();
  const names = await characterNames();
  $("#page").innerHTML = `<h2>Dataset</h2><div class="row">character ${characterPicker(names, "dataset-character")}</div>
    <div id="dataset"><p class="muted">cutting, cleaning and checking the clips… (the first time takes a while)</p>
      <div class="tasks" id="dataset-progress"></div></div>`;
  $("#dataset-character").onchange = (event) => { localStorage.setItem("castvoice.character", event.target.value); route(); };
  const name = $("#dataset-character").value;
  if (!name) return;
  const view = await whileShowingProgress(name, () => getJson(projectUrl(`/dataset/${encodeURIComponent(name)}`)));
  if (state.page === "dataset" && $("#dataset-character") && $("#dataset-character").value === name) drawDataset(name, view);
};

// Await `work` (a request that builds a character's clips), drawing the building's progress into
// #dataset-progress meanwhile.
async function whileShowingProgress(name, work) {
  const poll = async () => {
    const found = await getJson(projectUrl(`/dataset/${encodeURIComponent(name)}/progress`)).catch(() => null);
    const box = $("#dataset-progress");
    if (found && box && Object.keys(found.tasks).length) box.innerHTML = progressRows(found.tasks);
  };
  const timer = setInterval(poll, 500);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

function drawDataset(name, view) {
  const s = view.summary;
  const minSimilarity = view.checks.min_similarity;
  const dropped = s.dropped.map((g) => `<li>${esc(g.reason)}: ${g.clips} clips (${fmt(g.seconds, 1)} s)</li>`).join("");
  const rows = view.clips.map((c) => `<tr class="clip ${c.kept ? "" : "dropped"}" data-id="${esc(c.id)}" data-similarity="${c.scores.similarity ?? ""}" data-kept="${c.kept}" data-reason="${esc(c.reason || "")}">
    <td><button data-play="${esc(c.audio)}">▶</button></td><td>${fmt(c.duration, 1)} s</td>
    <td class="wide-only">${fmt(c.scores.snr_db, 0)}</td><td>${fmt(c.scores.similarity)}</td><td class="wide-only">${fmt(c.scores.cer)}</td>
    <td>${esc(c.text)}</td><td class="reason">${c.kept ? "kept" : esc(c.reason)}${c.override ? ` <span class="muted">(by hand)</span>` : ""}</td>
    <td>${c.kept ? `<button data-decide="exclude">Exclude</button>` : `<button data-decide="include">Include</button>`}</td></tr>`).join("");
  const base = projectUrl(`/dataset/${encodeURIComponent(name)}`);
  $("#dataset").innerHTML = `<section class="card"><div class="row"><strong id="kept-summary">${s.kept} of ${s.clips} clips kept (${(s.kept_seconds / 60).toFixed(1)} min)</strong></div>
      <ul>${dropped}</ul><div class="tasks" id="dataset-progress"></div>
      <div class="row"><label>voice similarity at least <input type="range" id="threshold" min="0" max="1" step="0.05" value="${minSimilarity}">
        <span id="threshold-value">${fmt(minSimilarity)}</span></label> <span id="threshold-preview" class="muted"></span>
        <button id="apply-threshold">Apply</button></div>
      <div class="row">export <select id="export-format">${view.formats.map((f) => `<option>${esc(f)}</option>`).join("")}</select>
        <a class="button" id="export" href="${base}/export?format=${esc(view.formats[0])}" download>Download</a>
        <a class="button" id="report" href="${base}/report" target="_blank">Open the report</a></div></section>
    <table id="clips"><tr><th></th><th>length</th><th class="wide-only">SNR dB</th><th>similarity</th><th class="wide-only">CER</th><th>text</th><th>verdict</th><th></th></tr>${rows}</table>`;
  $("#export-format").onchange = (event) => { $("#export").href = `${base}/export?format=${encodeURIComponent(event.target.value)}`; };
  $("#threshold").oninput = (event) => {
    const value = Number(event.target.value);
    $("#threshold-value").textContent = fmt(value);
    let kept = 0;
    document.querySelectorAll("#clips tr.clip").forEach((row) => {
      const similarity = row.dataset.similarity === "" ? null : Number(row.dataset.similarity);
      const otherReason = row.dataset.reason && !row.dataset.reason.includes("similar");
      const wouldKeep = !otherReason && (similarity === null || similarity >= value);
      kept += wouldKeep;
      row.classList.toggle("would-change", wouldKeep !== (row.dataset.kept === "true"));
    });
    $("#threshold-preview").textContent = `would keep ${kept} of ${view.clips.length}`;
  };
  $("#apply-threshold").onclick = async () => {
    show("checking the clips again…");
    const next = await attempt(() => whileShowingProgress(name, () => getJson(`${base}/checks`, { json: { checks: { min_similarity: Number($("#threshold").value) } } })), "threshold applied");
    if (next) drawDataset(name, next);
  };
  $("#clips").onclick = async (event) => {
    const target = event.target.closest("button");
    if (!target) return;
    if (target.dataset.play) play(target.dataset.play);
    if (target.dataset.decide) {
      const label = target.closest("tr").dataset.id;
      const done = await attempt(() => getJson(projectUrl(`/clips/${encodeURIComponent(label)}`), { json: { decision: target.dataset.decide } }),
        `${label}: ${target.dataset.decide}d`);
      if (done) drawDataset(name, await getJson(base));
    }
  };
}

// -- 5. voice --------------------------------------------------------------------

pages.voice = async () => {
  await loadProjects();
  needProject();
  const names = await characterNames();
  $("#page").innerHTML = `<h2>Voice</h2><div class="row">character ${characterPicker(names, "voice-character")}</div><div id="voice"></div>`;
  $("#voice-character").onchange = (event) => { localStorage.setItem("castvoice.character", event.target.value); route(); };
  await drawVoice($("#voice-character").value);
};

async function drawVoice(name) {
  clearTimeout(state.timer); // one redraw at a time while a build runs
  const listing = await getJson(projectUrl("/voices"));
  const voice = listing.voices.find((v) => v.name.toLowerCase() === (name || "").toLowerCase());
  const build = listing.builds;
  const building = build.state === "running";
  const similarity = voice ? Object.entries(voice.similarity).map(([k, v]) => `<li>${esc(k)}: ${fmt(v)}</li>`).join("") : "";
  const url = (path) => projectUrl(`/voices/${encodeURIComponent(name)}${path}`);
  $("#voice").innerHTML = `<section class="card"><h3>${voice ? `${esc(voice.name)}'s voice <span class="muted">(${esc(voice.backend)}, ${esc(voice.source)})</span>` : `${esc(name)} has no voice yet`}</h3>
      <div class="row"><label>minutes <input type="text" id="voice-minutes" value="1" size="3"></label>
        <button id="make-voice" class="primary" ${building ? "disabled" : ""}>${voice ? "Make again" : "Make the voice"}</button>
        ${building ? `<button id="cancel-voice" ${build.cancelling ? "disabled" : ""}>Cancel</button>` : ""}
        <label><input type="checkbox" id="voice-train"> train (fine-tune, slower)</label></div>
      ${build.state !== "none" ? `<p class="state-${esc(build.state)}" id="build-state">${esc(build.state)} ${esc(build.message)}</p><div class="tasks">${progressRows(build.tasks)}</div>` : ""}
    </section>
    ${voice ? `<section class="card"><div class="side"><div>
        <h3>Say something</h3><textarea id="say-text" rows="2">The lamp is lit again, and every ship in the fleet is coming home.</textarea>
        <div class="row"><button id="say" class="primary">Speak</button> <span id="say-timing" class="muted"></span></div>
        <h3>Reference and clone</h3><div class="row"><span>film</span><audio controls id="reference-audio" src="${url("/reference")}"></audio></div>
        <div class="row"><span>clone</span><audio controls id="say-audio"></audio></div></div>

      <div><h3>Similarity</h3><ul id="similarity">${similarity || "<li>not measured</li>"}</ul>
        <a class="button" id="export-voice" href="${url("/export")}" download>Export .cvoice</a></div></div></section>` : ""}`;
  $("#make-voice").onclick = async () => {
    const body = { name, train: $("#voice-train").checked, minutes: Number($("#voice-minutes").value) || 1 };
    if (await attempt(() => getJson(projectUrl("/voices"), { json: body }), "making the voice in the background")) drawVoice(name);
  };
  if (building) {
    $("#cancel-voice").onclick = async () => {
      if (await attempt(() => getJson(projectUrl("/voices/cancel"), { method: "POST" }), "cancelling the voice")) drawVoice(name);
    };
  }
  if (building) state.timer = setTimeout(() => state.page === "voice" && drawVoice(name).catch((e) => show(e.message, true)), 1000);
  else if (build.state === "failed") show(build.message, true);
  if (!voice) return;
  $("#say").onclick = async () => {
    const text = $("#say-text").value.trim();
    if (!text) { show("type a line to say", true); return; }
    const run = speech.begin();
    const began = performance.now();
    delete document.body.dataset.spoke;
    $("#say-timing").textContent = "speaking…";
    const heard = (seconds) => {
      $("#say-timing").textContent = `first audio after ${seconds.toFixed(2)} s`;
      document.body.dataset.firstAudio = seconds.toFixed(3);
    };
    const tally = await attempt(async () => playWavStream(await call(url(`/speak?text=${encodeURIComponent(text)}`)), run, began, heard));
    if (!tally || run !== speech.run) return;
    $("#say-timing").textContent += ` · ${tally.seconds.toFixed(1)} s of speech`;
    if (tally.count) {
      const audio = $("#say-audio");
      if (audio.src) URL.revokeObjectURL(audio.src);
      audio.src = URL.createObjectURL(tally.wav());
    }
    document.body.dataset.spokeSeconds = tally.seconds.toFixed(2);
    document.body.dataset.spokeRms = tally.rms.toFixed(4);
    document.body.dataset.spoke = "1";
  };
}

// -- 6. chat ---------------------------------------------------------------------

pages.chat = async () => {
  await loadProjects();
  needProject();
  const names = await characterNames();
  $("#page").innerHTML = `<h2>Chat</h2><div class="row">with ${characterPicker(names, "chat-character")}</div>
    <div class="side"><div><div id="chat-log"></div>
      <form id="chat-form" class="row"><input type="text" id="chat-input" placeholder="say something" style="flex:1" autocomplete="off">
        <button class="primary" id="chat-send">Send</button><button type="button" id="mic">● Speak</button></form></div>
      <div><section class="card"><h3>Persona</h3><textarea id="persona" rows="7"></textarea>
        <div class="row"><button id="persona-save">Save</button><button id="persona-reset">Reset</button></div></section>
        <section class="card"><h3>Memory</h3><ul id="memory"></ul></section></div></div>`;
  const name = $("#chat-character").value;
  $("#chat-character").onchange = (event) => { localStorage.setItem("castvoice.character", event.target.value); route(); };
  if (!name) return;
  const drawMemory = async () => {
    const found = await getJson(projectUrl(`/memory/${encodeURIComponent(name)}`));
    $("#memory").innerHTML = found.memories.map((m) => `<li>${esc(m.text)} <button data-forget="${m.id}" title="forget">✕</button></li>`).join("") || "<li class='muted'>nothing yet</li>";
  };
  const persona = await getJson(projectUrl(`/persona/${encodeURIComponent(name)}`));
  $("#persona").value = persona.persona.description;
  await drawMemory();
  $("#memory").onclick = async (event) => {
    const id = event.target.dataset.forget;
    if (id && await attempt(() => call(projectUrl(`/memory/${encodeURIComponent(name)}/${id}`), { method: "DELETE" }), "forgotten")) drawMemory();
  };
  $("#persona-save").onclick = () => attempt(() => getJson(projectUrl(`/persona/${encodeURIComponent(name)}`), { json: { description: $("#persona").value } }), "persona saved");
  $("#persona-reset").onclick = async () => {
    const view = await attempt(() => getJson(projectUrl(`/persona/${encodeURIComponent(name)}`), { json: { reset: true } }), "persona reset");
    if (view) $("#persona").value = view.persona.description;
  };
  $("#chat-form").onsubmit = (event) => {
    event.preventDefault();
    const message = $("#chat-input").value.trim();
    if (!message) return;
    $("#chat-input").value = "";
    talk(name, () => call(projectUrl(`/chat/${encodeURIComponent(name)}`), { json: { message } })).then(drawMemory);
  };
  setUpMicrophone(name, drawMemory);
};

function addTurn(who, text) {
  const turn = document.createElement("div");
  turn.className = `turn ${who}`;
  turn.innerHTML = `<span class="bubble"></span>`;
  turn.firstChild.textContent = text;
  $("#chat-log").append(turn);
  $("#chat-log").scrollTop = $("#chat-log").scrollHeight;
  return turn.firstChild;
}

// Send a message and show the reply as it streams: JSON lines of what was heard, text pieces and pieces of
// speech (played as they come, sentence by sentence), then the turn. Call it from the click or key that sends,
// so that the page may start its audio.
async function talk(name, send) {
  const run = speech.begin();
  const began = performance.now();
  const mine = addTurn("me", "…");
  const theirs = addTurn("them", "");
  const turn = theirs.parentElement;
  turn.dataset.state = "streaming";
  const tally = new SpeechTally(began);
  const pcm = new Pcm16();
  const bytesOf = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  try {
    const answer = await send();
    const reader = answer.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n")) >= 0) {
        const item = JSON.parse(buffer.slice(0, end));
        buffer = buffer.slice(end + 1);
        if (item.heard !== undefined) mine.textContent = item.heard;
        if (item.text) { theirs.textContent += item.text; $("#chat-log").scrollTop = $("#chat-log").scrollHeight; }
        if (item.speech && run === speech.run) {
          const samples = pcm.samples(bytesOf(item.speech));
          tally.add(samples, item.rate, speech.push(samples, item.rate));
          turn.dataset.firstAudio = tally.firstAudio.toFixed(3);
          turn.dataset.speechPieces = String(Number(turn.dataset.speechPieces || 0) + 1);
        }
        if (item.error) throw new Error(item.error);
        if (item.reply !== undefined) {
          theirs.textContent = item.reply;
          turn.dataset.ended = ((performance.now() - began) / 1000).toFixed(3);
          if (item.audio) { turn.dataset.audio = item.audio; addReplay(turn, item.audio); }
          if (item.speech_error) show(`the reply could not be spoken: ${item.speech_error}`, true);
        }
      }
    }
    turn.dataset.speechSeconds = tally.seconds.toFixed(2);
    turn.dataset.speechRms = tally.rms.toFixed(4);
    turn.dataset.state = "done";
  } catch (error) {
    turn.dataset.state = "failed";
    theirs.textContent = "";
    show(error.message, true);
  }
}

// A button to hear a reply again, once it has been spoken.
function addReplay(turn, audio) {
  const again = document.createElement("button");
  again.className = "replay";
  again.title = "hear it again";
  again.textContent = "▶";
  again.onclick = () => { speech.stop(); play(audio); };
  turn.append(again);
}

function setUpMicrophone(name, after) {
  const button = $("#mic");
  if (!navigator.mediaDevices || !window.MediaRecorder) { button.disabled = true; button.title = "this browser cannot record"; return; }
  let recorder = null;
  button.onclick = async () => {
    if (recorder) { recorder.stop(); return; }
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true }).catch((error) => show(`no microphone: ${error.message}`, true));
    if (!stream) return;
    const pieces = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (event) => pieces.push(event.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      recorder = null;
      button.classList.remove("recording");
      button.textContent = "● Speak";
      const form = new FormData();
      form.append("audio", new Blob(pieces, { type: pieces[0] ? pieces[0].type : "audio/webm" }), "message.webm");
      talk(name, () => call(projectUrl(`/chat/${encodeURIComponent(name)}/spoken`), { method: "POST", body: form })).then(after);
    };
    recorder.start();
    button.classList.add("recording");
    button.textContent = "■ Stop";
  };
}

$("#project").onchange = (event) => { selectProject(event.target.value); route(); };
window.addEventListener("hashchange", route);
route();
