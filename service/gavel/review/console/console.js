// Gavel review console: plain JS, no build step, no network beyond Gavel's own API.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const state = { key: sessionStorage.getItem("gavel-key") || "", who: null, filters: { state: "open" },
  pages: [null], page: 0, rows: [], selected: 0, item: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

function say(msg) { $("#status").textContent = msg; if (msg) setTimeout(() => { if ($("#status").textContent === msg) $("#status").textContent = ""; }, 4000); }

async function api(path, opts = {}) {
  const headers = { "X-API-Key": state.key };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method: opts.method || "GET", headers,
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined });
  if (res.status === 401) { signOut("Your key was refused; sign in again."); throw new Error("unauthorized"); }
  const body = res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text();
  if (!res.ok) { const msg = body.message || res.statusText; say(msg); throw new Error(msg); }
  return body;
}

const ago = ms => { const s = Math.max(0, (Date.now() - ms) / 1000);
  return s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : s < 172800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} d`; };
const when = ms => new Date(ms).toLocaleString();
const badge = (verdict, label) => el("span", { class: `badge v-${verdict}`, text: label || verdict.replace("_", " ") });

// ---- sign-in ----------------------------------------------------------------------------
function signOut(msg) {
  state.key = ""; state.who = null; sessionStorage.removeItem("gavel-key");
  $("#signin").hidden = false; $("#view").hidden = true; $("#signout").hidden = true; $("#who").textContent = "";
  $("#signin-error").textContent = msg || ""; $("#key").focus();
}

async function signIn(key) {
  const res = await fetch("/whoami", { headers: { "X-API-Key": key } });
  if (!res.ok) { $("#signin-error").textContent = (await res.json()).message || "sign-in failed"; return; }
  state.key = key; state.who = await res.json(); sessionStorage.setItem("gavel-key", key);
  $("#who").textContent = `${state.who.name} · ${state.who.role}`;
  $("#signin").hidden = true; $("#view").hidden = false; $("#signout").hidden = false;
  // the key field is hidden now: leave it, or the shortcuts would count as typing into it
  if (document.activeElement === $("#key")) $("#key").blur();
  route();
}

// ---- router -----------------------------------------------------------------------------
function route() {
  if (!state.who) return;
  const [, view, arg] = location.hash.split("/");
  document.querySelectorAll("header nav a").forEach(a => a.toggleAttribute("aria-current", a.dataset.view === (view || "queue")));
  document.querySelectorAll("header nav a[aria-current]").forEach(a => a.setAttribute("aria-current", "page"));
  const views = { queue: showQueue, item: () => showItem(Number(arg)), charts: showCharts, policies: showPolicies };
  (views[view] || showQueue)().catch(e => say(e.message));
}

function setView(...children) { const v = $("#view"); v.replaceChildren(...children); return v; }

// ---- queue ------------------------------------------------------------------------------
const FILTERS = [["state", "State", ["open", "claimed", "decided", "any"]], ["policy", "Policy"], ["clause", "Clause"],
  ["verdict", "Verdict", ["", "violates", "needs_review", "no_violation"]], ["author", "Author"],
  ["older_than_s", "Older than", [["", "any age"], ["3600", "1 hour"], ["86400", "1 day"], ["604800", "7 days"]]]];

function filterForm() {
  const form = el("form", { class: "filters card", "aria-label": "queue filters", onsubmit: e => {
    e.preventDefault(); const data = new FormData(form);
    state.filters = Object.fromEntries([...data.entries()].filter(([, v]) => v !== ""));
    state.pages = [null]; state.page = 0; showQueue(); } });
  for (const [name, label, options] of FILTERS) {
    const id = `f-${name}`;
    const input = options
      ? el("select", { id, name }, options.map(o => { const [v, t] = Array.isArray(o) ? o : [o, o || "any"];
          return el("option", { value: v, selected: (state.filters[name] || "") === v, text: t }); }))
      : el("input", { id, name, value: state.filters[name] || "", size: 12 });
    form.append(el("div", {}, el("label", { for: id, text: label }), input));
  }
  form.append(el("button", { type: "submit", class: "primary", text: "Filter" }));
  return form;
}

async function showQueue() {
  const params = new URLSearchParams({ ...state.filters, limit: "50" });
  const after = state.pages[state.page];
  if (after !== null) params.set("after", after);
  const data = await api(`/review/items?${params}`);
  state.rows = data.items; state.selected = Math.min(state.selected, Math.max(0, data.items.length - 1));
  if (data.next_after !== null) state.pages[state.page + 1] = data.next_after;
  const c = data.counts;
  const body = el("tbody", {}, data.items.map((it, i) => el("tr", { "data-id": it.id, class: i === state.selected ? "selected" : null,
      onclick: () => { location.hash = `#/item/${it.id}`; } },
    el("td", {}, el("a", { href: `#/item/${it.id}`, text: `#${it.id}` })),
    el("td", { text: it.post_id }), el("td", { text: it.author_id || "—" }), el("td", { text: ago(it.created_ms) }),
    el("td", {}, it.flagged.length ? it.flagged.map(f => badge(f.verdict, `${f.policy_id}/${f.clause_id}`)) : el("span", { class: "muted", text: `sample (${it.action})` })),
    el("td", { text: it.state + (it.claimed_by ? ` by ${it.claimed_by}` : "") + (it.appeals ? ` · appeal ${it.appeals}` : "") }))));
  setView(
    el("h1", { text: "Review queue" }), filterForm(),
    el("div", { class: "counts", "aria-label": "items per state" },
      el("span", { id: "count-open", text: `open ${c.open}` }), el("span", { text: `claimed ${c.claimed}` }), el("span", { text: `decided ${c.decided}` })),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "primary", onclick: nextItem, text: "Claim next (n)" }),
      el("button", { type: "button", disabled: state.page === 0, onclick: () => { state.page--; showQueue(); }, text: "← Newer page" }),
      el("button", { type: "button", disabled: data.next_after === null, onclick: () => { state.page++; showQueue(); }, text: "Older page →" }),
      el("span", { class: "muted", text: `page ${state.page + 1}` })),
    el("table", { id: "queue-table" }, el("thead", {}, el("tr", {}, ["Item", "Post", "Author", "Age", "Flagged", "State"].map(h => el("th", { scope: "col", text: h })))), body),
    data.items.length ? null : el("p", { class: "muted", text: "Nothing in the queue under these filters." }));
}

