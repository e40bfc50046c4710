"use strict";
const RED = ["failed", "over", "error", "uncounted"];
const COLOUR = {grew: "yellow", warn: "yellow", updated: "cyan", ok: "green"};
const LADDER = [["K", 1e3], ["M", 1e6], ["G", 1e9], ["T", 1e12]];
function three(x) { const a = Math.abs(x); return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2); }
// text.human: three significant figures, 8.27G, 25.6M, 512, - for none
function human(v) {
  if (v === null || v === undefined) return "-";
  if (Math.abs(v) < 1000) return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(3)));
  let i = LADDER.findIndex(([, s]) => Math.abs(v) < s * 1000);
  if (i < 0) i = LADDER.length - 1;
  let text = three(v / LADDER[i][1]);
  if (Math.abs(parseFloat(text)) >= 1000 && i + 1 < LADDER.length) { i++; text = three(v / LADDER[i][1]); }
  return text + LADDER[i][0];
}
function duration(ns) {
  if (ns === null || ns === undefined) return "-";
  for (const [unit, size] of [["s", 1e9], ["ms", 1e6], ["\u00B5s", 1e3]]) if (ns >= size) return (ns / size).toPrecision(3) + " " + unit;
  return ns + " ns";
}
function pct(f) { return f === null || f === undefined ? "-" : (f >= 0 ? "+" : "") + (100 * f).toFixed(1) + "%"; }
function kind(status) { return status.split(":")[0]; }
function colour(status) { const k = kind(status); return RED.includes(k) ? "red" : COLOUR[k] || ""; }
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}
function deltaCell(f) {
  const span = el("span", {class: "delta"});
  span.append(pct(f));
  if (f !== null && f !== undefined) {
    const bar = el("span", {class: "bar"}), i = el("i", {class: f >= 0 ? "up" : "down"});
    i.style.width = Math.min(50, 50 * Math.abs(f)) + "%";
    bar.append(i); span.append(bar);
  }
  return span;
}
function failing(t) { return t.outcome === "failed" || RED.includes(kind(t.status)) || kind(t.status) === "grew"; }
function grown(t) { const d = t.delta || {}; return (d.flops || 0) > 0 || (d.params || 0) > 0 || ["grew", "warn"].includes(kind(t.status)); }

