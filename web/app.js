// vigil's public page. Everything shown is verified here, in the browser, by vigil's own
// verifier (vigil_core compiled to WebAssembly, crates/vigil-wasm) against the log key pinned
// in this page — or marked NOT VERIFIED. No framework, no CDN: the server serves this file.
"use strict";

const VKEY = document.querySelector('meta[name="vigil-log-key"]').content;
// The witnesses whose cosignatures a checkpoint needs, pinned like the log key: {quorum, witnesses}.
// A policy that does not read is no policy: the page then refuses every checkpoint, never
// falls back to the log's word alone.
const POLICY = (() => {
  try {
    const p = JSON.parse(document.querySelector('meta[name="vigil-witness-policy"]').content);
    if (Number.isInteger(p.quorum) && p.quorum >= 0 && Array.isArray(p.witnesses)) return p;
  } catch { /* below */ }
  return { quorum: 0, witnesses: [], unreadable: true };
})();
// The key and policy this browser saw first, kept apart from the checkpoint: a page served
// later with another key, or a weaker policy, is a warning, not a fresh start.
const PINNED = "vigil.pinned";
// Verifies a checkpoint note: the log's signature and the witness policy.
function verifyCheckpoint(note) {
  if (POLICY.unreadable) throw new Error("the page's witness policy does not read, so no checkpoint is accepted");
  return verifier({ op: "checkpoint", note, vkey: VKEY, witnesses: POLICY.witnesses, quorum: POLICY.quorum });
}
const STORE = "vigil.checkpoint:" + VKEY;
const counts = { verified: 0, failed: 0 };
let wasm;

// ---- the verifier ---------------------------------------------------------------------------

async function loadVerifier() {
  const bytes = await get("vigil.wasm", "bytes").catch((e) => {
    throw new Error("the verifier could not be loaded: " + e.message);
  });
  // Compiled synchronously (it is small): no background compile for the page to wait on.
  wasm = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports;
}

// One request to the verifier: JSON in, JSON out, through its linear memory.
function verifier(req) {
  const input = new TextEncoder().encode(JSON.stringify(req));
  const p = wasm.vigil_alloc(input.length);
  new Uint8Array(wasm.memory.buffer, p, input.length).set(input);
  const r = BigInt.asUintN(64, BigInt(wasm.vigil_call(p, input.length)));
  const op = Number(r >> 32n), ol = Number(r & 0xffffffffn);
  const text = new TextDecoder().decode(new Uint8Array(wasm.memory.buffer, op, ol).slice());
  wasm.vigil_free(op, ol);
  const v = JSON.parse(text);
  if (v.error !== undefined) throw new Error(v.error);
  return v.ok;
}