async function nextItem() {
  const { item } = await api("/review/next", { method: "POST", body: state.filters.state ? { ...state.filters, state: "open" } : state.filters });
  if (!item) { say("No open item to take under these filters."); return; }
  location.hash = `#/item/${item.id}`;
}

// ---- item -------------------------------------------------------------------------------
// Evidence offsets are UTF-16 code units: exactly how JS strings index, so an emoji or a
// combining accent before a span needs no conversion.
function highlighted(text, policies) {
  const spans = [];
  for (const p of policies) for (const c of p.clauses) if (c.verdict !== "no_violation")
    for (const e of c.evidence) spans.push({ s: e.start_utf16, e: e.end_utf16, verdict: c.verdict, label: `${p.policy_id}/${c.clause_id}: ${e.signal}` });
  const cuts = [...new Set([0, text.length, ...spans.flatMap(s => [s.s, s.e])])].filter(x => x >= 0 && x <= text.length).sort((a, b) => a - b);
  const out = el("div", { class: "post", id: "post-text" });
  for (let i = 0; i + 1 < cuts.length; i++) {
    const [a, b] = [cuts[i], cuts[i + 1]];
    const piece = text.slice(a, b);
    const over = spans.filter(s => s.s <= a && s.e >= b);
    if (!over.length) { out.append(piece); continue; }
    const worst = over.some(s => s.verdict === "violates") ? "violates" : "needs_review";
    out.append(el("mark", { class: `m-${worst}`, "data-start": a, "data-end": b, title: over.map(s => s.label).join("\n"), text: piece }));
  }
  return out;
}

function clauseBlock(p, c, editable) {
  const name = `j-${p.policy_id}-${c.clause_id}`;
  return el("div", { class: "clause", "data-clause": `${p.policy_id}/${c.clause_id}` },
    el("h3", {}, badge(c.verdict), ` ${c.clause_id} `, el("span", { class: "muted", text: `score ${Number(c.score).toFixed(2)}` })),
    c.explanation ? el("div", { class: "muted", text: c.explanation }) : null,
    c.evidence.length ? el("ul", {}, c.evidence.map(e => el("li", {}, el("q", { text: e.text }), ` — ${e.signal} (${e.kind}, ${Number(e.score).toFixed(2)})`))) : null,
    c.exceptions.length ? el("ul", { class: "exceptions" }, c.exceptions.map(x => el("li", {},
      el("strong", { text: `exception ${x.exception_id}` }), ` ${x.effect}: ${x.verdict_before} → ${x.verdict_after}. ${x.explanation}`))) : null,
    editable ? el("fieldset", { class: "judge" }, el("legend", { class: "muted", text: "Gavel's verdict" }),
      ...["uphold", "overturn"].map(j => el("label", {}, el("input", { type: "radio", name, value: j, checked: j === "uphold",
        "data-policy": p.policy_id, "data-clause": c.clause_id }), ` ${j}`))) : null);
}