async function unpack() {
  const text = document.getElementById("flopbudget-data").textContent.trim();
  const bytes = Uint8Array.from(atob(text), c => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}

const COLUMNS = [
  {key: "test", label: "test", value: t => t.nodeid, cell: t => t.nodeid, text: true},
  {key: "status", label: "status", value: t => t.status, text: true,
   cell: t => el("span", {class: "s-" + colour(t.status), text: (kind(t.status) === "warn" ? "\u26A0 " : "") + t.status})},
  {key: "flops", label: "FLOPs", value: t => t.totals.flops, cell: t => human(t.totals.flops)},
  {key: "budget", label: "budget", value: t => (t.budget || {}).flops, cell: t => human((t.budget || {}).flops)},
  {key: "dbudget", label: "\u0394 budget", value: t => t.delta.budget, cell: t => deltaCell(t.delta.budget)},
  {key: "dflops", label: "\u0394 baseline", value: t => t.delta.flops, cell: t => deltaCell(t.delta.flops)},
  {key: "macs", label: "MACs", value: t => t.totals.macs, cell: t => human(t.totals.macs)},
  {key: "params", label: "params", value: t => t.totals.params, cell: t => human(t.totals.params)},
  {key: "dparams", label: "\u0394 params", value: t => t.delta.params, cell: t => deltaCell(t.delta.params)},
  {key: "bytes_moved", label: "bytes moved", value: t => t.totals.bytes_moved, cell: t => human(t.totals.bytes_moved) + "B"},
];
const LATENCY = {key: "latency_ns", label: "est. latency", value: t => t.totals.latency_ns,
  cell: t => duration(t.totals.latency_ns)};

const state = {filter: "all", sort: null, desc: false, selected: null, metric: "flops", zoom: null};
let DATA, TESTS, COLS;

function renderTable() {
  const head = document.querySelector("#tests thead"), body = document.querySelector("#tests tbody");
  head.replaceChildren(el("tr", {}, ...COLS.map(c => {
    const th = el("th", {"data-key": c.key, text: c.label});
    if (state.sort === c.key) th.className = state.desc ? "desc" : "asc";
    th.addEventListener("click", () => { state.desc = state.sort === c.key ? !state.desc : false; state.sort = c.key; renderTable(); });
    return th;
  })));
  let rows = TESTS.filter(t => state.filter === "all" || (state.filter === "failing" ? failing(t) : grown(t)));
  if (state.sort) {
    const c = COLS.find(x => x.key === state.sort);
    rows = rows.slice().sort((a, b) => {
      const x = c.value(a), y = c.value(b);
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      const r = c.text ? String(x).localeCompare(String(y)) : x - y;
      return state.desc ? -r : r;
    });
  }
  body.replaceChildren(...rows.map(t => {
    const tr = el("tr", {"data-nodeid": t.nodeid}, ...COLS.map(c => {
      const v = c.value(t), td = el("td", {"data-key": c.key}, c.cell(t));
      if (!c.text) td.dataset.value = v === null || v === undefined ? "" : v;
      if (!c.text && typeof v === "number" && Number.isInteger(v)) td.title = String(v);
      return td;
    }));
    if (t.nodeid === state.selected) tr.className = "sel";
    tr.addEventListener("click", () => {
      select(t.nodeid);
      document.getElementById("detail").scrollIntoView({block: "nearest"});
    });
    return tr;
  }));
  document.getElementById("shown").textContent = rows.length + " of " + TESTS.length + " tests";
}

const METRICS = [["flops", "FLOPs"], ["macs", "MACs"], ["params", "params"], ["bytes_moved", "bytes moved"], ["latency_ns", "est. latency"]];

// the module tree from qualified names: a module's parent is its longest listed prefix; a
// module named "" (the model itself, as `flopbudget MODEL` names it) is every other's prefix
function tree(test) {
  const root = {name: null, label: test.nodeid.split("::").pop(), type: "test", calls: 1,
    children: [], m: null, test: test};
  const byName = new Map();
  const depth = (name) => name === "" ? 0 : name.split(".").length;
  const mods = (test.modules || []).slice().sort((a, b) => depth(a.name) - depth(b.name));
  for (const m of mods) {
    const node = {name: m.name, label: m.name || m.type, type: m.type, calls: m.calls,
      children: [], m: m};
    const parts = m.name.split(".");
    let parent = root;
    for (let i = m.name === "" ? -1 : parts.length - 1; i >= 0; i--) {
      const p = byName.get(parts.slice(0, i).join("."));
      if (p) { parent = p; break; }
    }
    if (parent !== root && parent.name !== "") node.label = m.name.slice(parent.name.length + 1);
    parent.children.push(node);
    byName.set(m.name, node);
  }
  return root;
}
// the test's bar: its totals, or its modules' sum where that is more (a distribution's tree is
// every input's work together, its totals one statistic of it)
function value(node, metric) {
  if (node.m) return node.m[metric] || 0;
  const below = node.children.reduce((sum, c) => sum + value(c, metric), 0);
  return Math.max(node.test.totals[metric] || 0, below);
}
function fmt(metric, v) { return metric === "latency_ns" ? duration(v) : human(v) + (metric === "bytes_moved" ? "B" : ""); }
function heat(f) {
  if (f === null || f === undefined) return "hsl(210,15%,82%)";
  const c = Math.max(-1, Math.min(1, f / 0.25));
  return c >= 0 ? `hsl(${45 - 45 * c},90%,${78 - 18 * c}%)` : `hsl(140,55%,${78 + 18 * c}%)`;
}
function flame(depth) { return `hsl(${28 + (depth * 23) % 40},85%,${70 - (depth % 3) * 6}%)`; }

function renderIcicle() {
  const test = TESTS.find(t => t.nodeid === state.selected);
  const metric = state.metric, root = tree(test);
  const deltas = DATA.module_deltas[test.nodeid];
  let top = root;
  if (state.zoom !== null) {
    const find = (n) => n.name === state.zoom ? n : n.children.map(find).find(Boolean);
    top = find(root) || root;
  }
  const box = document.getElementById("icicle");
  const nodes = [];
  const total = value(top, metric);
  function place(node, left, width, depth) {
    const v = value(node, metric);
    const d = el("div", {class: node === root ? "node root" : "node", "data-name": node.name ?? "",
      "data-depth": depth,
      "data-value": v, "data-share": total ? v / total : 0});
    d.style.left = (100 * left) + "%"; d.style.width = (100 * width) + "%"; d.style.top = (22 * depth) + "px";
    const f = node.m ? (deltas ? deltas[node.name] : test.previous ? test.delta.flops : undefined) : test.delta.flops;
    d.style.background = deltas || test.previous ? heat(f) : flame(depth);
    // a label where it fits; the tooltip names every bar
    if (box.clientWidth * width >= 40) d.textContent = node.label + " " + fmt(metric, v);
    d.addEventListener("mousemove", (e) => tip(e, node, metric, f));
    d.addEventListener("mouseleave", () => { document.getElementById("tip").hidden = true; });
    d.addEventListener("click", () => { state.zoom = node === top ? parentOf(root, top) : node.name; renderIcicle(); });
    nodes.push(d);
    const sum = node.children.reduce((s, c) => s + value(c, metric), 0);
    const scale = v && sum > v ? v / sum : 1;  // shared weights: children never wider than their parent
    let x = left;
    for (const c of node.children.slice().sort((a, b) => value(b, metric) - value(a, metric))) {
      const w = v ? width * scale * value(c, metric) / v : 0;
      if (w > 0) place(c, x, w, depth + 1);
      x += w;
    }
  }
  if (total > 0) place(top, 0, 1, 0);
  const depth = nodes.reduce((m, d) => Math.max(m, +d.dataset.depth), 0);
  box.style.height = nodes.length ? (22 * (depth + 1)) + "px" : "auto";
  box.replaceChildren(...nodes);
  if (!nodes.length) box.textContent = "no " + METRICS.find(m => m[0] === metric)[1] + " measured";
  const left = test.modules_left_out ? `; ${test.modules_left_out} cheaper modules not in the report` : "";
  document.getElementById("legend").textContent =
    (deltas ? "colour: each module's FLOP change against the earlier run (red grew, green shrank, grey new)"
      : test.previous ? "colour: the test's FLOP change against the earlier run, " + pct(test.delta.flops)
      : "no earlier run to compare with") + "; width: share of the " + METRICS.find(m => m[0] === metric)[1] +
    "; click a module to zoom in, the top bar to zoom out" + left +
    (top === root ? "" : "; zoomed into " + (top.name || top.label));
}
function parentOf(root, node) {
  if (node === root) return null;
  const walk = (n) => n.children.includes(node) ? n : n.children.map(walk).find(Boolean);
  const p = walk(root);
  return p && p !== root ? p.name : null;
}
function tip(e, node, metric, f) {
  const t = document.getElementById("tip");
  const m = node.m || node.test.totals;
  const lines = [node.name || node.label, "type: " + node.type, "calls: " + node.calls];
  for (const [k, label] of METRICS) if (m[k] !== undefined && m[k] !== null) lines.push(label + ": " + fmt(k, m[k]) + " (" + m[k] + ")");
  if (f !== undefined) lines.push("\u0394 FLOPs: " + pct(f));
  t.textContent = lines.join("\n"); t.hidden = false;
  t.style.left = (e.clientX + 12) + "px"; t.style.top = (e.clientY + 12) + "px";
}

function hbars(caption, items, metric) {
  const max = Math.max(...items.map(i => i[1] || 0), 1);
  const grid = el("div", {class: "hbar"});
  for (const [label, v, note] of items) {
    const b = el("b"); b.style.width = (100 * (v || 0) / max) + "%";
    grid.append(el("span", {text: label}), el("span", {}, b), el("span", {text: fmt(metric, v || 0) + (note || "")}));
  }
  return el("figure", {class: "chart", "data-chart": caption}, el("figcaption", {text: caption}), grid);
}
function trendChart(points) {
  const W = 320, H = 110, P = 24;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", W); svg.setAttribute("height", H);
  const ys = points.map(p => p.flops), lo = Math.min(...ys), hi = Math.max(...ys);
  const x = (i) => P + (points.length > 1 ? i * (W - 2 * P) / (points.length - 1) : (W - 2 * P) / 2);
  const y = (v) => hi === lo ? H / 2 : H - P - (v - lo) * (H - 2 * P) / (hi - lo);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points.map((p, i) => x(i) + "," + y(p.flops)).join(" "));
  line.setAttribute("fill", "none"); line.setAttribute("stroke", "#0969da"); line.setAttribute("stroke-width", "2");
  svg.append(line);
  points.forEach((p, i) => {
    const c = document.createElementNS(ns, "circle");
    c.setAttribute("cx", x(i)); c.setAttribute("cy", y(p.flops)); c.setAttribute("r", 3); c.setAttribute("fill", "#0969da");
    const title = document.createElementNS(ns, "title");
    title.textContent = (p.commit ? String(p.commit).slice(0, 12) + " " : "") + (p.date || "") + ": " + human(p.flops) + " FLOPs";
    c.append(title); svg.append(c);
  });
  for (const [v, yy] of [[hi, P - 8], [lo, H - 6]]) {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", 2); t.setAttribute("y", yy); t.setAttribute("font-size", "11"); t.textContent = human(v);
    svg.append(t);
  }
  return el("figure", {class: "chart", "data-chart": "trend"}, el("figcaption", {text: "FLOPs over the history (" + points.length + " runs)"}), svg);
}
function renderCharts(test) {
  const charts = [];
  const phases = Object.entries(test.phases || {});
  if (phases.length) charts.push(hbars("phases: FLOPs in total", phases.map(([n, p]) => [n, p.total.flops, " in " + p.entries + " entr" + (p.entries === 1 ? "y" : "ies")]), "flops"));
  const d = test.distribution;
  if (d) charts.push(hbars("FLOPs over " + d.count + " inputs (gated: " + d.statistic + ")",
    ["min", "mean", "p50", "p95", "max"].filter(s => d[s]).map(s => [s, d[s].flops]), "flops"));
  const points = DATA.trends[test.nodeid];
  if (points && points.length) charts.push(trendChart(points));
  document.getElementById("charts").replaceChildren(...charts);
}
function select(nodeid) {
  state.selected = nodeid; state.zoom = null;
  const test = TESTS.find(t => t.nodeid === nodeid);
  document.getElementById("detail").hidden = false;
  document.getElementById("detail-title").textContent = nodeid + " \u2014 " + test.status;
  const present = METRICS.filter(([k]) => (test.modules || []).some(m => m[k] !== undefined) || (test.totals[k] !== null && test.totals[k] !== undefined && k !== "latency_ns"));
  if (!present.some(([k]) => k === state.metric)) state.metric = "flops";
  document.getElementById("metrics").replaceChildren(...present.map(([k, label]) => {
    const b = el("button", {"data-metric": k, text: label, class: k === state.metric ? "on" : ""});
    b.addEventListener("click", () => { state.metric = k; showMetric(); });
    return b;
  }));
  function showMetric() {
    for (const b of document.querySelectorAll("#metrics button")) b.className = b.dataset.metric === state.metric ? "on" : "";
    renderIcicle();
  }
  for (const tr of document.querySelectorAll("#tests tbody tr")) tr.className = tr.dataset.nodeid === nodeid ? "sel" : "";
  renderIcicle(); renderCharts(test);
}

