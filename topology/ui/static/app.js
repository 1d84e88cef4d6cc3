// tcnad dashboard: reads /api/events (server-sent events) and draws the streams, the
// latest alerts and the selected stream's readings, band and alerts with uPlot.
"use strict";
(function () {
  const MAX_ALERTS = 200;
  const state = {
    config: {},
    streams: new Map(),   // name -> summary
    alerts: [],           // newest first
    selected: null,       // stream name
    points: [],           // the selected stream's points, oldest first
    streamAlerts: [],     // the selected stream's alerts, oldest first
    input: 0,
    source: null,
    chart: null,
  };
  const $ = (id) => document.getElementById(id);

  function fmt(x) {
    if (x === null || x === undefined) return "–";
    if (typeof x !== "number") return String(x);
    const a = Math.abs(x);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return x.toExponential(3);
    return String(Number(x.toPrecision(5)));
  }
  function vec(xs) {
    if (!Array.isArray(xs)) return fmt(xs);
    if (xs.length === 1) return fmt(xs[0]);
    const shown = xs.slice(0, 3).map(fmt).join(", ");
    return "[" + shown + (xs.length > 3 ? ", …" : "") + "]";
  }
  function band(lo, hi) {
    if (!Array.isArray(lo) || !Array.isArray(hi) || lo[0] === null || hi[0] === null) return "–";
    if (lo.length === 1) return fmt(lo[0]) + " … " + fmt(hi[0]);
    return lo.slice(0, 3).map((l, i) => fmt(l) + "…" + fmt(hi[i])).join(", ") + (lo.length > 3 ? ", …" : "");
  }
  function when(ts) {
    if (typeof ts !== "number") return "–";
    const d = new Date(ts * 1000);
    return isNaN(d) ? String(ts) : d.toISOString().replace("T", " ").slice(0, 23);
  }
  function text(v) {
    if (v === null || v === undefined) return "";
    if (Array.isArray(v)) return v.map(text).join(", ");
    if (typeof v === "object") {  // reason: the parts of the score that fired -> their scores
      return Object.entries(v)
        .sort((a, b) => (typeof b[1] === "number" ? b[1] : 0) - (typeof a[1] === "number" ? a[1] : 0))
        .map(([k, x]) => (typeof x === "number" ? k + " " + fmt(x) : k + " " + text(x)))
        .join(", ");
    }
    return typeof v === "number" ? fmt(v) : String(v);
  }
  function cell(tr, value, cls) {
    const td = document.createElement("td");
    td.textContent = value;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  // ---- streams table -------------------------------------------------------
  const rows = new Map();  // name -> tr
  function streamRow(s) {
    let tr = rows.get(s.stream);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.stream = s.stream;
      const name = cell(tr, s.stream, "stream-name");
      name.title = s.stream;
      cell(tr, "", "value"); cell(tr, "", "band"); cell(tr, "", "score"); cell(tr, "", "count");
      tr.addEventListener("click", () => select(s.stream));
      rows.set(s.stream, tr);
    }
    const c = tr.children;
    c[1].textContent = vec(s.value);
    c[2].textContent = band(s.lower, s.upper);
    c[3].textContent = fmt(s.score);
    c[4].textContent = String(s.alerts);
    c[4].className = "count" + (s.alerts > 0 ? " some" : "");
    tr.classList.toggle("out", !!s.outside);
    tr.classList.toggle("selected", s.stream === state.selected);
    return tr;
  }
  function renderStreams(changed, full) {
    for (const s of changed) state.streams.set(s.stream, s);
    const tbody = $("streams").tBodies[0];
    const needle = $("filter").value.trim().toLowerCase();
    const names = [...state.streams.keys()].filter((n) => !needle || n.toLowerCase().includes(needle)).sort();
    if (full || names.length !== tbody.rows.length || changed.some((s) => !rows.has(s.stream))) {
      const frag = document.createDocumentFragment();
      for (const n of names) frag.appendChild(streamRow(state.streams.get(n)));
      tbody.replaceChildren(frag);
    } else {
      for (const s of changed) if (rows.has(s.stream)) streamRow(s);
    }
    $("stream-count").textContent = "(" + state.streams.size + ")";
    $("no-streams").hidden = state.streams.size > 0;
  }

  // ---- alerts tables -------------------------------------------------------
  function alertRow(a, withStream, fresh) {
    const tr = document.createElement("tr");
    tr.dataset.alertId = a.id;
    if (fresh) tr.className = "new";
    cell(tr, when(a.ts));
    if (withStream) cell(tr, a.stream, "stream-name").title = a.stream;
    cell(tr, vec(a.value));
    cell(tr, band(a.lower, a.upper));
    cell(tr, fmt(a.severity));
    cell(tr, fmt(a.score));
    cell(tr, text(a.reason), "reason");
    cell(tr, text(a.direction), "direction");
    tr.addEventListener("click", () => select(a.stream));
    return tr;
  }
  function renderAlerts(added, full) {
    const tbody = $("alerts").tBodies[0];
    if (full) tbody.replaceChildren();
    for (const a of added) {
      state.alerts.unshift(a);
      tbody.insertBefore(alertRow(a, true, !full), tbody.firstChild);
    }
    state.alerts.length = Math.min(state.alerts.length, MAX_ALERTS);
    while (tbody.rows.length > MAX_ALERTS) tbody.deleteRow(-1);
  }
  function renderStreamAlerts(added, full) {
    const tbody = $("stream-alerts").tBodies[0];
    if (full) tbody.replaceChildren();
    for (const a of added) tbody.insertBefore(alertRow(a, false, !full), tbody.firstChild);
    const keep = state.config.stream_alerts || 50;
    while (tbody.rows.length > keep) tbody.deleteRow(-1);
  }

  // ---- chart ---------------------------------------------------------------
  function chartData() {
    const i = state.input;
    const at = (xs) => (Array.isArray(xs) && xs.length > i ? xs[i] : null);
    const byTs = new Map();
    for (const p of state.points) {
      byTs.set(p.ts, { ts: p.ts, v: at(p.value), lo: at(p.lower), md: at(p.median), hi: at(p.upper), a: p.alert ? at(p.value) : null });
    }
    const first = state.points.length ? state.points[0].ts : -Infinity;
    for (const a of state.streamAlerts) {
      if (a.ts < first) continue;  // older than the kept readings: listed below, not drawn
      let r = byTs.get(a.ts);
      if (!r) { r = { ts: a.ts, v: at(a.value), lo: at(a.lower), md: at(a.median), hi: at(a.upper), a: null }; byTs.set(a.ts, r); }
      r.a = at(a.value);
    }
    const rs = [...byTs.values()].sort((x, y) => x.ts - y.ts);
    return [rs.map((r) => r.ts), rs.map((r) => r.v), rs.map((r) => r.lo), rs.map((r) => r.md), rs.map((r) => r.hi), rs.map((r) => r.a)];
  }
  function chartWidth() { return Math.max(300, $("chart").clientWidth || 600); }
  function makeChart(data) {
    const blue = "rgb(52, 110, 170)";
    const opts = {
      width: chartWidth(), height: 320,
      scales: { x: { time: true } },
      series: [
        { label: "time (UTC)", value: (u, v) => (v === null ? "–" : when(v)) },
        { label: "value", stroke: "#1d232a", width: 1.5 },
        { label: "lower", stroke: blue, width: 1 },
        { label: "median", stroke: blue, width: 1, dash: [5, 4] },
        { label: "upper", stroke: blue, width: 1 },
        { label: "alert", stroke: "rgb(214, 39, 40)", width: 0, paths: () => null,
          points: { show: true, size: 11, width: 2, stroke: "rgb(214, 39, 40)", fill: "rgb(214, 39, 40)" } },
      ],
      bands: [{ series: [4, 2], fill: "rgba(52, 110, 170, 0.22)" }],
      axes: [{}, { size: 60 }],
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
    };
    return new uPlot(opts, data, $("chart"));
  }
  function drawChart() {
    const data = chartData();
    if (!state.selected) return;
    if (!state.chart) { state.chart = makeChart(data); window.tcnadChart = state.chart; }
    else state.chart.setData(data);
    const hint = $("chart-hint");
    if (!state.points.length) {
      hint.textContent = state.config.scores_topic
        ? "No score records for this stream yet."
        : "No scores topic (set TCNAD_SCORES_TOPIC on the workers and --scores-topic here): alerts only.";
    } else {
      const span = state.points[state.points.length - 1].ts - state.points[0].ts;
      hint.textContent = state.points.length + " readings over " + fmt(span) + " s; band = lower … upper, red = alert";
    }
  }
  function setInputs(width) {
    const sel = $("input");
    if (sel.options.length === width) return;
    sel.replaceChildren(...Array.from({ length: width }, (_, i) => new Option(String(i + 1), String(i))));
    $("input-choice").hidden = width < 2;
  }

  // ---- selection and the event stream -------------------------------------
  function select(name) {
    if (name === state.selected) return;
    state.selected = name;
    state.points = []; state.streamAlerts = []; state.input = 0;
    if (state.chart) { state.chart.destroy(); state.chart = null; window.tcnadChart = null; }
    $("selected-title").textContent = name;
    history.replaceState(null, "", "#stream=" + encodeURIComponent(name));
    for (const [n, tr] of rows) tr.classList.toggle("selected", n === name);
    connect();
  }
  function applySelected(sel, full) {
    if (!state.selected || !sel) return;
    const window_ = state.config.window || 600;
    state.points = (full ? sel.points : state.points.concat(sel.points)).slice(-window_);
    const keep = state.config.stream_alerts || 50;
    state.streamAlerts = (full ? sel.alerts : state.streamAlerts.concat(sel.alerts)).slice(-keep);
    const last = state.points[state.points.length - 1] || state.streamAlerts[state.streamAlerts.length - 1];
    if (last) setInputs(last.value.length);
    renderStreamAlerts(sel.alerts, full);
    drawChart();
  }
  function renderFeeds(feeds, skipped) {
    const box = $("feeds");
    box.replaceChildren();
    for (const [kind, status] of Object.entries(feeds || {}).sort()) {
      const b = document.createElement("span");
      b.className = "badge " + (status.startsWith("live") ? "live" : status.startsWith("error") ? "bad" : "warn");
      b.dataset.feed = kind;
      b.textContent = kind + ": " + status;
      box.appendChild(b);
    }
    $("skipped").textContent = skipped ? skipped + " records skipped (not valid)" : "";
  }
  function onSnapshot(ev) {
    const d = JSON.parse(ev.data);
    state.config = d.config || {};
    state.streams.clear(); rows.clear();
    renderStreams(d.streams, true);
    state.alerts = [];
    renderAlerts(d.alerts, true);
    renderFeeds(d.feeds, d.skipped);
    applySelected(d.selected, true);
    if (state.selected && !d.selected) drawChart();
    setConn("live", "live");
  }
  function onUpdate(ev) {
    const d = JSON.parse(ev.data);
    renderStreams(d.streams, false);
    renderAlerts(d.alerts, false);
    renderFeeds(d.feeds, d.skipped);
    applySelected(d.selected, false);
  }
  function setConn(cls, words) { const c = $("conn"); c.className = "badge " + cls; c.textContent = words; }
  function connect() {
    if (state.source) state.source.close();
    const q = state.selected ? "?stream=" + encodeURIComponent(state.selected) : "";
    const src = new EventSource("api/events" + q);
    src.addEventListener("snapshot", onSnapshot);
    src.addEventListener("update", onUpdate);
    src.onerror = () => setConn("bad", "reconnecting");
    state.source = src;
  }

  $("filter").addEventListener("input", () => renderStreams([], true));
  $("input").addEventListener("change", (e) => { state.input = Number(e.target.value); drawChart(); });
  window.addEventListener("resize", () => { if (state.chart) state.chart.setSize({ width: chartWidth(), height: 320 }); });
  const m = /^#stream=(.+)$/.exec(location.hash);
  if (m) select(decodeURIComponent(m[1])); else connect();
})();