async function showItem(id) {
  const it = await api(`/review/items/${id}`);
  state.item = it;
  const mine = it.state === "claimed" && it.claimed_by === state.who.name;
  const canReview = state.who.role !== "viewer";
  const form = el("form", { id: "decision-form", class: "card", onsubmit: e => { e.preventDefault(); decide(); } },
    el("h2", { text: "Decision" }),
    it.policies.map(p => el("div", {}, el("div", { class: "muted" }, `${p.policy_id} v${p.version} `, el("span", { class: "digest", text: p.digest.slice(0, 12) })),
      p.clauses.map(c => clauseBlock(p, c, mine)))),
    mine ? el("fieldset", { class: "final" }, el("legend", { text: "Final action" }),
      ...["allow", "remove"].map(a => el("label", {}, el("input", { type: "radio", name: "final", value: a, checked: a === (it.action === "allow" ? "allow" : "remove") }), ` ${a}`))) : null,
    mine ? el("div", {}, el("label", { for: "note", text: "Note" }), el("textarea", { id: "note", name: "note", maxlength: 4000 })) : null,
    el("div", { class: "actions" },
      canReview && it.state === "open" ? el("button", { type: "button", id: "claim", class: "primary", onclick: () => act("claim"), text: "Claim (c)" }) : null,
      mine ? el("button", { type: "submit", id: "decide", class: "primary", text: "Decide (Ctrl+Enter)" }) : null,
      mine ? el("button", { type: "button", onclick: () => act("release"), text: "Release" }) : null,
      canReview && it.state === "decided" ? el("button", { type: "button", id: "appeal", onclick: () => act("appeal"), text: "Appeal" }) : null,
      el("button", { type: "button", onclick: nextItem, disabled: !canReview, text: "Next item (n)" })));
  const history = el("div", { class: "card history", id: "author-history" }, el("h2", { text: `Author ${it.author_id || "(none)"}` }));
  const audit = el("div", { class: "card audit" }, el("h2", { text: "Audit log" }),
    el("ol", { id: "audit-log", reversed: true }, it.audit.map(a => el("li", {}, el("time", { text: when(a.at_ms) }), ` ${a.actor} `, el("strong", { text: a.event }),
      a.detail.final_action ? ` → ${a.detail.final_action}` : "", a.detail.note ? ` “${a.detail.note}”` : ""))));
  const decided = it.decisions.length ? el("div", { class: "card" }, el("h2", { text: "Decisions" }), el("ul", {}, it.decisions.map(d =>
    el("li", {}, `round ${d.round}: ${d.reviewer} → ${d.final_action}`, d.note ? ` (“${d.note}”)` : "",
      ` · overturned: ${d.clauses.filter(c => c.judgement === "overturn").map(c => c.clause_id).join(", ") || "none"}`)))) : null;
  setView(
    el("p", {}, el("a", { href: "#/queue", text: "← Queue" })),
    el("h1", {}, `Item #${it.id} `, el("span", { class: "muted", text: `post ${it.post_id} · ${it.state}${it.claimed_by ? " by " + it.claimed_by : ""} · Gavel: ${it.action} · queued ${ago(it.created_ms)} ago (${it.reason})` })),
    el("div", { class: "item-grid" },
      el("div", {}, el("div", { class: "card" }, el("h2", { text: "Post" }),
        it.text === null ? el("p", { class: "muted", text: "The text was purged (retention period)." }) : highlighted(it.text, it.policies)), form),
      el("div", {}, decided, history, audit)));
  if (it.author_id) loadAuthor(it.author_id, history).catch(() => {});
}

async function loadAuthor(author, box) {
  const a = await api(`/review/authors/${encodeURIComponent(author)}`);
  const h = a.history || {};
  box.append(el("p", {}, `${a.queued} queued · ${a.strikes} removed by reviewers` + (h.strikes !== undefined ? ` · ${h.strikes} recent strikes` : "")),
    el("ul", {}, a.recent.slice(0, 8).map(r => el("li", {}, el("a", { href: `#/item/${r.item_id}`, text: `#${r.item_id}` }),
      ` ${r.post_id}: Gavel ${r.gavel_action}, ${r.final_action ? "reviewer " + r.final_action : r.state}`))));
}

