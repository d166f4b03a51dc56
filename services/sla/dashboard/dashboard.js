// The SLA dashboard: reads sla's $open-orders and $compliance (layout=table) with the
// operator's bearer token and draws tables and inline-SVG histograms. No external assets;
// every value is written with textContent (never as HTML). The token lives in this tab's
// sessionStorage only: closing the tab forgets it.
"use strict";

const TOKEN_KEY = "sla-dashboard-token";
const BANDS = ["breached", "under-15m", "15m-1h", "1h-4h", "over-4h", "no-deadline"];
const SVG = "http://www.w3.org/2000/svg";

const base = document.querySelector('meta[name="fhir-base"]').content.replace(/\/$/, "");
const $ = (id) => document.getElementById(id);

function status(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

function cell(row, text, number = false) {
  const td = row.insertCell();
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (number) td.classList.add("number");
  return td;
}

function percent(share) {
  return share === null || share === undefined ? "" : `${(share * 100).toFixed(1)}%`;
}

async function fetchTable(operation, params) {
  const query = new URLSearchParams({ ...params, layout: "table" });
  const response = await fetch(`${base}/$${operation}?${query}`, {
    headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}`, Accept: "application/json" },
  });
  if (!response.ok) {
    let why = `${response.status}`;
    try {
      const outcome = await response.json();
      why += `: ${outcome.issue[0].diagnostics}`;
    } catch (ignored) { /* not an OperationOutcome */ }
    throw new Error(`$${operation} answered ${why}`);
  }
  return response.json();
}

function renderLegend() {
  const legend = $("bands");
  legend.replaceChildren();
  for (const band of BANDS) {
    const item = document.createElement("li");
    item.className = `band-${band}`;
    item.textContent = band;
    legend.append(item);
  }
}

function renderOpenOrders(answer) {
  const body = $("open-orders").tBodies[0];
  body.replaceChildren();
  for (const order of answer.rows) {
    const row = body.insertRow();
    row.className = `band-${order.band}`;
    row.dataset.order = order.order;
    cell(row, order.order);
    cell(row, order.facility);
    cell(row, order.stroke ? `${order.priority} (stroke)` : order.priority);
    cell(row, order.modality);
    cell(row, order.on_hold ? `${order.clock} (on hold)` : order.clock);
    cell(row, order.deadline);
    cell(row, order.minutes_left, true);
    cell(row, percent(order.budget_share), true);
    cell(row, order.band);
  }
}

function complianceBar(row, share) {
  const td = cell(row, "", true);
  const track = document.createElement("span");
  track.className = "bar-track";
  const bar = document.createElement("span");
  bar.className = "bar";
  bar.style.width = `${Math.round((share || 0) * 100)}%`; // CSSOM: allowed by the CSP
  track.append(bar);
  td.append(track, document.createTextNode(percent(share)));
}

function renderCompliance(answer) {
  const body = $("compliance").tBodies[0];
  body.replaceChildren();
  for (const stratum of answer.rows) {
    const row = body.insertRow();
    row.dataset.facility = stratum.facility || "unknown";
    row.dataset.priority = stratum.priority || "unknown";
    cell(row, stratum.facility || "unknown");
    cell(row, stratum.priority || "unknown");
    cell(row, stratum.closed, true);
    cell(row, stratum.met, true);
    cell(row, stratum.breached, true);
    complianceBar(row, stratum.compliance);
    cell(row, stratum.p50, true);
    cell(row, stratum.p90, true);
    cell(row, stratum.p95, true);
  }
}

function svg(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

// Where `minutes` falls on the bucket axis: linear within its bucket.
function bucketPosition(minutes, bounds, width) {
  let low = 0;
  for (let i = 0; i < bounds.length; i += 1) {
    if (minutes <= bounds[i]) return (i + (minutes - low) / (bounds[i] - low)) * width;
    low = bounds[i];
  }
  return (bounds.length + 0.5) * width;
}

function histogram(title, counts, bounds, stratum) {
  const width = 36, height = 120, top = 14, bottom = 50;
  const most = Math.max(1, ...counts);
  const chart = svg("svg", {
    width: width * counts.length + 10, height: height + top + bottom, role: "img",
    "aria-label": `${title}: turnaround histogram`,
  });
  counts.forEach((count, i) => {
    const h = Math.round((count / most) * height);
    const label = i < bounds.length ? `≤${bounds[i]}` : `>${bounds[bounds.length - 1]}`;
    chart.append(svg("rect", {
      class: "count", x: i * width + 2, y: top + height - h, width: width - 4, height: h,
      "data-bucket": label, "data-count": count,
    }));
    chart.append(svg("text", { x: i * width + width / 2, y: top + height - h - 2, "text-anchor": "middle" }, String(count)));
    chart.append(svg("text", { x: i * width + width / 2, y: top + height + 12, "text-anchor": "middle" }, label));
  });
  ["p50", "p90", "p95"].forEach((p, row) => {
    if (stratum[p] === null) return;
    const x = bucketPosition(stratum[p], bounds, width);
    chart.append(svg("line", { class: "p", x1: x, x2: x, y1: top, y2: top + height + 14 + row * 11 }));
    chart.append(svg("text", { x: x + 2, y: top + height + 24 + row * 11 }, `${p} ${stratum[p]}`));
  });
  const figure = document.createElement("figure");
  figure.className = "chart";
  figure.dataset.priority = title;
  const caption = document.createElement("h3");
  const spread = ["p50", "p90", "p95"].map((p) => `${p} ${stratum[p] ?? "–"}`).join(", ");
  caption.textContent = `${title}: ${stratum.closed} closed, ${spread} min`;
  figure.append(caption, chart);
  return figure;
}

function renderHistograms(answer) {
  const charts = $("histograms");
  charts.replaceChildren();
  for (const stratum of answer.rows) {
    charts.append(histogram(stratum.priority || "unknown", stratum.histogram, answer.buckets, stratum));
  }
}

async function load() {
  const days = Number($("range").value);
  const end = new Date();
  const start = new Date(end.getTime() - days * 86400000);
  const range = { start: start.toISOString(), end: end.toISOString() };
  status("Loading…");
  try {
    const [open, byFacility, byPriority] = await Promise.all([
      fetchTable("open-orders", {}),
      fetchTable("compliance", { ...range, by: "facility,priority" }),
      fetchTable("compliance", { ...range, by: "priority" }),
    ]);
    renderOpenOrders(open);
    renderCompliance(byFacility);
    renderHistograms(byPriority);
    status(`${open.rows.length} open orders; ${byFacility.overall.closed} closed in range; as of ${open.now}`);
    document.body.dataset.loaded = "true";
  } catch (error) {
    status(error.message, true);
  }
}

$("session").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token").value.trim();
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  $("token").value = "";
  load();
});
$("forget").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  status("Token forgotten.");
});
renderLegend();
if (sessionStorage.getItem(TOKEN_KEY)) {
  $("token").required = false;
  load();
}
