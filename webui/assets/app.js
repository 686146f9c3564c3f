// dhtnode web UI: one page, no framework. Every view reads the daemon's HTTP API with
// same-origin fetch calls (the browser sends the session cookie) and refreshes once a
// second. Nothing here is fetched from anywhere but the daemon itself.
"use strict";

const API = "/api/v1/";
const POLL_MS = 1000;
const HISTORY = 120; // samples kept for the rate charts (two minutes at one a second)
const SVGNS = "http://www.w3.org/2000/svg";

const state = {
  self: null,          // IDInfo
  members: [],         // []MemberInfo
  peers: [],           // []PeerInfo
  routers: [],         // []RouterInfo
  lastStates: null,    // member name → state, for the change log
  events: [],          // member state changes, newest first
  bw: [],              // {t, total, by_protocol}
  transfers: new Map(),// id → {snap, history: [{t, bytes}], gone: time}
  view: "members",
};

// ---------- helpers ----------

async function api(path, opts) {
  const resp = await fetch(API + path, Object.assign({ credentials: "same-origin", cache: "no-store" }, opts || {}));
  if (resp.status === 401) {
    throw new Error("not logged in: run `dhtnode webui` for a login link");
  }
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
  if (!resp.ok) {
    throw new Error((body && body.error) || (resp.status + " " + resp.statusText));
  }
  return body;
}

function post(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "width") e.style.width = v; // CSSOM, not a style attribute: the CSP allows it
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function short(id) { return id ? "…" + id.slice(-6) : ""; }
function fmtBytes(n) {
  if (!isFinite(n)) return "-";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : Math.round(n)) + " " + u[i];
}
function fmtRate(n) { return fmtBytes(n) + "/s"; }
function fmtDur(ns) {
  if (!ns) return "0";
  const ms = ns / 1e6;
  if (ms < 1) return (ns / 1e3).toFixed(0) + " µs";
  if (ms < 1000) return ms.toFixed(1) + " ms";
  return (ms / 1000).toFixed(2) + " s";
}
function ago(t) {
  if (!t || t.startsWith("0001")) return "";
  const s = (Date.now() - Date.parse(t)) / 1000;
  return s < 60 ? Math.max(0, Math.round(s)) + " s ago" : Math.round(s / 60) + " min ago";
}
function badge(s) { return el("span", { class: "badge " + s, text: s }); }
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
function nameOf(peerID) {
  if (state.self && peerID === state.self.peer_id) return "this node";
  return short(peerID);
}

// Position of a 256-bit key (64 hex digits) on the ring, as a fraction of a turn.
function keyFrac(hex) { return parseInt(hex.slice(0, 12), 16) / 2 ** 48; }
function ringXY(frac, r) {
  const a = frac * 2 * Math.PI - Math.PI / 2; // clockwise from the top
  return [r * Math.cos(a), r * Math.sin(a)];
}
// log2 of the XOR distance of two keys (0 = same key, up to 256).
function xorLog2(a, b) {
  for (let i = 0; i < 64; i += 12) {
    const d = BigInt("0x" + a.slice(i, i + 12)) ^ BigInt("0x" + b.slice(i, i + 12));
    if (d !== 0n) {
      const below = 256 - 4 * Math.min(64, i + 12); // bits after this chunk
      return below + Math.log2(Number(d));
    }
  }
  return 0;
}

function setStatus(msg, isErr) {
  const s = document.getElementById("status");
  s.textContent = msg;
  s.className = isErr ? "err" : "muted";
}

// ---------- routing between views ----------

function showView() {
  const v = (location.hash || "#members").slice(1);
  state.view = document.getElementById("view-" + v) ? v : "members";
  for (const s of document.querySelectorAll(".view")) s.classList.toggle("active", s.id === "view-" + state.view);
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.getAttribute("href") === "#" + state.view);
  refresh();
}

// ---------- members ----------