// ---- helpers --------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
// A check's result, shown and counted once.
function badge(ok, why) {
  if (ok) counts.verified++; else counts.failed++;
  return restate(ok, why);
}
// A result already counted where it was found (a section's summary of its entries' failures),
// shown again without counting it again: one lie, one failure in the page's total.
function restate(ok, why) {
  return ok
    ? el("span", { class: "ok", "data-verified": "yes" }, "✓ verified")
    : el("span", { class: "bad", "data-verified": "no" }, "✗ NOT VERIFIED: " + why);
}
// Verified in part, by no fault of the server's (a view stated against a checkpoint newer than
// the one read whole: the log grew meanwhile): said, not counted either way.
function partly(why) {
  return el("span", { class: "partly", "data-verified": "partly" }, "⚠ " + why);
}
// Whether entry `seq` is past the checkpoint read whole (it came in a view of a newer tree).
const pastHead = (seq) => whole !== null && seq >= head.size;
// An entry past the checkpoint read whole, shown in a view of a newer tree.
function pastWhole() {
  return partly(`after the checkpoint read whole (${head.size} entries): proven included only; reload the page to check it whole`);
}
// A server that never finishes an answer is a failure like any other, not a page that waits
// for ever.
const FETCH_TIMEOUT_MS = 30000;
async function get(path, kind) {
  const r = await fetch(path, { cache: "no-store", signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return kind === "text" ? r.text() : kind === "bytes" ? new Uint8Array(await r.arrayBuffer()) : r.json();
}
// A time for people; one out of JavaScript's range (a server's or a witness's absurd value) is
// shown as such rather than thrown.
function when(ms) {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? `(time ${ms}: out of range)` : d.toISOString().replace("T", " ").replace(/:\d\d\.\d+Z$/, " UTC");
}
// How long before now a time was, by this computer's clock (a time ahead of it said as such).
function ago(ms) {
  const d = Date.now() - ms;
  return Number.isNaN(d) ? "" : d < -60000 ? `${dur(-d)} ahead of this computer's clock` : `${dur(Math.max(d, 0))} ago`;
}
function dur(ms) {
  const m = Math.round(ms / 60000);
  return m < 120 ? m + " min" : m < 2880 ? (m / 60).toFixed(1) + " h" : (m / 1440).toFixed(1) + " days";
}
// Minor units to a decimal string, exactly (BigInt; never floating point).
function units(s, asset) {
  const d = { BTC: 8, ETH: 18, USDT: 6 }[asset];
  if (d === undefined) return s + " (minor units)";
  if (String(s).startsWith("-")) return "-" + units(String(s).slice(1), asset);
  const v = BigInt(s), base = 10n ** BigInt(d);
  const frac = (v % base).toString().padStart(d, "0").replace(/0+$/, "");
  return (v / base).toString() + (frac ? "." + frac : "") + " " + asset;
}
function download(name, text) {
  return el("a", { href: "data:text/plain;charset=utf-8," + encodeURIComponent(text), download: name }, name);
}
function summarize(state) {
  const s = $("summary");
  s.dataset.state = state;
  s.dataset.verified = counts.verified;
  s.dataset.failed = counts.failed;
  s.textContent = state === "done"
    ? (counts.failed === 0 ? `All ${counts.verified} checks verified in this browser.`
                           : `${counts.failed} check(s) FAILED, ${counts.verified} verified.`)
    : `Verifying… ${counts.verified} verified so far.`;
}
function alarm(title, detail, files) {
  const a = $("alarm");
  a.hidden = false;
  a.dataset.kind = title;
  a.append(el("p", {}, "⚠ " + detail), ...files.map(([n, t]) => el("p", {}, "Evidence: ", download(n, t))));
}

// ---- the checkpoint and its memory ----------------------------------------------------------

let head; // the verified latest checkpoint: {note, size, root, timestamp}

async function checkpoint() {
  const box = $("checkpoint");
  try {
    const note = await get("checkpoint", "text");
    const cp = verifyCheckpoint(note);
    head = { note, ...cp };
    box.append(el("p", {}, badge(true), " ", `${cp.origin}: ${cp.size} entries`,
      cp.timestamp ? `, signed ${when(cp.timestamp * 1000)}` : ""), el("p", {}, "Root ", el("code", {}, cp.root)));
    if (POLICY.quorum > 0) {
      box.append(el("p", { id: "witnessed" }, badge(true), ` witnessed: ${cp.cosigned.length} of ${POLICY.witnesses.length} witnesses cosigned (${POLICY.quorum} required): `,
        cp.cosigned.map((c) => `${c.witness} at ${when(c.timestamp * 1000)} (${ago(c.timestamp * 1000)})`).join("; ")));
    }
  } catch (e) {
    // An unreadable policy was counted where main() found it.
    const why = "the checkpoint: " + e.message;
    box.append(el("p", {}, POLICY.unreadable ? restate(false, why) : badge(false, why)));
    throw e;
  }
  await remember();
}

// The key and policy pinned on the first visit must be the ones of this page.
function pinned() {
  if (POLICY.unreadable) return; // already refused, nothing to remember
  const now = { vkey: VKEY, quorum: POLICY.quorum, witnesses: [...POLICY.witnesses].sort() };
  // Not a policy (a quorum its witnesses cannot meet): the checkpoint check refuses it.
  // Pinned, it would make every later visit with the real policy look weaker.
  if (now.quorum > new Set(now.witnesses).size || (now.witnesses.length > 0 && now.quorum < 1)) return;
  let first;
  try { first = JSON.parse(localStorage.getItem(PINNED) || "null"); } catch { first = null; }
  if (!first) {
    localStorage.setItem(PINNED, JSON.stringify(now));
    return;
  }
  // Weaker: fewer of the first-pinned witnesses are needed now than then (new witnesses could
  // make up the quorum by themselves).
  const added = now.witnesses.filter((w) => !first.witnesses.includes(w)).length;
  const weaker = now.quorum - added < first.quorum;
  if (first.vkey === now.vkey && !weaker) {
    // As strong or stronger: remembered from now on.
    localStorage.setItem(PINNED, JSON.stringify(now));
    return;
  }
  const was = `log key ${first.vkey}, ${first.quorum} of ${first.witnesses.length} witnesses`;
  const is = `log key ${now.vkey}, ${now.quorum} of ${now.witnesses.length} witnesses`;
  alarm("key-changed", `KEY OR POLICY CHANGED: on an earlier visit this page pinned ${was}; it now pins ${is}. Unless the exchange announced this elsewhere, do not trust this page.`,
    [["earlier-pin.json", JSON.stringify(first)], ["served-pin.json", JSON.stringify(now)]]);
  counts.failed++;
}

// Set once this browser's storage has refused a write (and that was counted as a failure).
let storageFailed = false;

// The checkpoint kept by this browser from an earlier visit, or null.
function kept() {
  try { return JSON.parse(localStorage.getItem(STORE) || "null"); } catch { return null; }
}
// Whether the checkpoint read first extends the one kept (or none was): only then is a newer
// one, verified in a view, kept in its place. After a fork or a rollback the kept one stays,
// so that the next visit says so again.
let extendsKept = false;
// Keeps `cp` ({note, size, root}, verified) as the largest checkpoint this browser verified,
// unless a larger one is kept. Storage blocked or full: the checks still run, but the next
// visit cannot build on this one, which the page says (once) rather than stop.
function keep(cp) {
  try {
    const old = kept();
    if (old && old.size > cp.size) return;
    localStorage.setItem(STORE, JSON.stringify({ note: cp.note, size: cp.size, root: cp.root }));
  } catch (e) {
    // Counted once: when the pinned key could not be remembered either, that was the count.
    const why = "this browser cannot remember the checkpoint, so a later visit cannot check the log only grew: " + e.message;
    $("checkpoint").append(el("p", {}, storageFailed ? restate(false, why) : badge(false, why)));
    storageFailed = true;
  }
}

// The largest checkpoint this browser verified before: the new one must extend it.
function remember() {
  const old = kept();
  if (!old) {
    extendsKept = true;
    return keep(head);
  }
  const evidence = [["earlier-checkpoint.txt", old.note], ["served-checkpoint.txt", head.note]];
  if (head.size < old.size) {
    alarm("rollback", `ROLLBACK: this log showed you ${old.size} entries before and now shows ${head.size}. The log misbehaves.`, evidence);
    counts.failed++;
    return;
  }
  const check = async () => {
    if (head.size === old.size) {
      if (head.root !== old.root) throw new Error("two different trees of the same size");
      return;
    }
    if (old.size === 0) return;
    let proof;
    try {
      proof = await get(`v1/proofs/consistency?from=${old.size}&to=${head.size}`);
    } catch (e) {
      throw Object.assign(new Error(e.message), { unavailable: true });
    }
    consistent(proof, old, head);
  };
  return check().then(() => { counts.verified++; extendsKept = true; keep(head); }, (e) => {
    counts.failed++;
    if (e.unavailable) {
      // Not proof of a fork, but nothing here shows the new checkpoint extends the old one.
      alarm("unchecked", `NOT CHECKED: the server did not give the proof that the checkpoint served now extends the one this browser verified before (${e.message}).`, evidence);
    } else {
      alarm("fork", `FORK: the checkpoint served now does not extend the one this browser verified before (${e.message}). The log misbehaves.`, evidence);
    }
  });
}

// A consistency proof between two verified checkpoints ({size, root}): for exactly their sizes,
// and leading from the older root to the newer. Throws when it does not.
function consistent(proof, older, newer) {
  if (proof.old_size !== older.size || proof.new_size !== newer.size) {
    throw new Error(`the consistency proof is from ${proof.old_size} to ${proof.new_size}, not ${older.size} to ${newer.size}`);
  }
  verifier({ op: "consistency", proof, old_root: older.root, new_root: newer.root });
}

// An entry (hex bytes) and its inclusion proof against a verified checkpoint (its size and
// root, never the proof's own size): the decoded entry.
const inclusionRequest = (hexEntry, proof, cp) => ({ op: "inclusion", entry: hexEntry, proof, size: cp.size, root: cp.root });
function included(hexEntry, proof, cp) {
  return verifier(inclusionRequest(hexEntry, proof, cp));
}

// A checkpoint served with a view (its proofs lead to it): signed by the pinned key, and
// consistent with the head — a view built from an older or newer tree must be the same log.
// A view of a newer tree (the log grew since the page read its checkpoint: the demo appends
// every few seconds) is consistent with it; its entries past the head were never read whole
// (signatures, key registry, refs, completeness), only proven included, and the sections say so
// where they show them (`pastWhole`).
async function viewCheckpoint(note, size) {
  const cp = verifyCheckpoint(note);
  if (cp.size !== size) throw new Error("the view's checkpoint is not the one its proofs use");
  if (cp.size === head.size) {
    if (cp.root !== head.root) throw new Error("the view's checkpoint is a different tree of the latest size (a fork)");
  } else {
    const [a, b] = cp.size < head.size ? [cp, head] : [head, cp];
    if (a.size > 0) {
      const proof = await get(`v1/proofs/consistency?from=${a.size}&to=${b.size}`);
      try {
        consistent(proof, a, b);
      } catch (e) {
        throw new Error("the view's checkpoint is not consistent with the latest (a fork): " + e.message);
      }
    }
  }
  // Verified and extending the latest: a later visit must find the log at least this large.
  if (cp.size > head.size && extendsKept) keep({ note, ...cp });
  return cp;
}

// ---- the whole log ------------------------------------------------------------------------------

// A log this small is read whole from its tiles and verified here as `vigil verify --url` does
// (the chain, the key registry, every signature, the root): the listings the sections below
// take from the server can then be checked for entries left out.
const WHOLE_LOG_LIMIT = 10000;
// Every entry of `head`, once read and verified: [{seq, kind, incident, refs}], and for a
// reserve_snapshot its `snapshot` id and `attestations` too.
let whole = null;

async function wholeLog() {
  const box = $("whole");
  if (head.size > WHOLE_LOG_LIMIT) {
    // Said plainly: without the whole log, an entry's ✓ below means "in the checkpoint", no more.
    box.append(el("p", {}, `The log has ${head.size} entries, more than this page reads whole (${WHOLE_LOG_LIMIT}). `,
      "Each entry shown below is only proven to be in the checkpoint. NOT checked here: its statement's signature, ",
      "and whether the log's key registry authorised that key; that the entries its refs and attestations name are earlier ones; ",
      "what the server left out of its listings (an entry, or a snapshot that already counted an attestation shown here). ",
      "vigil verify --url and vigil audit --url check all of it."));
    return;
  }
  try {
    const entries = [];
    for (let n = 0; n * 256 < head.size; n++) {
      const b = await bundle(n);
      for (let at = 0; at < b.length;) {
        if (at + 2 > b.length) throw new Error("entry bundle " + n + " is cut short");
        const len = (b[at] << 8) | b[at + 1];
        if (at + 2 + len > b.length) throw new Error("entry bundle " + n + " is cut short");
        entries.push(Array.from(b.subarray(at + 2, at + 2 + len), (x) => x.toString(16).padStart(2, "0")).join(""));
        at += 2 + len;
      }
    }
    // Batch verification's coefficients: unpredictable to the server, drawn here.
    const seed = Array.from(crypto.getRandomValues(new Uint8Array(32)), (x) => x.toString(16).padStart(2, "0")).join("");
    const r = verifier({ op: "log", entries, root: head.root, seed });
    whole = r.entries;
    box.append(el("p", {}, badge(true), ` the whole log: all ${r.size} entries read from its tiles and verified here — `,
      "the chain, every signature against the keys the log itself registered, the root of the checkpoint."));
  } catch (e) {
    box.append(el("p", {}, badge(false, "the whole log: " + e.message)));
  }
}

// The items with a key not seen before, in order; each repeat goes to onRepeat. A server that
// gives an entry twice would have its amount counted twice: a repeat is a failure of its own.
function once(items, key, onRepeat) {
  const seen = new Set();
  return items.filter((x) => {
    const k = key(x);
    if (seen.has(k)) {
      onRepeat(x, k);
      return false;
    }
    seen.add(k);
    return true;
  });
}

// A list of the server's, each item of which the page would fetch and check: one naming more
// items than the log has entries cannot be honest, and would keep the page fetching. Refused
// whole (the section's one failure).
function bounded(items, what) {
  if (!Array.isArray(items)) throw new Error(`${what} is not a list`);
  if (items.length > head.size) throw new Error(`${what} names ${items.length} items, more than the log's ${head.size} entries`);
  return items;
}

// With the whole log read: whether a listing of the server's holds every entry it should.
// Returns false when something is missing (true when complete, or when the log was not read).
function complete(box, what, want, got) {
  if (!whole) return true;
  const have = new Set(got);
  const missing = [...new Set(want)].filter((x) => !have.has(x)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const p = el("p", { class: "complete" });
  if (missing.length === 0) p.append(badge(true), ` ${what}: complete (checked against the whole log)`);
  else p.append(badge(false, `${what} leaves out ${missing.slice(0, 10).join(", ")}${missing.length > 10 ? ", …" : ""} (found in the whole log)`));
  box.append(p);
  return missing.length === 0;
}

// ---- incidents --------------------------------------------------------------------------------

// An incident's entry and what it brings into the incident's timeline besides itself (an
// alarm's refs), as vigil_core::facts::members counts them; `e` as the whole log lists entries.
const bringsIn = (e) => [e.seq, ...(e.kind === "alarm" ? e.refs : [])];

function describe(e) {
  const v = e.event;
  switch (e.kind) {
    case "withdrawal": return `withdrawal ${v.withdrawal_id} ${v.stage}: ${units(v.amount, v.asset)} from ${v.wallet}`;
    case "alarm": return `alarm ${v.rule} (${v.severity}): ${v.summary}`;
    case "freeze": case "unfreeze": return `${e.kind} of ${v.scope.target}: ${v.reason}`;
    case "credential_reset": return `credential reset (${v.credentials.join(", ")}, ${v.scope}): ${v.reason}`;
    case "safu_payout": return `SAFU payout ${units(v.amount, v.asset)}: ${v.covers}`;
    case "incident_open": return `incident opened (${v.severity}): ${v.title}`;
    case "incident_update": return `update: ${v.summary}`;
    case "incident_close": return `incident closed: ${v.summary}`;
    default: return e.kind;
  }
}

async function incidents() {
  const box = $("incidents");
  const list = await get("v1/incidents");
  bounded(list.incidents, "the list of incidents");
  if (list.incidents.length === 0) box.append(el("p", {}, "No incidents."));
  if (whole) {
    const opened = whole.filter((e) => e.kind === "incident_open").map((e) => e.incident);
    complete(box, "the list of incidents", opened, list.incidents.map((i) => i.incident));
  } else {
    box.append(el("p", {}, el("small", {}, "(Which incidents there are comes from the server's list: one it left out could not be noticed here.)")));
  }
  const listed = once(list.incidents, (i) => i.incident,
    (_, id) => box.append(el("p", {}, `incident ${id} `, badge(false, "is listed twice"))));
  for (const inc of listed) {
    const sec = el("article", { "data-incident": inc.incident }, el("h3", {}, inc.incident));
    box.append(sec);
    try {
      const view = await get("v1/incidents/" + encodeURIComponent(inc.incident));
      const cp = await viewCheckpoint(view.checkpoint, view.checkpoint_size);
      const ol = el("ol", { class: "timeline" });
      // Every entry verified first, then shown in log order (the verified seq, not the server's).
      let ok = [];
      const bad = [];
      for (const t of view.timeline) {
        try {
          ok.push({ t, e: included(t.bytes, t.inclusion_proof, cp) });
        } catch (err) {
          bad.push({ t, err });
        }
      }
      const unproven = bad.length;
      ok = once(ok, ({ e }) => e.seq, ({ t }, seq) => bad.push({ t, err: new Error(`entry ${seq} is given twice`) }));
      ok.sort((a, b) => a.e.seq - b.e.seq);
      // The incident's members, by the core's rule (vigil_core::facts::members): the entries
      // naming it, and those its naming alarms refer to — from the whole log when it was read,
      // else from the timeline's verified entries. Another incident's entry padded into the
      // timeline is refused where it shows, not only in the figures. Without the whole log and
      // with an entry refused (it may have been an alarm naming the incident), whether an entry
      // is a member cannot be told: that is said, not counted again (one lie, one failure).
      const ofIncident = (entries) => entries.filter((e) => e.incident === inc.incident);
      const asMembers = (read) => read.map(({ e }) => ({ seq: e.seq, kind: e.kind, incident: e.event.incident, refs: e.event.refs || [] }));
      const naming = ofIncident(whole || asMembers(ok));
      const members = new Set(naming.flatMap(bringsIn));
      // Entries past the checkpoint read whole (a view of a newer tree): proven included only;
      // the whole log does not reach them. By the same rule, one is a member when it names the
      // incident, or when an alarm of it among them refers to it; any other is not of this
      // incident, as it would be before the checkpoint.
      for (const s of ofIncident(asMembers(ok.filter(({ e }) => pastHead(e.seq)))).flatMap(bringsIn)) members.add(s);
      let prev, foreign = 0;
      const notMember = !whole && unproven > 0
        ? () => restate(false, "whether it is of this incident cannot be told: another of its entries was refused")
        : () => { foreign++; return badge(false, "not of this incident: it does not name it, and no alarm of it refers to it"); };
      for (const { e } of ok) {
        const member = members.has(e.seq);
        ol.append(el("li", { "data-seq": e.seq }, el("time", {}, when(e.time_ms)), " ",
          member && prev !== undefined ? el("span", { class: "delay" }, `(+${dur(e.time_ms - prev)}) `) : "",
          describe(e), " ", !member ? notMember() : pastHead(e.seq) ? pastWhole() : badge(true)));
        if (member) prev = e.time_ms;
      }
      for (const { t, err } of bad) ol.append(el("li", { "data-seq": t.seq }, `entry ${t.seq} `, badge(false, err.message)));
      if (timing.incident_ms === undefined && ok.length > 0) {
        timing.incident_ms = performance.now();
        const { t } = ok[0];
        timing.inclusion_ms = timeOp(inclusionRequest(t.bytes, t.inclusion_proof, cp));
      }
      const shown = ok.map(({ e }) => e);
      sec.append(axis(shown.filter((e) => members.has(e.seq))));
      // With the whole log read: the incident's entries in it (those naming it, and what its
      // alarms refer to) must all be in the timeline. A view of an older tree than the latest
      // could hide later ones (an honest server never serves one); a newer one is checked up
      // to the latest, the part the page read.
      let whole_ok = true, completeness = [];
      if (cp.size < head.size) {
        // Known without the whole log: the view's tree is behind the latest.
        whole_ok = false;
        completeness.push(el("p", {}, badge(false, `its view is of an older tree (${cp.size} entries) than the latest (${head.size}): later entries could be missing`)));
      } else if (whole) {
        const want = naming.flatMap(bringsIn); // naming: the whole log's entries of the incident
        const p = el("div", {});
        whole_ok = complete(p, cp.size > head.size ? `its timeline up to entry ${head.size - 1}` : "its timeline", want, shown.map((e) => e.seq));
        completeness.push(...p.childNodes);
      }
      // The figures: from the verified entries, by the core's rules, which refuse a timeline
      // with an entry twice, an entry not of this incident, or without an entry its alarms
      // refer to. With any entry unverified they are not the incident's figures.
      let facts;
      if (bad.length + foreign > 0 || !whole_ok) {
        // Those failures were counted where they were found: the figures only say why they
        // are not shown.
        const why = bad.length + foreign > 0 ? `${bad.length + foreign} of its entries were refused` : "its timeline is not complete";
        facts = el("p", { class: "facts" }, "The incident's figures: ", restate(false, why));
      } else {
        try {
          const f = verifier({ op: "incident_facts", incident: inc.incident, entries: ok.map(({ t }) => t.bytes) });
          // Listed from its opening: a timeline without one is of an incident the log never opened.
          if (f.opened_ms == null) throw new Error("its timeline has no incident_open: the log never opened this incident");
          const lost = Object.entries(f.lost || {}).map(([a, v]) => units(v, a)).join(", ") || "none";
          const covered = Object.entries(f.covered || {}).map(([a, v]) => units(v, a)).join(", ") || "none";
          facts = el("p", { class: "facts" },
            `First alarm to freeze: ${f.first_alarm_ms && f.first_freeze_ms ? dur(f.first_freeze_ms - f.first_alarm_ms) : "—"}. `,
            `Lost: ${lost}. Covered by SAFU: ${covered}. `,
            f.closed_ms ? `Closed ${when(f.closed_ms)}.` : "Open.", " ",
            shown.some((e) => pastHead(e.seq)) ? pastWhole()
              // Complete only up to the checkpoint read whole: an entry of the incident after
              // it that the server left out could change the figures.
              : whole && cp.size > head.size ? partly(`of a newer tree than the one read whole (${head.size} entries), complete only up to it; reload the page to check them whole`)
              : badge(true),
            el("small", {}, ` (computed here from the verified entries of the checkpoint of ${cp.size} entries${whole ? "" : "; an entry naming the incident that the server left out could not be noticed here"})`));
        } catch (err) {
          facts = el("p", { class: "facts" }, "The incident's figures: ", badge(false, err.message));
        }
      }
      sec.append(facts, ...completeness, ol);
    } catch (e) {
      sec.append(el("p", {}, badge(false, e.message)));
    }
    summarize("loading");
  }
}

// An incident at a glance: its verified events on a time axis (colour by kind), first to last.
function axis(entries) {
  const pts = entries.map((e) => ({ t: e.time_ms, kind: e.kind, seq: e.seq }));
  if (pts.length < 2) return el("span", {});
  const W = 600, H = 70, P = 20, ns = "http://www.w3.org/2000/svg";
  const t0 = pts[0].t, t1 = pts[pts.length - 1].t || t0 + 1;
  // A log scale from the first event, so minutes and days both show.
  const x = (t) => P + (W - 2 * P) * Math.log1p(t - t0) / Math.log1p(t1 - t0 || 1);
  const colour = { withdrawal: "#a40e26", alarm: "#bf8700", freeze: "#0969da", unfreeze: "#0969da",
    credential_reset: "#8250df", safu_payout: "#116329", incident_open: "#1b1f24", incident_update: "#57606a", incident_close: "#1b1f24" };
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "the incident's events on a time axis (log scale from the first)");
  const line = document.createElementNS(ns, "line");
  for (const [k, v] of Object.entries({ x1: P, x2: W - P, y1: H / 2, y2: H / 2, stroke: "#d0d7de", "stroke-width": 2 })) line.setAttribute(k, v);
  svg.append(line);
  for (const p of pts) {
    const c = document.createElementNS(ns, "circle");
    c.setAttribute("cx", x(p.t)); c.setAttribute("cy", H / 2); c.setAttribute("r", 5);
    c.setAttribute("fill", colour[p.kind] || "#57606a");
    const title = document.createElementNS(ns, "title");
    title.textContent = `${when(p.t)}: ${p.kind} (entry ${p.seq})`;
    c.append(title);
    svg.append(c);
  }
  for (const [t, anchor, label] of [[t0, "start", when(t0)], [t1, "end", when(t1)]]) {
    const tx = document.createElementNS(ns, "text");
    tx.setAttribute("x", x(t)); tx.setAttribute("y", H - 4); tx.setAttribute("font-size", 11);
    tx.setAttribute("text-anchor", anchor);
    tx.textContent = label;
    svg.append(tx);
  }
  return svg;
}

// ---- SAFU fund --------------------------------------------------------------------------------

// Entries a page of the listing holds at most: what the page asks for.
const PAGE_LIMIT = 1000;

async function entriesOfKind(kind) {
  const out = [];
  let after = "";
  let last = -1;
  for (;;) {
    const page = await get(`v1/entries?kind=${encodeURIComponent(kind)}&limit=${PAGE_LIMIT}${after}`);
    // Each entry of the listing is fetched and proven: a page longer than asked for, or one
    // that repeats or goes back (within a page or across pages), would keep the page fetching.
    // Strictly forward and below the checkpoint's size, the listing holds at most head.size
    // entries in all.
    if (!Array.isArray(page.entries)) throw new Error("a page of the entry listing holds no list of entries");
    if (page.entries.length > PAGE_LIMIT) {
      throw new Error(`a page of the entry listing holds ${page.entries.length} entries, more than the ${PAGE_LIMIT} asked for`);
    }
    for (const e of page.entries) {
      if (!Number.isSafeInteger(e?.seq) || e.seq <= last) {
        throw new Error(`the entry listing does not go strictly forward (entry ${e?.seq} after ${last})`);
      }
      last = e.seq;
    }
    out.push(...page.entries.filter((e) => e.seq < head.size));
    if (page.next_after == null) return out;
    // Pages go forward, each from its own last entry (after the previous page's, above), within
    // the tree: a server cannot keep the page paging forever.
    const end = page.entries.length > 0 ? page.entries[page.entries.length - 1].seq : null;
    if (!Number.isSafeInteger(page.next_after) || page.next_after !== end) {
      throw new Error("the entry listing does not page forward from its last entry");
    }
    // Beyond the verified checkpoint (the log grew since): nothing more to read.
    if (page.next_after >= head.size) return out;
    after = "&after=" + page.next_after;
  }
}

function chart(points, label, marks) {
  // points: [{t, y (Number, for drawing only)}]; marks: [{t, text}]
  if (points.length === 0) return el("p", {}, "No data.");
  const W = 600, H = 180, P = 30;
  const ts = points.map((p) => p.t), ys = points.map((p) => p.y);
  const [t0, t1] = [Math.min(...ts), Math.max(...ts) || 1], [y0, y1] = [Math.min(0, ...ys), Math.max(...ys) || 1];
  const x = (t) => P + (W - 2 * P) * (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0));
  const y = (v) => H - P - (H - 2 * P) * (y1 === y0 ? 0.5 : (v - y0) / (y1 - y0));
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const path = document.createElementNS(ns, "polyline");
  path.setAttribute("points", points.map((p) => `${x(p.t)},${y(p.y)}`).join(" "));
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "#0969da");
  path.setAttribute("stroke-width", "2");
  svg.append(path);
  for (const m of marks) {
    const c = document.createElementNS(ns, "circle");
    const p = points.find((q) => q.t === m.t) || points[0];
    c.setAttribute("cx", x(m.t)); c.setAttribute("cy", y(p.y)); c.setAttribute("r", 4);
    c.setAttribute("fill", m.color || "#a40e26");
    const title = document.createElementNS(ns, "title");
    title.textContent = m.text;
    c.append(title);
    svg.append(c);
  }
  return svg;
}