async function act(what) {
  const id = state.item.id;
  await api(`/review/items/${id}/${what}`, { method: "POST", body: what === "appeal" ? { note: prompt("Appeal note") || "" } : undefined });
  say(`${what}: done`); await showItem(id);
  if (what === "claim") $("#decision-form input")?.focus();
}

function judgeAll(judgement) {
  const boxes = [...document.querySelectorAll("#decision-form input[type=radio][data-clause]")];
  if (!boxes.length) { say("Claim the item first (c)."); return; }
  for (const p of state.item.policies) for (const c of p.clauses) {
    // uphold: agree with Gavel everywhere; overturn: reverse the flagged clauses
    const value = judgement === "overturn" && c.verdict !== "no_violation" ? "overturn" : "uphold";
    const box = boxes.find(b => b.dataset.policy === p.policy_id && b.dataset.clause === c.clause_id && b.value === value);
    if (box) box.checked = true;
  }
  const flagged = state.item.policies.some(p => p.clauses.some(c => c.verdict !== "no_violation"));
  const final = judgement === "overturn" ? (flagged ? "allow" : "remove") : (flagged ? "remove" : "allow");
  document.querySelector(`#decision-form input[name=final][value=${final}]`).checked = true;
  say(`${judgement}: final action ${final}`);
}

async function decide() {
  const judgements = [...document.querySelectorAll("#decision-form input[type=radio][data-clause]:checked")]
    .map(b => ({ policy_id: b.dataset.policy, clause_id: b.dataset.clause, judgement: b.value }));
  const final = document.querySelector("#decision-form input[name=final]:checked").value;
  await api(`/review/items/${state.item.id}/decision`, { method: "POST", body: { final_action: final, note: $("#note").value, judgements } });
  say("Decision recorded"); await showItem(state.item.id);
}

// ---- charts -----------------------------------------------------------------------------
const PALETTE = ["#2457c5", "#c62828", "#b26a00", "#2e7d32", "#6a1b9a", "#00838f", "#ad1457", "#4e342e"];

function lineChart(series, width = 900, height = 220) {
  const xs = [...new Set(series.flatMap(s => s.points.map(p => p[0])))].sort();
  const max = Math.max(1, ...series.flatMap(s => s.points.map(p => p[1])));
  const X = t => 40 + (xs.length > 1 ? (xs.indexOf(t) / (xs.length - 1)) * (width - 60) : (width - 60) / 2);
  const Y = v => height - 25 - (v / max) * (height - 45);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`); svg.setAttribute("width", width); svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "clause verdicts per hour");
  const add = (tag, attrs, text) => { const n = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); if (text) n.textContent = text; svg.append(n); };
  add("line", { x1: 40, y1: height - 25, x2: width - 20, y2: height - 25, stroke: "#b9bfca" });
  add("text", { x: 4, y: Y(max) + 4 }, String(max)); add("text", { x: 4, y: height - 22 }, "0");
  if (xs.length) { add("text", { x: 40, y: height - 6 }, new Date(xs[0]).toLocaleString()); add("text", { x: width - 160, y: height - 6 }, new Date(xs[xs.length - 1]).toLocaleString()); }
  series.forEach((s, i) => add("polyline", { fill: "none", stroke: PALETTE[i % PALETTE.length], "stroke-width": 2,
    points: s.points.map(([t, v]) => `${X(t)},${Y(v)}`).join(" ") }));
  return svg;
}

function bars(rows, label, value, fmt = v => v) {
  const max = Math.max(1, ...rows.map(value));
  return el("table", {}, el("tbody", {}, rows.map(r => el("tr", {}, el("td", { text: label(r) }),
    el("td", { style: "width:60%" }, el("div", { style: `background:#2457c5;height:.8rem;width:${(100 * (value(r) || 0)) / max}%`, "aria-hidden": "true" })),
    el("td", { text: value(r) === null ? "—" : fmt(value(r)) })))));
}