function trackMembers(members) {
  const now = new Date().toLocaleTimeString();
  const cur = new Map(members.map(m => [m.name, m.state]));
  if (state.lastStates) {
    for (const [name, st] of cur) {
      const was = state.lastStates.get(name);
      if (was !== st) state.events.unshift({ time: now, name, from: was || "(new)", to: st });
    }
    for (const [name, was] of state.lastStates) {
      if (!cur.has(name)) state.events.unshift({ time: now, name, from: was, to: "(forgotten)" });
    }
  } else {
    for (const [name, st] of cur) state.events.unshift({ time: now, name, from: "", to: st });
  }
  state.events.length = Math.min(state.events.length, 200);
  state.lastStates = cur;
}

function renderMembers() {
  const tb = clear(document.querySelector("#members-table tbody"));
  const counts = {};
  for (const m of state.members) {
    counts[m.state] = (counts[m.state] || 0) + 1;
    const self = state.self && m.peer_id === state.self.peer_id;
    tb.append(el("tr", { class: "member", "data-state": m.state, "data-peer": m.peer_id },
      el("td", {}, badge(m.state)),
      el("td", { class: "mono", text: (m.name === m.peer_id ? short(m.name) : m.name) + (self ? " (this node)" : "") }),
      el("td", { class: "mono", text: m.addr }),
      el("td", { class: "mono", text: m.peer_id })));
  }
  document.getElementById("member-count").textContent =
    Object.entries(counts).map(([k, v]) => v + " " + k).join(", ");
  const ol = clear(document.getElementById("member-events"));
  for (const e of state.events.slice(0, 50)) {
    ol.append(el("li", {}, el("span", { class: "muted", text: e.time + " " }),
      el("span", { class: "mono", text: short(e.name) + " " }),
      e.from ? document.createTextNode(e.from + " → ") : null, badge(e.to.replace(/[()]/g, ""))));
  }
}

// ---------- chord ----------

function ringBase(root, R) {
  root.append(svg("circle", { class: "ring-circle", r: R }));
  for (const [t, f] of [["0", 0], ["2²⁵⁴", 0.25], ["2²⁵⁵", 0.5], ["3·2²⁵⁴", 0.75]]) {
    const [x, y] = ringXY(f, R + 22);
    root.append(svg("text", { class: "label muted", x, y, "text-anchor": "middle", "dominant-baseline": "middle", text: t }));
  }
}

function ringNodes(root, R, labels) {
  for (const p of state.peers) {
    if (!p.state && !p.self) continue; // connected but not a member: not on the ring
    const [x, y] = ringXY(keyFrac(p.key), R);
    const cls = "node" + (p.self ? " self" : "") + (p.state && p.state !== "alive" ? " " + p.state : "");
    root.append(svg("circle", { class: cls, cx: x, cy: y, r: p.self ? 9 : 7, "data-peer": p.peer_id },
      svg("title", { text: p.peer_id + "\nkey " + p.key + "\n" + (p.state || "") })));
    if (labels) {
      const [lx, ly] = ringXY(keyFrac(p.key), R - 24);
      root.append(svg("text", { class: "label", x: lx, y: ly, "text-anchor": "middle", "dominant-baseline": "middle", text: nameOf(p.peer_id) }));
    }
  }
}

// arc draws a curve from a to b bending toward the centre, so many arcs stay readable.
function arc(a, b, R, cls) {
  const [x1, y1] = ringXY(keyFrac(a), R), [x2, y2] = ringXY(keyFrac(b), R);
  const mx = (x1 + x2) / 2 * 0.35, my = (y1 + y2) / 2 * 0.35;
  return svg("path", { class: "arc " + cls, d: `M${x1},${y1} Q${mx},${my} ${x2},${y2}` });
}