// The tlog-tiles path of entry bundle n in a tree of `size` entries.
function bundlePath(n, size) {
  const digits = String(n).padStart(3, "0");
  const groups = [];
  for (let i = digits.length; i > 0; i -= 3) groups.unshift(digits.slice(Math.max(0, i - 3), i).padStart(3, "0"));
  const path = groups.map((g, i) => (i < groups.length - 1 ? "x" + g : g)).join("/");
  const width = Math.min(256, size - n * 256);
  return "tile/entries/" + path + (width < 256 ? ".p/" + width : "");
}

// Entry bundle n of the latest tree, fetched once; a fetch that failed is not kept, so the
// next use asks again.
const bundles = new Map();
function bundle(n) {
  if (!bundles.has(n)) bundles.set(n, get(bundlePath(n, head.size), "bytes").catch((e) => { bundles.delete(n); throw e; }));
  return bundles.get(n);
}

// Entry seq's bytes (hex) as the log publishes them: from its entry bundle.
async function entryFromTiles(seq) {
  const n = Math.floor(seq / 256);
  const b = await bundle(n);
  let at = 0;
  for (let i = 0; i < seq - n * 256; i++) {
    if (at + 2 > b.length) throw new Error("entry bundle " + n + " is too short");
    at += 2 + ((b[at] << 8) | b[at + 1]);
  }
  if (at + 2 > b.length) throw new Error("entry bundle " + n + " is too short");
  const len = (b[at] << 8) | b[at + 1];
  return Array.from(b.subarray(at + 2, at + 2 + len), (x) => x.toString(16).padStart(2, "0")).join("");
}