async function showCharts() {
  const [stats, age, agree] = await Promise.all([api("/stats?bucket=hour"), api("/review/queue-age"), api("/review/agreement")]);
  const byClause = {};
  for (const r of stats.clauses) if (r.verdict !== "no_violation") {
    const k = `${r.policy_id}/${r.clause_id} ${r.verdict}`; (byClause[k] ||= new Map()).set(Date.parse(r.start), (byClause[k].get(Date.parse(r.start)) || 0) + r.count);
  }
  const series = Object.entries(byClause).map(([name, m]) => ({ name, points: [...m.entries()].sort() }));
  const pct = v => `${Math.round(v * 100)} %`;
  setView(el("h1", { text: "Charts" }),
    el("div", { class: "card chart" }, el("h2", { text: "Verdicts per clause per hour (last 24 h)" }), lineChart(series),
      el("div", { class: "legend" }, series.map((s, i) => el("span", {}, el("i", { style: `background:${PALETTE[i % PALETTE.length]}` }), s.name)))),
    el("div", { class: "card" }, el("h2", { text: "Open queue by age" }), bars(age.buckets, r => r.bucket, r => r.count)),
    el("div", { class: "card" }, el("h2", { text: "Agreement with reviewers (current decisions)" }),
      agree.clauses.length ? el("table", {}, el("thead", {}, el("tr", {}, ["Policy", "Version", "Clause", "Reviewed", "Precision (flags)", "Recall (flags)", "Overturn rate"].map(h => el("th", { text: h })))),
        el("tbody", {}, agree.clauses.map(r => el("tr", {}, el("td", { text: r.policy_id }), el("td", { text: r.policy_version }), el("td", { text: r.clause_id }),
          el("td", { text: r.reviewed }), el("td", { text: r.flagged.precision === null ? "—" : pct(r.flagged.precision) }),
          el("td", { text: r.flagged.recall === null ? "—" : pct(r.flagged.recall) }), el("td", { text: pct(r.overturn_rate) })))))
        : el("p", { class: "muted", text: "No decisions yet." })),
    el("p", {}, el("a", { href: "#", onclick: e => { e.preventDefault(); download("csv"); }, text: "Export decisions (CSV)" }), " · ",
      el("a", { href: "#", onclick: e => { e.preventDefault(); download("jsonl"); }, text: "JSON Lines" })));
}

async function download(format) {
  const body = await api(`/review/export?format=${format}`);
  const a = el("a", { href: URL.createObjectURL(new Blob([body])), download: `decisions.${format}` }); a.click();
}

// ---- policies ---------------------------------------------------------------------------
async function showPolicies() {
  const data = await fetch("/policies").then(r => r.json());
  setView(el("h1", { text: "Loaded policies" }), el("p", { class: "muted", text: `generation ${data.generation}` }),
    el("table", {}, el("thead", {}, el("tr", {}, ["Policy", "Title", "Version", "Digest", "Clauses"].map(h => el("th", { text: h })))),
      el("tbody", {}, data.policies.map(p => el("tr", {}, el("td", { text: p.policy_id }), el("td", { text: p.title }), el("td", { text: p.version }),
        el("td", { class: "digest", text: p.digest }), el("td", { text: p.clauses.join(", ") }))))));
}

// ---- keyboard ---------------------------------------------------------------------------
document.addEventListener("keydown", e => {
  if (!state.who) return;
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(e.target.tagName) && e.target.type !== "radio";
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && $("#decision-form #decide")) { e.preventDefault(); decide(); return; }
  if (typing || e.altKey || e.ctrlKey || e.metaKey) return;
  const onItem = location.hash.startsWith("#/item/");
  const keys = {
    n: nextItem, g: () => { location.hash = "#/queue"; },
    c: () => onItem && $("#claim") && act("claim"), u: () => onItem && judgeAll("uphold"), o: () => onItem && judgeAll("overturn"),
    j: () => moveSelection(1), k: () => moveSelection(-1),
    Enter: () => { const row = state.rows[state.selected]; if (!onItem && row && e.target.tagName !== "A" && e.target.tagName !== "BUTTON") location.hash = `#/item/${row.id}`; },
  };
  if (keys[e.key]) { keys[e.key](); }
});

function moveSelection(by) {
  if (location.hash.startsWith("#/item/") || !state.rows.length) return;
  state.selected = Math.max(0, Math.min(state.rows.length - 1, state.selected + by));
  document.querySelectorAll("#queue-table tbody tr").forEach((tr, i) => tr.classList.toggle("selected", i === state.selected));
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  $("#signin-form").addEventListener("submit", e => { e.preventDefault(); signIn($("#key").value.trim()); });
  $("#signout").addEventListener("click", () => signOut());
  if (state.key) signIn(state.key); else signOut();
});