async function renderChord() {
  const root = clear(document.getElementById("ring"));
  const R = 260;
  ringBase(root, R);
  const tb = clear(document.querySelector("#chord-table tbody"));
  let table = null;
  if (state.routers.some(r => r.name === "chord")) {
    const tables = await api("routing/table?via=chord");
    table = tables && tables[0];
  }
  if (table && table.self) {
    const self = table.self.key;
    const cls = { predecessor: "pred", successors: "succ", fingers: "finger" };
    for (const sec of table.sections || []) {
      const seen = new Set();
      for (const e of sec.entries || []) {
        if (e.key !== self && !seen.has(e.key)) root.append(arc(self, e.key, R, cls[sec.name] || "finger"));
        seen.add(e.key);
        tb.append(el("tr", {},
          el("td", { text: sec.name + (sec.name === "predecessor" ? "" : " " + e.index) }),
          el("td", { class: "mono", text: nameOf(e.peer) }),
          el("td", { class: "mono", text: e.key.slice(0, 16) + "…" })));
      }
    }
  } else {
    tb.append(el("tr", {}, el("td", { colspan: 3, class: "muted", text: "This node does not run Chord." })));
  }
  ringNodes(root, R, true);
}

// ---------- kademlia ----------

async function renderKademlia() {
  const box = document.getElementById("buckets");
  if (!state.routers.some(r => r.name === "kademlia")) {
    clear(box).append(el("p", { class: "muted", text: "This node does not run Kademlia." }));
    return;
  }
  const tables = await api("routing/table?via=kademlia");
  const t = tables && tables[0];
  clear(box);
  const secs = (t && t.sections) || [];
  if (!secs.length) box.append(el("p", { class: "muted", text: "The routing table is empty." }));
  for (const sec of secs) {
    const n = (sec.entries || []).length;
    const peers = el("div", { class: "peers-inline" });
    for (const e of sec.entries || []) {
      peers.append(el("span", { class: "mono", text: nameOf(e.peer) + (e.last_seen ? " (" + ago(e.last_seen) + ")" : "") + "  " }));
    }
    box.append(el("div", { class: "bucket", "data-bucket": sec.name },
      el("div", {}, el("b", { text: sec.name }), el("div", { class: "muted", text: n + " / 20" })),
      el("div", {}, el("div", { class: "bar" }, el("div", { width: Math.min(100, n / 20 * 100) + "%" })), peers)));
  }
}

// ---------- lookup ----------

async function runLookup(ev) {
  if (ev) ev.preventDefault();
  const key = document.getElementById("lookup-key").value.trim();
  if (!key) return;
  const box = clear(document.getElementById("lookup-results"));
  const routers = state.routers.length ? state.routers : [{ name: "" }];
  // Side by side: one request per router, all at once.
  await Promise.all(routers.map(async r => {
    const card = el("div", { class: "card lookup-result", "data-router": r.name }, el("h3", { text: r.name }), el("p", { class: "muted", text: "looking up…" }));
    box.append(card);
    try {
      const resp = await api("routing/lookup?key=" + encodeURIComponent(key) + "&via=" + encodeURIComponent(r.name));
      document.getElementById("lookup-key-info").textContent = "read as " + resp.key_kind + ": key " + resp.key;
      drawLookup(card, resp.key, resp.results[0]);
    } catch (e) {
      clear(card).append(el("h3", { text: r.name }), el("p", { class: "err", text: e.message }));
    }
  }));
}