async function safu() {
  const box = $("safu");
  // Which entries are contributions and payouts comes from the listing; their bytes come from
  // the log's entry bundles (tlog-tiles) and each is proven in the checkpoint.
  const entries = [...await entriesOfKind("safu_contribution"), ...await entriesOfKind("safu_payout")];
  entries.sort((a, b) => a.seq - b.seq);
  let verified = [];
  let failed = 0;
  const refuse = (seq, why) => {
    failed++;
    box.append(el("p", {}, `entry ${seq} `, badge(false, why)));
  };
  for (const e of entries) {
    try {
      const bytes = await entryFromTiles(e.seq);
      const proof = await get(`v1/proofs/inclusion?seq=${e.seq}&size=${head.size}`);
      const d = included(bytes, proof, head);
      if (d.kind !== "safu_contribution" && d.kind !== "safu_payout") throw new Error("not a SAFU entry");
      verified.push({ seq: d.seq, bytes });
    } catch (err) {
      refuse(e.seq, err.message);
    }
  }
  verified = once(verified, (v) => v.seq, (_, seq) => refuse(seq, "is given twice")).map((v) => v.bytes);
  const listed = complete(box, "the listing of contributions and payouts",
    (whole || []).filter((e) => e.kind === "safu_contribution" || e.kind === "safu_payout").map((e) => e.seq), entries.map((e) => e.seq));
  const h = verifier({ op: "safu_history", entries: verified });
  const btc = h.history.filter((p) => p.asset === "BTC");
  const last = btc[btc.length - 1];
  // The failures were each counted where they were found (an entry, the listing); the summary
  // names them again without counting them twice.
  const problems = [];
  if (failed > 0) problems.push(`${failed} of its entries were refused`);
  if (!listed) problems.push("the listing is not complete");
  const summary = problems.length > 0 ? restate(false, problems.join("; "))
    : verified.length > 0 ? badge(true) : "No contributions or payouts yet.";
  box.append(el("p", {}, summary, " ",
    `${verified.length} contributions and payouts, each proven in the checkpoint. `,
    `BTC balance: ${last ? units(last.balance, "BTC") : "—"}.`,
    whole ? "" : el("small", {}, " (Which entries are contributions and payouts comes from the server's listing: one it left out could not be noticed here.)")));

  // Counted only over a whole history: with an entry refused or left out, a negative balance
  // may be that lie's doing (already counted), not the fund's.
  for (const a of h.went_negative || []) {
    box.append(el("p", {}, problems.length > 0
      ? restate(false, `the fund's ${a} balance cannot be stated (it came out below zero without the entries above)`)
      : badge(false, `the fund's ${a} balance went below zero: payouts exceeded contributions`)));
  }
  // Drawn in satoshi (a Number only for the pixels: whole BTC would flatten a fund under 1 BTC).
  box.append(chart(btc.map((p) => ({ t: p.time_ms, y: Number(p.balance) })), "SAFU BTC balance over time",
    btc.map((p) => ({ t: p.time_ms, color: p.kind === "payout" ? "#a40e26" : "#116329",
      text: `${p.kind} of ${units(p.amount, "BTC")} at ${when(p.time_ms)} (entry ${p.seq}, verified)` }))));
}