async function main() {
  DATA = await unpack();
  const r = DATA.report;
  TESTS = r.tests || [];
  COLS = TESTS.some(t => t.totals.latency_ns !== null && t.totals.latency_ns !== undefined) ? [...COLUMNS, LATENCY] : COLUMNS;
  document.getElementById("verdict").textContent = DATA.verdict.text;
  document.getElementById("verdict").className = "s-" + DATA.verdict.tone;
  document.getElementById("about").textContent = [
    r.created && "run " + r.created, r.commit && "commit " + String(r.commit).slice(0, 12),
    r.count && r.count + " convention", r.compared_with ? "compared with the " + r.compared_with : "no earlier run",
    r.torch_version && "torch " + r.torch_version, r.plugin_version && "pytest-flopbudget " + r.plugin_version,
    (r.gone || []).length && r.gone.length + " tests gone since"].filter(Boolean).join(" \u00B7 ");
  for (const b of document.querySelectorAll("#filters button")) b.addEventListener("click", () => {
    state.filter = b.dataset.filter;
    for (const o of document.querySelectorAll("#filters button")) o.className = o === b ? "on" : "";
    renderTable();
  });
  renderTable();
  if (TESTS.length) select(TESTS[0].nodeid);
  document.body.dataset.ready = "1";
}
main().catch(e => { document.getElementById("verdict").textContent = "this report could not be read: " + e; throw e; });