function drawLookup(card, key, res) {
  clear(card);
  card.append(el("h3", { text: res.router }));
  const tr = res.trace || {};
  const owner = (res.peers || [])[0];
  card.append(el("div", { class: "stats" },
    el("span", {}, "hops ", el("b", { text: String(tr.hops) })),
    el("span", {}, "RPCs ", el("b", { text: String(tr.rpcs) })),
    el("span", {}, "timeouts ", el("b", { text: String(tr.timeouts || 0) })),
    el("span", {}, "latency ", el("b", { text: fmtDur(tr.latency) })),
    el("span", {}, "owner ", el("b", { class: "mono", text: owner ? nameOf(owner.peer_id) : "-" }))));
  if (res.error) card.append(el("p", { class: "err", text: res.error }));
  // The drawn path: this node, every hop in order, then the owner.
  const pts = [{ peer: state.self.peer_id, key: state.peers.find(p => p.self).key, label: "start" }];
  for (const h of tr.path || []) pts.push({ peer: h.peer, key: h.key, err: h.error, label: "hop " + h.depth });
  if (owner && pts[pts.length - 1].peer !== owner.peer_id) pts.push({ peer: owner.peer_id, key: owner.key, label: "owner" });
  const pic = res.router === "kademlia" ? xorPicture(key, pts) : ringPicture(key, pts);
  card.append(pic.svg);
  const tb = el("tbody");
  for (const h of tr.path || []) {
    tb.append(el("tr", { class: "hop" },
      el("td", { text: String(h.depth) }), el("td", { class: "mono", text: nameOf(h.peer) }),
      el("td", { text: fmtDur(h.rtt) }), el("td", { class: "mono", text: h.distance || "" }),
      el("td", h.error ? { class: "err", text: h.error } : {})));
  }
  card.append(el("div", { class: "scroll" }, el("table", {},
    el("thead", {}, el("tr", {}, el("th", { text: "depth" }), el("th", { text: "peer" }), el("th", { text: "RTT" }), el("th", { text: "distance" }), el("th", { text: "" }))), tb)));
  pic.animate();
}

// ringPicture draws the path as chords across the ring, revealed hop by hop.
function ringPicture(key, pts) {
  const R = 150;
  const root = svg("svg", { viewBox: "-190 -190 380 380", class: "lookup-ring" });
  ringBase(root, R);
  ringNodes(root, R, false);
  const [tx, ty] = ringXY(keyFrac(key), R);
  root.append(svg("circle", { class: "target", cx: tx, cy: ty, r: 12 }, svg("title", { text: "key " + key })));
  const path = svg("polyline", { class: "path", points: "" });
  root.append(path);
  const xy = pts.map(p => ringXY(keyFrac(p.key), R));
  return { svg: root, animate: () => reveal(root, path, xy) };
}

// xorPicture puts every node of the path on an axis of log2(XOR distance to the key),
// farthest left, closest right; the axis spans the distances on the path (a few nodes
// are all about 2^255 away, so a 0..256 axis would pile them up). Each hop steps down.
function xorPicture(key, pts) {
  const W = 360, H = Math.max(90, 30 + pts.length * 24);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "lookup-xor" });
  const d = pts.map(p => xorLog2(p.key, key));
  const lo = Math.max(0, Math.floor(Math.min(...d)) - 2), hi = 256;
  const x = v => 20 + (hi - v) / (hi - lo) * (W - 40);
  root.append(svg("line", { class: "axis", x1: 20, y1: H - 14, x2: W - 20, y2: H - 14 }));
  root.append(svg("text", { class: "label", x: 20, y: H - 2, text: "XOR 2^256" }));
  root.append(svg("text", { class: "label", x: W - 20, y: H - 2, "text-anchor": "end", text: (lo === 0 ? "key" : "2^" + lo) + " (closer →)" }));
  const xy = pts.map((p, i) => [x(d[i]), 16 + i * 24]);
  pts.forEach((p, i) => root.append(svg("text", { class: "label", x: Math.min(xy[i][0] + 8, W - 150), y: xy[i][1] + 4, text: nameOf(p.peer) + " · 2^" + d[i].toFixed(1) })));
  const path = svg("polyline", { class: "path", points: "" });
  root.append(path);
  return { svg: root, animate: () => reveal(root, path, xy) };
}

function reveal(root, path, xy) {
  let i = 0;
  const step = () => {
    i++;
    path.setAttribute("points", xy.slice(0, i).map(p => p.join(",")).join(" "));
    const [x, y] = xy[i - 1];
    root.append(svg("circle", { class: "hopdot", cx: x, cy: y, r: 4 }));
    if (i < xy.length) setTimeout(step, 350);
  };
  step();
}