// ---- proof of reserves ------------------------------------------------------------------------

const snapshots = []; // verified, and standing by the rules between snapshots, in log order: {id, seq, entryHex, event}
let failedSnapshots = 0;
// Once the section is done: why its latest verified snapshot may not be the latest logged
// (null: nothing says so). A balance is checked only against a section that is done.
let reservesDone = false, notLatest = null;

async function reserves() {
  const box = $("reserves");
  // Until the section has finished, a balance checked against a verified snapshot may not be
  // against the latest.
  notLatest = "the proof-of-reserves section did not finish verifying";
  const list = await get("v1/reserves");
  bounded(list.snapshots, "the list of snapshots");
  if (list.snapshots.length === 0) {
    notLatest = null;
    box.append(el("p", {}, "No snapshots yet."));
    complete(box, "the list of snapshots", (whole || []).filter((e) => e.kind === "reserve_snapshot").map((e) => e.seq), []);
    return;
  }
  const refuse = (id, why) => {
    failedSnapshots++;
    box.append(el("p", {}, `snapshot ${id} `, badge(false, why)));
  };
  // An id listed again is not fetched again (its view is the same, and a list repeating an id
  // would keep the page fetching): the repeat is its one failure.
  const listed = once(list.snapshots, (s) => s?.snapshot, (_, id) => refuse(id, "is listed twice"));
  // Each snapshot is verified on its own first; the rules between snapshots follow, in log
  // order, whatever order the server listed them in.
  const found = [];
  for (const s of listed) {
    let proven; // this snapshot's entry, once proven in the log
    try {
      const v = await get("v1/reserves/" + encodeURIComponent(s.snapshot));
      const cp = await viewCheckpoint(v.checkpoint, v.checkpoint_size);
      const e = included(v.entry.bytes, v.inclusion_proof, cp);
      // Proven in the log: whatever fails next, it was reported here (not left out of the list)
      // and it holds its id and attestations in log order.
      if (e.kind === "reserve_snapshot" && e.event.snapshot === s.snapshot) {
        proven = { id: s.snapshot, seq: e.seq, entryHex: v.entry.bytes, event: e.event };
      }
      if (e.kind !== "reserve_snapshot" || e.event.snapshot !== s.snapshot || e.seq !== s.seq) throw new Error("not this snapshot's entry");
      // The reserves: exactly the custody attestations the entry names, each proven, adding up.
      for (const a of v.attestation_entries) included(a.bytes, a.inclusion_proof, cp);
      verifier({ op: "attested", snapshot: v.entry.bytes, entries: v.attestation_entries.map((a) => a.bytes) });
      // The totals shown come from the verified entry; a server whose list says otherwise lies.
      const same = (x, y) => x.length === y.length && x.every((a, i) =>
        ["asset", "liabilities", "reserves", "ratio"].every((k) => a[k] === y[i][k]));
      if (!same(s.assets, e.event.assets) || s.liabilities_root !== e.event.liabilities_root) {
        throw new Error("the server's list of snapshots states other totals than the logged entry");
      }
      found.push(proven);
    } catch (err) {
      refuse(s?.snapshot, err.message);
      // Refused, but logged: its id and the attestations it names were used by it all the same
      // (as vigil audit counts them), and a later snapshot cannot take them over.
      if (proven) found.push({ ...proven, refused: true });
    }
  }
  // The rules between snapshots (docs/FORMAT.md §11.6), in log order (the verified seq): the
  // first snapshot with an id stands, and the first to count an attestation; a later one is
  // refused. In the server's order, a later snapshot listed first would win. They run over
  // every snapshot the log holds when it was read whole (one the server left out of its list,
  // or broke, counts all the same), else over those proven here.
  const bySeq = new Map(found.map((f) => [f.seq, f]));
  const logged = [
    ...(whole || []).filter((e) => e.kind === "reserve_snapshot").map((e) => ({ seq: e.seq, id: e.snapshot, attestations: e.attestations })),
    ...found.filter((f) => !whole || pastHead(f.seq)).map((f) => ({ seq: f.seq, id: f.id, attestations: f.event.attestations })),
  ].sort((a, b) => a.seq - b.seq);
  const countedBy = new Map(), firstWithId = new Map();
  for (const l of logged) {
    const reused = l.attestations.find((n) => countedBy.has(n));
    const sameId = firstWithId.get(l.id);
    for (const n of l.attestations) if (!countedBy.has(n)) countedBy.set(n, l);
    if (!sameId) firstWithId.set(l.id, l);
    const s = bySeq.get(l.seq);
    if (!s || s.refused) continue; // not listed, or counted where it was refused
    if (sameId) {
      refuse(s.id, `its id was already used by the snapshot of entry ${sameId.seq}, which stands`);
    } else if (reused !== undefined) {
      const by = countedBy.get(reused);
      refuse(s.id, `attestation ${reused} was already counted by the earlier snapshot ${by.id} (entry ${by.seq})`);
    } else {
      snapshots.push(s);
      if (pastHead(s.seq)) box.append(el("p", {}, `snapshot ${s.id} `, pastWhole()));
      else counts.verified++;
    }
  }
  // Against what the server listed: a listed snapshot that failed is reported above, not as
  // left out.
  complete(box, "the list of snapshots",
    (whole || []).filter((e) => e.kind === "reserve_snapshot").map((e) => e.seq), [...list.snapshots.map((s) => s?.seq), ...found.map((f) => f.seq)]);
  // The latest is the one logged last (the verified seq), whatever order the server listed.
  const latest = snapshots[snapshots.length - 1];
  if (whole) {
    // The whole log says which snapshot is the latest: one logged after this one (left out,
    // failed, or refused) is the only reason it may not be. A listing that failed and is not
    // a later entry of the log (a fake one) is its own failure, not a doubt on this one.
    // Past the checkpoint read whole, a snapshot proven in the log but not accepted (refused
    // on its own or by the rules above) is later too: every one accepted is at most `latest`.
    const cut = latest ? latest.seq : -1;
    const later = whole.find((e) => e.kind === "reserve_snapshot" && e.seq > cut) || found.find((f) => f.seq > cut);
    notLatest = later ? `the log holds a later snapshot (entry ${later.seq}) that did not verify here` : null;
  } else {
    notLatest = failedSnapshots > 0 ? `${failedSnapshots} snapshot(s) did not verify, and one may be later than this one` : null;
  }
  if (!latest) return;
  if (notLatest) box.append(el("p", {}, restate(false, notLatest)));
  const table = el("table", {}, el("tr", {}, ...["asset", "reserves", "liabilities", "ratio", ""].map((h) => el("th", {}, h))));
  for (const a of latest.event.assets) {
    table.append(el("tr", { "data-asset": a.asset }, el("td", {}, a.asset), el("td", { class: "num" }, units(a.reserves, a.asset)),
      el("td", { class: "num" }, units(a.liabilities, a.asset)), el("td", { class: "num" }, a.ratio || "—"),
      el("td", {}, notLatest ? restate(false, notLatest) : pastHead(latest.seq) ? pastWhole() : badge(true))));
  }
  box.append(el("p", {}, `Snapshot ${latest.id} (cut-off ${when(latest.event.cut_off_ms)}, entry ${latest.seq}, `,
    `${latest.event.padded_size} leaves), proven in the checkpoint:`,
    whole ? "" : el("small", {}, " (which snapshots there are comes from the server's list: a later one it left out could not be noticed here)")), table);
  const ratio = (s) => Number(((s.event.assets.find((a) => a.asset === "BTC") || {}).ratio) || 0);
  box.append(el("p", {}, "BTC reserves / liabilities over time:"),
    chart(snapshots.map((s) => ({ t: s.event.cut_off_ms, y: ratio(s) })), "BTC reserve ratio over time",
      snapshots.map((s) => ({ t: s.event.cut_off_ms, text: `${s.id}: ${ratio(s).toFixed(4)}`, color: "#116329" }))));
}