// ---------- content ----------

async function renderContent() {
  const list = await api("content/ls");
  const tb = clear(document.querySelector("#content-table tbody"));
  for (const c of list || []) {
    const btn = el("button", { class: "small", text: c.pinned ? "unpin" : "pin", onclick: async () => {
      try { await post(c.pinned ? "content/pin/rm" : "content/pin/add", { id: c.id }); msg(c.pinned ? "unpinned " + c.name : "pinned " + c.name); refresh(); } catch (e) { msg(e.message, true); }
    } });
    tb.append(el("tr", { class: "content-row", "data-id": c.id },
      el("td", { text: c.name + (c.kind === "dir" ? "/" : "") }), el("td", { text: fmtBytes(c.size) }),
      el("td", { text: c.have + " / " + c.pieces }), el("td", { text: c.pinned ? "yes" : "no" }),
      el("td", { class: "mono", text: c.id }), el("td", {}, btn)));
  }
  if (!(list || []).length) tb.append(el("tr", {}, el("td", { colspan: 6, class: "muted", text: "Nothing stored yet: add a file." })));
}

function msg(text, isErr) {
  const p = document.getElementById("content-msg");
  p.textContent = text;
  p.className = isErr ? "err" : "muted";
}

function trackTransfers(list) {
  const now = Date.now();
  const live = new Set();
  for (const t of list) {
    live.add(t.id);
    let e = state.transfers.get(t.id);
    if (!e || e.gone) { e = { history: [] }; state.transfers.set(t.id, e); }
    e.snap = t;
    e.history.push({ t: now, bytes: t.bytes });
    if (e.history.length > HISTORY) e.history.shift();
  }
  for (const [id, e] of state.transfers) {
    if (!live.has(id) && !e.gone) e.gone = now;
    if (e.gone && now - e.gone > 60000) state.transfers.delete(id);
  }
}

function rates(history) {
  const out = [];
  for (let i = 1; i < history.length; i++) {
    const dt = (history[i].t - history[i - 1].t) / 1000;
    out.push(dt > 0 ? Math.max(0, (history[i].bytes - history[i - 1].bytes) / dt) : 0);
  }
  return out;
}

function renderTransfers() {
  const box = clear(document.getElementById("transfers"));
  if (!state.transfers.size) { box.append(el("p", { class: "muted", text: "No download in progress." })); return; }
  for (const [id, e] of state.transfers) {
    const t = e.snap;
    const held = (t.pieces.match(/h/g) || []).length;
    const card = el("div", { class: "card transfer", "data-id": id, "data-held": String(held), "data-total": String(t.total_pieces) });
    card.append(el("h3", { text: (t.name || short(id)) + (e.gone ? " (finished or stopped)" : "") }));
    const r = rates(e.history);
    card.append(el("div", { class: "stats" },
      el("span", {}, el("b", { text: fmtBytes(t.bytes) }), " of " + fmtBytes(t.total)),
      el("span", {}, "pieces ", el("b", { text: held + " / " + t.total_pieces })),
      el("span", {}, "rate ", el("b", { text: fmtRate(r.length ? r[r.length - 1] : 0) })),
      el("span", {}, "elapsed ", el("b", { text: fmtDur(t.elapsed_ns) }))));
    card.append(piecesMap(t.pieces));
    card.append(el("p", { class: "muted", text: "pieces: green held, amber in flight, grey missing. Rate over time:" }));
    card.append(lineChart([r], ["line-in"], "chart small"));
    const tb = el("tbody");
    for (const p of t.peers) {
      tb.append(el("tr", { class: "transfer-peer" },
        el("td", { class: "mono", text: nameOf(p.peer_id) }), el("td", {}, badge(p.state)),
        el("td", { text: fmtRate(p.rate) }), el("td", { text: p.pieces + (p.bad ? " (" + p.bad + " bad)" : "") }),
        el("td", { text: p.in_flight + " / " + p.window }), el("td", { text: p.reason || "" })));
    }
    card.append(el("div", { class: "scroll" }, el("table", {}, el("thead", {}, el("tr", {},
      el("th", { text: "peer" }), el("th", { text: "state" }), el("th", { text: "rate" }), el("th", { text: "pieces" }),
      el("th", { text: "in flight / window" }), el("th", { text: "why" }))), tb)));
    box.append(card);
  }
}