let balanceAsked = 0; // the latest request: an earlier one's answer arriving late is dropped
// Checks the user's balances in the latest verified snapshot: true when they verified, false
// when they did not, null when there was nothing to check them against (no snapshot verified:
// why was said, and counted, where it was found) or when the snapshot is past the checkpoint
// read whole (verified in part only: counted neither way).
async function myBalance(ev) {
  if (ev) ev.preventDefault();
  const asked = ++balanceAsked;
  const out = $("balance");
  const show = (...nodes) => { if (asked === balanceAsked) out.replaceChildren(...nodes); };
  const refused = (why) => show(el("p", {}, el("span", { class: "bad", "data-verified": "no", id: "balance-bad" }, "✗ NOT VERIFIED: " + why)));
  if (!reservesDone) {
    show(el("p", {}, "The snapshots are still being verified; try again in a moment."));
    return null;
  }
  show(el("p", {}, "Checking…"));
  const latest = snapshots[snapshots.length - 1];
  if (!latest) {
    refused("no verified snapshot");
    return null;
  }
  try {
    const secret = $("secret").value.trim().toLowerCase();
    const account = $("account").value;
    const rid = verifier({ op: "record_id", secret });
    const given = $("record").value.trim().toLowerCase();
    if (given && given !== rid) throw new Error("this secret does not belong to that record id");
    const bytes = await get(`v1/reserves/${encodeURIComponent(latest.id)}/proof/${rid}`, "bytes");
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    const req = { op: "reserves", proof: btoa(bin), secret, account, entry: latest.entryHex };
    const r = verifier(req);
    timing.reserves_ms = timeOp(req);
    // Against a snapshot past the checkpoint read whole, only in part.
    const past = pastHead(latest.seq);
    show(el("p", {}, el("span", { class: "ok", "data-verified": "yes", id: "balance-ok" }, "✓ verified"),
      ` The balances of account ${account} in snapshot ${r.snapshot} are counted in the published totals:`),
      el("ul", {}, ...r.balances.map((b) => el("li", {}, `${units(b.balance, b.asset)} of ${units(b.liabilities, b.asset)} owed to all users (reserves ${units(b.reserves, b.asset)}, ratio ${b.ratio || "—"})`))),
      notLatest ? el("p", {}, restate(false, `snapshot ${r.snapshot} may not be the latest: ${notLatest}`)) : "",
      past ? el("p", {}, `snapshot ${r.snapshot} `, pastWhole()) : "");
    return past ? null : true;
  } catch (e) {
    refused(e.message);
    return false;
  }
}