// piecesMap shows one square per piece; very large contents fold several pieces into a
// square (held only when all are, in flight when any is).
function piecesMap(pieces) {
  const box = el("div", { class: "pieces" });
  const per = Math.max(1, Math.ceil(pieces.length / 1024));
  for (let i = 0; i < pieces.length; i += per) {
    const chunk = pieces.slice(i, i + per);
    const cls = /^h+$/.test(chunk) ? "h" : chunk.includes("f") ? "f" : chunk.includes("h") ? "f" : "m";
    box.append(el("span", { class: "piece " + cls }));
  }
  return box;
}

async function upload(ev) {
  const f = ev.target.files[0];
  if (!f) return;
  msg("adding " + f.name + "…");
  try {
    const res = await api("content/upload?name=" + encodeURIComponent(f.name), { method: "POST", body: f });
    msg("added " + f.name + " as " + res.id);
  } catch (e) { msg(e.message, true); }
  ev.target.value = "";
  refresh();
}

async function getContent(ev) {
  ev.preventDefault();
  const id = document.getElementById("get-id").value.trim();
  if (!id) return;
  msg("fetching " + id + "…");
  try {
    const resp = await fetch(API + "content/get", { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ id }) });
    const text = await resp.text();
    const lines = text.trim().split("\n").filter(Boolean).map(l => JSON.parse(l));
    const last = lines[lines.length - 1] || {};
    if (!resp.ok || last.error) throw new Error(last.error || resp.statusText);
    msg("fetched " + id);
  } catch (e) { msg(e.message, true); }
  refresh();
}

async function runGC() {
  try {
    const r = await post("repo/gc");
    msg(`gc removed ${r.removed_contents} contents, ${r.removed_pieces} pieces, ${fmtBytes(r.removed_bytes)}`);
  } catch (e) { msg(e.message, true); }
  refresh();
}

// ---------- network ----------

function trackBandwidth(bw) {
  state.bw.push(bw);
  if (state.bw.length > HISTORY) state.bw.shift();
}

// lineChart draws series (arrays of numbers) scaled to their common maximum.
function lineChart(series, classes, cls) {
  const W = 600, H = cls === "spark" ? 24 : (cls && cls.includes("small") ? 60 : 160);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", class: cls || "chart" });
  const maxV = Math.max(1, ...series.flat());
  series.forEach((s, k) => {
    const n = Math.max(2, s.length);
    const pts = s.map((v, i) => `${(i / (n - 1)) * W},${H - 2 - (v / maxV) * (H - 4)}`).join(" ");
    root.append(svg("polyline", { class: classes[k], points: pts }));
  });
  if (cls === "chart") root.append(svg("text", { class: "label", x: 4, y: 12, text: "max " + fmtRate(maxV) }));
  return root;
}