// ---- main -------------------------------------------------------------------------------------

async function main() {
  $("vkey").textContent = VKEY;
  if (POLICY.unreadable) {
    $("policy").append(badge(false, "the page's witness policy does not read: no checkpoint can be accepted"), el("br"));
  } else if (POLICY.quorum > 0) {
    $("policy").append(`Pinned witnesses (${POLICY.quorum} of ${POLICY.witnesses.length} must cosign): `,
      ...POLICY.witnesses.flatMap((k, i) => [i ? ", " : "", el("code", {}, k)]), el("br"));
  } else {
    // Only the log's own signature: a history shown to this browser alone would go unnoticed.
    $("policy").append(badge(false, "no witnesses pinned: only the log vouches for its checkpoints, so a fork shown to you alone would not be detected"), el("br"));
  }
  try {
    pinned();
  } catch (e) {
    $("policy").append(badge(false, "this browser cannot remember the pinned key and policy: " + e.message), el("br"));
    storageFailed = true;
  }
  $("mybalance").addEventListener("submit", myBalance);
  try {
    await loadVerifier();
    await checkpoint();
    await wholeLog();
  } catch (e) {
    // The checkpoint and the whole log count their own failures; a verifier that did not
    // load is counted here.
    if (!wasm) $("checkpoint").append(el("p", {}, badge(false, e.message)));
    reservesDone = true; // nothing more will be verified: a balance check says so
    summarize("done");
    $("summary").textContent = "Could not verify the checkpoint: " + e.message;
    return;
  }
  const sections = [["incidents", incidents], ["the SAFU fund", safu], ["proof of reserves", reserves]];
  for (const [name, part] of sections) {
    try { await part(); } catch (e) { $("summary").after(el("p", {}, badge(false, `${name}: ${e.message}`))); }
    summarize("loading");
  }
  reservesDone = true;
  // Prefilled from the address (#account=…&secret=…&record=…): checks at once.
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("secret")) {
    $("account").value = params.get("account") || "";
    $("secret").value = params.get("secret");
    $("record").value = params.get("record") || "";
    // Part of this run, so part of its total.
    // Counted only against the latest snapshot: against an older one (the latest failed, and
    // that was counted) a user missing from it is not a lie of its own.
    const checked = await myBalance();
    if (checked === true) counts.verified++;
    if (checked === false && notLatest === null) counts.failed++;
  }
  summarize("done");
  report();
}

// How long verification takes here: page load to the incident's timeline all verified, and one
// inclusion proof and one reserves proof checked (mean of 50 runs). Shown at the foot of the
// page and logged for the benchmark (benches/page.rs).
const timing = {};
function report() {
  const t = $("timing");
  const ms = (v, digits) => (v === undefined ? "—" : v.toFixed(digits) + " ms");
  if (t) t.textContent = `Verified in this browser: incident timeline ${ms(timing.incident_ms, 0)} after load; ` +
    `one inclusion proof ${ms(timing.inclusion_ms, 3)}; one reserves proof ${ms(timing.reserves_ms, 3)}.`;
  console.log("vigil-timings " + JSON.stringify(timing));
}
function timeOp(req) {
  const n = 50, t0 = performance.now();
  for (let i = 0; i < n; i++) verifier(req);
  return (performance.now() - t0) / n;
}

main();