function renderNetwork() {
  const chart = document.getElementById("bw-chart");
  const fresh = lineChart([state.bw.map(b => b.total.rate_in), state.bw.map(b => b.total.rate_out)], ["line-in", "line-out"], "chart");
  fresh.id = "bw-chart";
  chart.replaceWith(fresh);
  const tb = clear(document.querySelector("#bw-table tbody"));
  const last = state.bw[state.bw.length - 1];
  if (last) {
    for (const [proto, s] of Object.entries(last.by_protocol).sort((a, b) => (b[1].total_in + b[1].total_out) - (a[1].total_in + a[1].total_out))) {
      const hist = state.bw.map(b => (b.by_protocol[proto] || { rate_in: 0 }).rate_in + (b.by_protocol[proto] || { rate_out: 0 }).rate_out);
      tb.append(el("tr", {}, el("td", { class: "mono", text: proto }), el("td", { text: fmtBytes(s.total_in) }), el("td", { text: fmtBytes(s.total_out) }),
        el("td", { text: fmtRate(s.rate_in) }), el("td", { text: fmtRate(s.rate_out) }), el("td", {}, lineChart([hist], ["line-in"], "spark"))));
    }
  }
  const ct = clear(document.querySelector("#conn-table tbody"));
  for (const p of state.peers) {
    if (p.self) continue;
    const conns = el("div");
    for (const c of p.conns) conns.append(el("div", { class: "mono", text: (c.relayed ? "relayed " : "direct ") + c.direction + " " + c.addr + " · " + c.streams + " streams" }));
    if (!p.conns.length) conns.append(el("span", { class: "muted", text: "not connected" }));
    ct.append(el("tr", { class: "conn-row" }, el("td", { class: "mono", text: nameOf(p.peer_id) }),
      el("td", {}, p.state ? badge(p.state) : el("span", { class: "muted", text: "no" })),
      el("td", { text: p.latency_ns ? fmtDur(p.latency_ns) : "-" }), el("td", {}, conns)));
  }
}

// ---------- compare ----------

async function openCompare(ev) {
  const files = Array.from(ev.target.files);
  const out = clear(document.getElementById("compare-out"));
  const csv = files.find(f => f.name === "results.csv");
  if (!csv) { out.append(el("p", { class: "err", text: "No results.csv in that directory: is it a `compare --out` directory?" })); return; }
  const rows = (await csv.text()).trim().split("\n").map(l => l.split(","));
  const table = el("table", { id: "compare-table" });
  table.append(el("thead", {}, el("tr", {}, ...rows[0].map(h => el("th", { text: h })))));
  const tb = el("tbody");
  for (const r of rows.slice(1)) tb.append(el("tr", {}, ...r.map(c => el("td", { text: c }))));
  table.append(tb);
  out.append(el("div", { class: "scroll" }, table));
  for (const f of files.filter(f => /\.(svg|png)$/i.test(f.name)).sort((a, b) => a.name.localeCompare(b.name))) {
    out.append(el("h3", { text: f.name }), el("img", { src: URL.createObjectURL(f), alt: f.name }));
  }
}

// ---------- the poll loop ----------

let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  try {
    if (!state.self) {
      state.self = await api("id");
      state.routers = await api("routing/routers");
      document.getElementById("self").textContent = short(state.self.peer_id) + " · " + state.self.api_addr;
      document.title = "dhtnode " + short(state.self.peer_id);
    }
    const [members, peers, bw, transfers] = await Promise.all([api("members"), api("peers"), api("stats/bw"), api("transfers")]);
    state.members = members; state.peers = peers;
    trackMembers(members);
    trackBandwidth(bw);
    trackTransfers(transfers);
    switch (state.view) {
      case "members": renderMembers(); break;
      case "chord": await renderChord(); break;
      case "kademlia": await renderKademlia(); break;
      case "content": await renderContent(); renderTransfers(); break;
      case "network": renderNetwork(); break;
    }
    setStatus("updated " + new Date().toLocaleTimeString());
  } catch (e) {
    setStatus(e.message, true);
  } finally {
    busy = false;
  }
}

window.addEventListener("hashchange", showView);
document.getElementById("lookup-form").addEventListener("submit", runLookup);
document.getElementById("upload").addEventListener("change", upload);
document.getElementById("get-form").addEventListener("submit", getContent);
document.getElementById("gc").addEventListener("click", runGC);
document.getElementById("compare-dir").addEventListener("change", openCompare);
showView();
setInterval(refresh, POLL_MS);
