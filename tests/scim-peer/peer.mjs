// SCIM 2.0 test peer for syncd's SCIM sink: scimmy + scimmy-routers + express 4, in-memory store.
// Profiles: "rfc" (RFC 7643/7644 behaviour) and "aws" (IAM Identity Center's documented limits,
// /work/shared/research/identity-store.md §2). Fault injection and a loopback-only control API under
// /_control/. Environment and control API: see README.md next to this file.
import express from "express";
import crypto from "node:crypto";
import fs from "node:fs";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";

const env = process.env;
const num = (name, dflt) => {
  const v = env[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) { console.error(`scim-peer: ${name}=${v} is not a non-negative number`); process.exit(2); }
  return n;
};
const PROFILE = env.SCIM_PEER_PROFILE ?? "rfc";
if (!["rfc", "aws"].includes(PROFILE)) { console.error(`scim-peer: SCIM_PEER_PROFILE=${PROFILE}: expected rfc or aws`); process.exit(2); }
const AWS = PROFILE === "aws";
const AWS_PAGE_MAX = num("SCIM_PEER_AWS_PAGE_MAX", 50);          // older AWS deployments: 50; newer: 100
const AWS_PAGING = env.SCIM_PEER_AWS_PAGING ?? "both";           // both | cursor | truncate
if (!["both", "cursor", "truncate"].includes(AWS_PAGING)) { console.error(`scim-peer: SCIM_PEER_AWS_PAGING=${AWS_PAGING}: expected both, cursor or truncate`); process.exit(2); }
const AWS_MAX_MEMBER_CHANGES = 100;
const RFC_DEFAULT_COUNT = 100, RFC_MAX_COUNT = 200;                // 200 = scimmy's SPC filter.maxResults
const SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const AWS_UNPARSABLE = "Request is unparsable, syntactically incorrect, or violates schema.";

// ---- authentication: SCIM_TOKEN, or SCIM_TOKEN_FILE (re-read when it changes; one token per line, AWS allows 2)
let controlTokens = null;                                        // set through POST /_control/tokens
let fileTokens = { mtime: -1, list: [] };
function validTokens() {
  if (controlTokens) return controlTokens;
  if (env.SCIM_TOKEN_FILE) {
    try {
      const st = fs.statSync(env.SCIM_TOKEN_FILE);
      if (st.mtimeMs !== fileTokens.mtime)
        fileTokens = { mtime: st.mtimeMs, list: fs.readFileSync(env.SCIM_TOKEN_FILE, "utf8").split(/\r?\n/).map(s => s.trim()).filter(Boolean) };
      return fileTokens.list;
    } catch { return []; }                                       // unreadable file: nobody gets in
  }
  return [env.SCIM_TOKEN ?? "test-token"];
}

// ---- store: records by id plus indexes, so that lookups the client makes per object stay O(1)
const users = new Map(), groups = new Map();                     // id -> record; groups hold members as Map(value -> type)
const seqOf = new Map();                                          // id -> creation sequence (cursor paging)
let nextSeq = 1;
class MultiIndex {                                                 // key -> Set(id)
  constructor(fold) { this.map = new Map(); this.fold = fold; }
  key(k) { return typeof k === "string" && k !== "" ? (this.fold ? k.toLowerCase() : k) : null; }
  add(k, id) { k = this.key(k); if (k === null) return; let s = this.map.get(k); if (!s) this.map.set(k, s = new Set()); s.add(id); }
  del(k, id) { k = this.key(k); if (k === null) return; const s = this.map.get(k); if (s) { s.delete(id); if (!s.size) this.map.delete(k); } }
  get(k) { k = this.key(k); return (k !== null && this.map.get(k)) || new Set(); }
  clear() { this.map.clear(); }
}
const idx = {
  userName: new MultiIndex(true), userExt: new MultiIndex(false), email: new MultiIndex(true),
  groupName: new MultiIndex(true), groupExt: new MultiIndex(false),
  memberOf: new MultiIndex(false),                                 // member id -> Set(group id)
};
const primaryEmail = (u) => { const e = u.emails ?? []; return (e.find(x => x.primary) ?? e[0])?.value; };
function indexUser(u, on) {
  const f = on ? "add" : "del";
  idx.userName[f](u.userName, u.id); idx.userExt[f](u.externalId, u.id);
  if (AWS) idx.email[f](primaryEmail(u), u.id);
}
function indexGroup(g, on) { const f = on ? "add" : "del"; idx.groupName[f](g.displayName, g.id); idx.groupExt[f](g.externalId, g.id); }
function clearStore() { users.clear(); groups.clear(); seqOf.clear(); for (const i of Object.values(idx)) i.clear(); }

const now = () => new Date().toISOString();
const scimErr = (status, scimType, msg) => new SCIMMY.Types.Error(status, scimType, msg);
const notFound = (id) => scimErr(404, null, `Resource ${id} not found`);
const plain = (inst) => JSON.parse(JSON.stringify(inst));

// Views: what the outside sees. Users gain the readOnly "groups" (rfc only: AWS returns none);
// groups expose members as an array.
function userView(u, withGroups = !AWS) {
  if (!withGroups) return u;
  const gs = [...idx.memberOf.get(u.id)].map(gid => ({ value: gid, display: groups.get(gid)?.displayName, type: "direct" }));
  return gs.length ? { ...u, groups: gs } : u;
}
function memberDisplay(value, type) {
  const r = type === "Group" ? groups.get(value) : users.get(value);
  return r ? (r.displayName ?? r.userName) : undefined;
}
function groupView(g) {
  const members = [...g.members].map(([value, type]) => ({ value, type, display: memberDisplay(value, type) }));
  return { ...g, members };
}

// A group as the SCIM client sees it. scimmy's schema coercion costs ~0.15 ms per member, so members are left
// out of it and attached as plain values (a 10,000-member group then answers in milliseconds, not 1.5 s).
// aws: members always empty (§2.2). q: the request's query (attributes / excludedAttributes).
function groupOut(g, base, q = {}) {
  const list = (v) => String(v ?? "").split(",").map(a => a.trim().toLowerCase()).filter(Boolean);
  const attrs = list(q.attributes), excluded = list(q.excludedAttributes);
  const wantMembers = !excluded.some(a => a === "members" || a.startsWith("members."))
    && (!attrs.length || attrs.some(a => a === "members" || a.startsWith("members.")));
  const rest = attrs.filter(a => !(a === "members" || a.startsWith("members.")));
  const shape = attrs.length ? (rest.length ? { attributes: rest.join(",") } : { attributes: "id" })
    : excluded.length ? { excludedAttributes: excluded.join(",") } : {};
  const parsed = new SCIMMY.Resources.Group(shape).attributes;
  const o = plain(new SCIMMY.Schemas.Group({ ...g, members: [] }, "out", `${base}/Groups`, parsed));
  if (AWS) o.members = [];
  else if (wantMembers && g.members.size)
    o.members = [...g.members].map(([value, type]) => ({ value, type, display: memberDisplay(value, type),
      $ref: `${base}/${type === "Group" ? "Groups" : "Users"}/${value}` }));
  return o;
}

// Uniqueness (409): userName (case-insensitive) and group displayName; aws adds the primary email (§2.4).
function clash(index, key, selfId, what) {
  for (const id of index.get(key)) if (id !== selfId) throw scimErr(409, "uniqueness", `${what} '${key}' already exists (id ${id})`);
}

// ---- AWS user rules (§2.2 CreateUser/PutUser/PatchUser, §2.4): checked on every write that reaches the store
function awsCheckUser(u) {
  for (const [path, v] of [["userName", u.userName], ["displayName", u.displayName], ["name.givenName", u.name?.givenName], ["name.familyName", u.name?.familyName]])
    if (typeof v !== "string" || v.trim() === "") throw scimErr(400, "invalidValue", `${AWS_UNPARSABLE} Missing required attribute '${path}'`);
  for (const multi of ["emails", "addresses", "phoneNumbers"])
    if ((u[multi] ?? []).length > 1) throw scimErr(400, "invalidValue", `${AWS_UNPARSABLE} Attribute '${multi}' accepts at most one value`);
  if ((u.emails ?? []).length === 1 && u.emails[0].primary !== true)
    throw scimErr(400, "invalidValue", `${AWS_UNPARSABLE} The email must be marked primary`);
}

// ---- store writes shared by SCIM and the control API (ctx.control skips the profile's rules)
function putUser(id, data, ctx) {
  delete data.groups; delete data.meta; delete data.id;
  if (AWS && !ctx?.control) awsCheckUser(data);
  const cur = id ? users.get(id) : null;
  if (id && !cur) throw notFound(id);
  clash(idx.userName, data.userName, id, "userName");
  if (AWS && primaryEmail(data)) clash(idx.email, primaryEmail(data), id, "primary email");
  const t = now();
  const rec = { ...data, id: id ?? crypto.randomUUID(), meta: { resourceType: "User", created: cur?.meta.created ?? t, lastModified: t } };
  if (cur) indexUser(cur, false); else seqOf.set(rec.id, nextSeq++);
  users.set(rec.id, rec); indexUser(rec, true);
  return rec;
}
function deleteUser(id) {
  const u = users.get(id);
  if (!u) throw notFound(id);
  indexUser(u, false); users.delete(id); seqOf.delete(id);
  for (const gid of idx.memberOf.get(id)) groups.get(gid)?.members.delete(id);
  idx.memberOf.map.delete(id);
}
// The type a member id would have, or an error: members must exist; groups only in rfc (AWS has no nested groups, §2.4).
function memberType(gid, value, ctx) {
  if (users.has(value)) return "User";
  if (groups.has(value)) {
    if (AWS && !ctx?.control) throw scimErr(400, "invalidValue", `${AWS_UNPARSABLE} Member ${value} is a group; nested groups are not supported`);
    if (value === gid) throw scimErr(400, "invalidValue", `Group ${gid} cannot be a member of itself`);
    return "Group";
  }
  throw scimErr(400, "invalidValue", `Member ${value} does not exist`);
}
function putGroup(id, data, ctx) {
  const cur = id ? groups.get(id) : null;
  if (id && !cur) throw notFound(id);
  const newId = id ?? crypto.randomUUID();
  const members = new Map();
  for (const m of data.members ?? []) {
    if (typeof m?.value !== "string") throw scimErr(400, "invalidValue", "Each member needs a string 'value'");
    members.set(m.value, memberType(newId, m.value, ctx));
  }
  if (typeof data.displayName !== "string" || data.displayName === "") throw scimErr(400, "invalidValue", "Missing required attribute 'displayName'");
  clash(idx.groupName, data.displayName, id, "displayName");
  delete data.members; delete data.meta; delete data.id;
  const t = now();
  const rec = { ...data, id: newId, members, meta: { resourceType: "Group", created: cur?.meta.created ?? t, lastModified: t } };
  if (cur) { indexGroup(cur, false); for (const v of cur.members.keys()) idx.memberOf.del(v, newId); } else seqOf.set(newId, nextSeq++);
  groups.set(newId, rec); indexGroup(rec, true);
  for (const v of members.keys()) idx.memberOf.add(v, newId);
  return rec;
}
function deleteGroup(id) {
  const g = groups.get(id);
  if (!g) throw notFound(id);
  indexGroup(g, false); groups.delete(id); seqOf.delete(id);
  for (const v of g.members.keys()) idx.memberOf.del(v, id);
  for (const pid of idx.memberOf.get(id)) groups.get(pid)?.members.delete(id);
  idx.memberOf.map.delete(id);
}
// Membership changes without rewriting the group: O(changes), used by the PATCH fast path and the control API.
function changeMembers(gid, adds, removes, ctx) {
  const g = groups.get(gid);
  if (!g) throw notFound(gid);
  const typed = adds.map(v => [v, memberType(gid, v, ctx)]);     // validate everything before changing anything
  let changed = false;
  for (const [v, type] of typed) if (!g.members.has(v)) { g.members.set(v, type); idx.memberOf.add(v, gid); changed = true; }
  for (const v of removes) if (g.members.delete(v)) { idx.memberOf.del(v, gid); changed = true; }
  if (changed) g.meta = { ...g.meta, lastModified: now() };
  return changed;
}

// ---- queries: index candidates first, then scimmy's filter evaluator on the few candidates
const CASE_FOLDED = new Set(["userName", "displayName"]);       // caseExact=false in RFC 7643 (scimmy compares exactly: G2)
const FILTER_OPS = new Set(["eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le", "pr", "np", "not"]);
const MULTI = ["emails", "phoneNumbers", "addresses", "groups", "members", "ims", "photos", "entitlements", "roles", "x509Certificates"];
const isEq = (x) => Array.isArray(x) && x.length === 2 && String(x[0]).toLowerCase() === "eq" && typeof x[1] === "string";
// Ids an expression (AND of terms) can match, from the indexes: {ids, exact}. exact = every term was an
// indexed eq, so the ids are the answer and scimmy's matcher is not needed (a membership check on a
// 10,000-member group then costs O(1), not a view of the whole group). null = no indexed term: scan.
function candidates(kind, expr) {
  let ids = null, exact = true;
  const store = kind === "Users" ? users : groups;
  for (const [k, v] of Object.entries(expr)) {
    const key = k.toLowerCase();
    let set = null;
    if (key === "id" && isEq(v)) set = new Set(store.has(v[1]) ? [v[1]] : []);
    else if (key === "externalid" && isEq(v)) set = (kind === "Users" ? idx.userExt : idx.groupExt).get(v[1]);
    else if (key === "username" && kind === "Users" && isEq(v)) set = idx.userName.get(v[1]);
    else if (key === "displayname" && kind === "Groups" && isEq(v)) set = idx.groupName.get(v[1]);
    else if (key === "members" && kind === "Groups" && v && Object.keys(v).length === 1 && isEq(v.value)) set = idx.memberOf.get(v.value[1]);
    else if (key === "groups" && kind === "Users" && v && Object.keys(v).length === 1 && isEq(v.value)) {
      const g = groups.get(v.value[1]);
      set = new Set(g ? [...g.members].filter(([, t]) => t === "User").map(([id]) => id) : []);
    }
    if (set === null) { exact = false; continue; }
    ids = ids === null ? new Set(set) : new Set([...ids].filter(id => set.has(id)));
  }
  return ids === null ? null : { ids, exact };
}
// scimmy's matcher does not resolve schema-URN-prefixed attributes ("urn:...:enterprise:2.0:User:employeeNumber"):
// nest extension attributes under their schema id and drop the core schema's prefix.
const CORE_URNS = ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:core:2.0:Group"];
function unprefix(expr) {
  const out = {};
  for (const [k, v] of Object.entries(expr)) {
    const core = CORE_URNS.find(u => k.toLowerCase().startsWith(u.toLowerCase() + ":"));
    if (core) { out[k.slice(core.length + 1)] = v; continue; }
    if (k.toLowerCase().startsWith(ENTERPRISE.toLowerCase() + ":")) {
      const [attr, ...sub] = k.slice(ENTERPRISE.length + 1).split(".");
      out[ENTERPRISE] = { ...(out[ENTERPRISE] ?? {}), [attr]: sub.reduceRight((acc, p) => ({ [p]: acc }), v) };
      continue;
    }
    out[k] = v;
  }
  return out;
}
const bySeq = (a, b) => seqOf.get(a) - seqOf.get(b);
// All records matching a scimmy Filter (or all records without one), as views, in creation order.
function find(kind, filter) {
  const store = kind === "Users" ? users : groups;
  const view = kind === "Users" ? (r) => userView(r, true) : groupView;
  if (!filter || !filter.length) return [...store.values()];
  let ids = new Set(), exact = true;
  for (const expr of filter) {                                     // expressions are OR-ed: union of index hits
    const c = candidates(kind, expr);
    if (c === null) { ids = null; break; }
    for (const id of c.ids) ids.add(id);
    exact &&= c.exact;
  }
  const recs = ids === null ? [...store.values()] : [...ids].sort(bySeq).map(id => store.get(id)).filter(Boolean);
  if (exact && ids !== null) return recs;
  // Normalise multi-valued attributes (scimmy's match throws on a missing one: G3) and fold case (G2).
  const fold = (e) => Array.isArray(e) ? e.map(fold) : Object.fromEntries(Object.entries(e).map(([k, v]) =>
    [k, Array.isArray(v) ? (CASE_FOLDED.has(k) ? v.map(x => typeof x === "string" && !FILTER_OPS.has(x) ? x.toLowerCase() : x) : v)
                         : (v && typeof v === "object" ? fold(v) : v)]));
  const shadows = recs.map(r => {
    const s = { ...view(r) };
    for (const m of MULTI) if (!Array.isArray(s[m])) s[m] = [];
    if (kind === "Users" && !s[ENTERPRISE]) s[ENTERPRISE] = {};
    for (const k of CASE_FOLDED) if (typeof s[k] === "string") s[k] = s[k].toLowerCase();
    return s;
  });
  const hits = new Set(new SCIMMY.Types.Filter(fold(plain(filter).map(unprefix))).match(shadows).map(r => r.id));
  return recs.filter(r => hits.has(r.id));
}
function sortRecords(recs, view, sortBy, order) {
  const val = (r) => sortBy.split(".").reduce((o, p) => {
    const x = o?.[Object.keys(o ?? {}).find(k => k.toLowerCase() === p.toLowerCase())];
    return Array.isArray(x) ? (x.find(e => e?.primary) ?? x[0])?.value ?? x[0] : x;
  }, r);
  const out = [...recs].sort((a, b) => {
    const x = val(view(a)), y = val(view(b));
    if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? 1 : -1;
    return String(x).localeCompare(String(y), undefined, { sensitivity: "base" });
  });
  return order === "descending" ? out.reverse() : out;
}

// ---- scimmy resource handlers (used for GET by id, POST, PUT, PATCH via scimmy, DELETE, /.search, /Bulk)
SCIMMY.Resources.declare(SCIMMY.Resources.User).extend(SCIMMY.Schemas.EnterpriseUser, false);
SCIMMY.Resources.declared("User")
  .ingress((res, inst, ctx) => userView(putUser(res.id, plain(inst), ctx)))
  .egress((res) => {
    if (res.id) { const u = users.get(res.id); if (!u) throw notFound(res.id); return userView(u); }
    return find("Users", res.filter).map(u => userView(u));
  })
  .degress((res) => deleteUser(res.id));
SCIMMY.Resources.declare(SCIMMY.Resources.Group)
  .ingress((res, inst, ctx) => groupView(putGroup(res.id, plain(inst), ctx)))
  .egress((res) => {
    if (res.id) { const g = groups.get(res.id); if (!g) throw notFound(res.id); return groupView(g); }
    return find("Groups", res.filter).map(groupView);
  })
  .degress((res) => deleteGroup(res.id));

// ---- faults and counters
const FAULT_DEFAULTS = { every_429: 0, retry_after: 1, write_rate: 0, write_burst: 0, read_rate: 0, every_500: 0, drop_every: 0, drop_after_every: 0, delay_ms: 0 };
const faultsFromEnv = () => ({
  every_429: num("SCIM_PEER_429_EVERY", 0), retry_after: num("SCIM_PEER_RETRY_AFTER", 1),
  write_rate: num("SCIM_PEER_WRITE_RATE", 0), write_burst: num("SCIM_PEER_WRITE_BURST", 0), read_rate: num("SCIM_PEER_READ_RATE", 0),
  every_500: num("SCIM_PEER_500_EVERY", 0), drop_every: num("SCIM_PEER_DROP_EVERY", 0),
  drop_after_every: num("SCIM_PEER_DROP_AFTER_EVERY", 0), delay_ms: num("SCIM_PEER_DELAY_MS", 0),
});
let faults, fc;                                                   // settings and their counters
function setFaults(f) {
  faults = f;
  const bucket = (rate, burst) => ({ rate, cap: Math.max(1, burst || rate), tokens: Math.max(1, burst || rate), at: process.hrtime.bigint() });
  fc = { writes: 0, write: bucket(f.write_rate, f.write_burst), read: bucket(f.read_rate, f.read_rate) };
}
setFaults(faultsFromEnv());
function take(b) {                                                // token bucket; true when the request may pass
  if (!b.rate) return true;
  const t = process.hrtime.bigint();
  b.tokens = Math.min(b.cap, b.tokens + Number(t - b.at) / 1e9 * b.rate); b.at = t;
  if (b.tokens < 1) return false;
  b.tokens -= 1; return true;
}
const newStats = () => ({ requests: 0, reads: 0, writes: 0, dropped: 0, by_method: {}, by_route: {}, status_counts: {},
  member_change_requests: 0, member_changes: 0, member_changes_max: 0 });
let stats = newStats();
const bump = (o, k) => { o[k] = (o[k] ?? 0) + 1; };

const app = express();
app.set("etag", false);                                          // express's weak ETag is not SCIM versioning (G5)
app.set("x-powered-by", false);
const scimError = (res, status, detail, scimType) => res.status(status).type("application/scim+json")
  .send({ schemas: [SCIM_ERROR], status: String(status), ...(scimType ? { scimType } : {}), detail });
const sendEx = (res, ex) => res.status(ex.status ?? 500).type("application/scim+json").send(new SCIMMY.Messages.Error(ex));
const isLoopback = (a) => /^(127\.|::1$|::ffff:127\.)/.test(a ?? "");

// ---- control API (loopback only, no SCIM token; never counted in stats, never faulted)
const control = express.Router();
control.use((req, res, next) => isLoopback(req.socket.remoteAddress) ? next() : res.status(403).json({ error: "control API is loopback-only" }));
control.use(express.json({ type: () => true, limit: "50mb" }));
const ctl = (fn) => async (req, res) => {
  try { const out = await fn(req, res); if (!res.headersSent) out === undefined ? res.status(204).end() : res.json(out); }
  catch (ex) { res.status(ex.status ?? (ex instanceof TypeError ? 400 : 500)).json({ error: ex.message }); }
};
const CONTROL = { control: true };
control.get("/health", ctl(() => ({ ok: true, profile: PROFILE })));
control.get("/stats", ctl(() => stats));
control.post("/reset-stats", ctl(() => { stats = newStats(); }));
control.get("/faults", ctl(() => faults));
control.post("/faults", ctl((req) => {
  const body = req.body ?? {};
  for (const [k, v] of Object.entries(body)) {
    if (k === "replace") continue;                               // flag: start from all-off instead of the current settings
    if (!(k in FAULT_DEFAULTS)) throw Object.assign(new Error(`unknown fault '${k}'; known: ${Object.keys(FAULT_DEFAULTS).join(", ")}`), { status: 400 });
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw Object.assign(new Error(`fault '${k}' must be a non-negative number`), { status: 400 });
  }
  const { replace, ...settings } = body;
  setFaults({ ...(replace ? FAULT_DEFAULTS : faults), ...settings });
  return faults;
}));
control.post("/reset", ctl(() => { clearStore(); setFaults({ ...FAULT_DEFAULTS }); stats = newStats(); controlTokens = null; }));
control.post("/tokens", ctl((req) => {
  const t = req.body?.tokens;
  if (t === null) { controlTokens = null; return { tokens: "from environment" }; }
  if (!Array.isArray(t) || !t.every(x => typeof x === "string" && x)) throw Object.assign(new Error("expected {\"tokens\": [\"...\"]} or {\"tokens\": null}"), { status: 400 });
  controlTokens = t; return { tokens: t.length };
}));
control.get("/dump", ctl(() => ({ profile: PROFILE, users: [...users.values()].map(u => userView(u, true)), groups: [...groups.values()].map(groupView) })));
control.get("/users/:id", ctl((req) => { const u = users.get(req.params.id); if (!u) throw notFound(req.params.id); return userView(u, true); }));
control.get("/groups/:id", ctl((req) => { const g = groups.get(req.params.id); if (!g) throw notFound(req.params.id); return groupView(g); }));
// POST takes one SCIM resource or an array of them (answered with an array).
const many = (fn) => ctl((req, res) => { res.status(201); return Array.isArray(req.body) ? req.body.map(fn) : fn(req.body); });
control.post("/users", many((b) => userView(putUser(null, plain(new SCIMMY.Schemas.User(b, "in")), CONTROL), true)));
control.post("/groups", many((b) => groupView(putGroup(null, plain(new SCIMMY.Schemas.Group(b, "in")), CONTROL))));
control.delete("/users/:id", ctl((req) => { deleteUser(req.params.id); }));
control.delete("/groups/:id", ctl((req) => { deleteGroup(req.params.id); }));
// PATCH: a SCIM PatchOp body ({"Operations": [...]}) or a plain object merged into the record (null deletes).
for (const [kind, Res, getView] of [["users", SCIMMY.Resources.User, (id) => users.get(id) && userView(users.get(id), true)],
                                     ["groups", SCIMMY.Resources.Group, (id) => groups.get(id) && groupView(groups.get(id))]]) {
  control.patch(`/${kind}/:id`, ctl(async (req) => {
    const id = req.params.id, cur = getView(id);
    if (!cur) throw notFound(id);
    if (Array.isArray(req.body?.Operations))
      await new Res(id).patch({ schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], ...req.body }, CONTROL);
    else {
      const next = { ...cur, ...req.body };
      for (const [k, v] of Object.entries(req.body ?? {})) if (v === null) delete next[k];
      (kind === "users" ? putUser : putGroup)(id, plain(next), CONTROL);
    }
    return getView(id);
  }));
}
control.post("/groups/:id/members", ctl((req) => {
  const v = [req.body?.value ?? req.body?.values ?? []].flat();
  changeMembers(req.params.id, v, [], CONTROL); return groupView(groups.get(req.params.id));
}));
control.delete("/groups/:id/members/:member", ctl((req) => { changeMembers(req.params.id, [], [req.params.member], CONTROL); }));
app.use("/_control", control);

// ---- SCIM: counters, delay, auth, faults, profile rules, then scimmy
const scim = express.Router();
const WRITE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const isResourceWrite = (req) => WRITE.has(req.method) && /^\/(Users|Groups)(\/|$)|^\/Bulk$/i.test(req.path) && !/\/\.search$/.test(req.path);
scim.use((req, res, next) => {
  const write = isResourceWrite(req);
  req.isWrite = write;
  stats.requests++; write ? stats.writes++ : stats.reads++;
  bump(stats.by_method, req.method);
  bump(stats.by_route, `${req.method} /${req.path.split("/")[1] ?? ""}`);
  let finished = false;
  res.on("finish", () => { finished = true; bump(stats.status_counts, String(res.statusCode)); });
  res.on("close", () => { if (!finished) stats.dropped++; });
  if (faults.delay_ms > 0) setTimeout(next, faults.delay_ms); else next();
});
scim.use((req, res, next) => {
  const auth = req.header("authorization") ?? "";
  const m = /^Bearer\s+(\S+)$/i.exec(auth);
  if (!m || !validTokens().includes(m[1])) return scimError(res, 401, m ? "Invalid bearer token" : "Missing Authorization: Bearer <token>");
  next();
});
scim.use((req, res, next) => {                                    // fault injection
  if (req.isWrite) {
    const n = ++fc.writes;
    const every = (k) => faults[k] > 0 && n % faults[k] === 0;
    if (every("drop_every")) { req.socket.destroy(); return; }
    if (every("every_500")) return scimError(res, 500, "Injected internal error");
    if (every("every_429") || !take(fc.write)) { res.set("Retry-After", String(Math.round(faults.retry_after))); return scimError(res, 429, "Too many requests"); }
    if (every("drop_after_every")) res.end = () => req.socket.destroy();   // the write happens, its answer is lost
  } else if (!take(fc.read)) { res.set("Retry-After", String(Math.round(faults.retry_after))); return scimError(res, 429, "Too many requests"); }
  next();
});
scim.use(express.json({ type: ["application/scim+json", "application/json"], limit: "10mb" }));
scim.use((req, res, next) => { res.setHeader("Content-Type", "application/scim+json"); next(); });
scim.use((req, res, next) => {                                    // membership values per group write (stats)
  if (req.isWrite && /^\/Groups(\/|$)/i.test(req.path)) {
    const body = req.body ?? {};
    const n = req.method === "PATCH" ? (Array.isArray(body.Operations) ? body.Operations : []).reduce((a, op) => a + memberChanges(op ?? {}), 0)
      : Array.isArray(body.members) ? body.members.length : 0;
    if (n > 0) { stats.member_change_requests++; stats.member_changes += n; stats.member_changes_max = Math.max(stats.member_changes_max, n); }
  }
  next();
});
const baseOf = (req) => `http://${req.headers.host}${req.baseUrl}`;
const wrap = (fn) => async (req, res, next) => { try { await fn(req, res, next); } catch (ex) { next(ex); } };

// aws profile: refuse what IAM Identity Center refuses, before scimmy sees the request.
const awsFail = (detail) => { throw scimErr(400, null, `${AWS_UNPARSABLE} ${detail}`); };
const AWS_USER_FILTERS = [["username"], ["externalid"], ["id"], ["groups.value"], ["id", "manager.value"]];
const AWS_GROUP_FILTERS = [["displayname"], ["externalid"], ["id"], ["members.value"], ["id", "members.value"]];
function awsCheckFilter(kind, f) {
  if (f === undefined) return;
  const terms = String(f).split(/\s+and\s+/i);
  const attrs = terms.map(t => {
    const m = /^\s*([A-Za-z][\w.]*)\s+(\w+)\s+"[^"]*"\s*$/.exec(t);
    if (!m) awsFail(`Unsupported filter '${f}': only '<attribute> eq "<value>"' joined by 'and'`);
    if (m[2].toLowerCase() !== "eq") awsFail(`Unsupported filter operator '${m[2]}': only 'eq' is supported`);
    return m[1].toLowerCase();
  });
  const allowed = kind === "Users" ? AWS_USER_FILTERS : AWS_GROUP_FILTERS;
  if (!allowed.some(a => a.length === attrs.length && a.every((x, i) => x === attrs[i])))
    awsFail(`Unsupported filter attributes '${attrs.join(" and ")}'; supported on ${kind}: ${allowed.map(a => a.join(" and ")).join(", ")}`);
}
const AWS_USER_PATCHABLE = new Set(["username", "active", "externalid", "displayname", "nickname", "profileurl", "title", "usertype", "preferredlanguage",
  "locale", "timezone", "name", "emails", "addresses", "phonenumbers", ENTERPRISE.toLowerCase()]);
const pathRoot = (p) => { const s = p.toLowerCase(); return s.startsWith(ENTERPRISE.toLowerCase()) ? ENTERPRISE.toLowerCase() : s.split(/[.[]/)[0]; };
function memberChanges(op) {                                      // membership values an operation touches
  const p = (op.path ?? "").toLowerCase();
  if (p.startsWith("members")) return Array.isArray(op.value) ? op.value.length : 1;
  if (!op.path && op.value && typeof op.value === "object") {
    const m = Object.entries(op.value).find(([k]) => k.toLowerCase() === "members");
    return m ? [m[1]].flat().length : 0;
  }
  return 0;
}
if (AWS) scim.use(wrap((req, res, next) => {
  const [, kind, id] = /^\/(Users|Groups)(?:\/([^/]+))?\/?$/i.exec(req.path) ?? [];
  if (/^\/(Bulk|Me)(\/|$)|\/\.search$/i.test(req.path)) throw scimErr(404, null, "Endpoint not supported by this service provider");
  const body = req.body ?? {};
  if (req.method === "GET" && kind && !id) {
    awsCheckFilter(/^users$/i.test(kind) ? "Users" : "Groups", req.query.filter);
  }
  if (/^groups$/i.test(kind ?? "")) {
    if (req.method === "PUT") throw scimErr(400, null, `${AWS_UNPARSABLE} PUT is not supported on Groups; use PATCH`);
    if (req.method === "POST" && (body.members ?? []).length > AWS_MAX_MEMBER_CHANGES)
      awsFail(`${body.members.length} members in one request; at most ${AWS_MAX_MEMBER_CHANGES} are allowed`);
    if (req.method === "PATCH") {
      const ops = Array.isArray(body.Operations) ? body.Operations : [];
      for (const op of ops) {
        const o = String(op?.op ?? "").toLowerCase(), p = String(op?.path ?? "");
        if (p && !["displayname", "members", "externalid"].includes(pathRoot(p))) awsFail(`Attribute '${p}' cannot be changed on a group`);
        if (/^members$/i.test(p) && o === "replace") awsFail("Replacing all members is not supported");
        if (!op?.path && o === "replace" && op.value && Object.keys(op.value).some(k => k.toLowerCase() === "members")) awsFail("Replacing all members is not supported");
        for (const k of !op?.path && op?.value && typeof op.value === "object" ? Object.keys(op.value) : [])
          if (!["id", "displayname", "members", "externalid"].includes(k.toLowerCase())) awsFail(`Attribute '${k}' cannot be changed on a group`);
        if (/^members$/i.test(p) && o === "remove" && !(Array.isArray(op.value) && op.value.length)) awsFail("Removing all members is not supported; name the members to remove");
      }
      const changes = ops.reduce((a, op) => a + memberChanges(op ?? {}), 0);
      if (changes > AWS_MAX_MEMBER_CHANGES) awsFail(`${changes} membership changes in one request; at most ${AWS_MAX_MEMBER_CHANGES} are allowed`);
    }
  }
  if (/^users$/i.test(kind ?? "") && (req.method === "POST" || req.method === "PUT")) {
    for (const k of Object.keys(body))
      if (["groups", "password", "ims", "photos", "x509certificates", "entitlements"].includes(k.toLowerCase())) awsFail(`Attribute '${k}' is not supported`);
  }
  if (/^users$/i.test(kind ?? "") && req.method === "PATCH") {
    const ops = Array.isArray(body.Operations) ? body.Operations : [];
    const touched = { username: 0, active: 0 };
    for (const op of ops) {
      const o = String(op?.op ?? "").toLowerCase();
      const paths = op?.path ? [op.path] : Object.keys(op?.value ?? {});
      if (o === "remove" && !op?.path) awsFail("'path' is required for remove");
      if ((o === "add" || o === "replace") && op?.value === undefined) awsFail(`'value' is required for ${o}`);
      for (const p of paths) {
        const root = pathRoot(p);
        if (!AWS_USER_PATCHABLE.has(root)) awsFail(`Attribute '${p}' cannot be changed`);
        if (root in touched) { touched[root]++; if (o === "remove") awsFail(`Attribute '${p}' cannot be removed`); }
        const filt = /\[(.*)\]/.exec(p)?.[1];
        if (filt && !/^\s*[\w.]+\s+eq\s+"[^"]*"\s*$/i.test(filt)) awsFail(`Only 'eq' filters are supported in paths ('${p}')`);
      }
    }
    if (touched.username > 1 || touched.active > 1) awsFail("At most one operation on 'userName' and on 'active' per request");
  }
  // AWS's 409 body: no scimType, a duplicated "schema" key (identity-store.md §2.5)
  const send = res.send.bind(res);
  res.send = (b) => res.statusCode === 409 && b && typeof b === "object"
    ? send({ schema: [SCIM_ERROR], schemas: [SCIM_ERROR], detail: "Refused to create a new, duplicate resource.", status: "409",
             exceptionRequestId: crypto.randomUUID(), timeStamp: new Date().toUTCString(), peerDetail: plain(b).detail })
    : send(b);
  next();
}));

// GET /Users and /Groups lists: filtering by index, paging (startIndex/count; aws: 50-item cap and cursors).
const listRoute = (kind) => wrap((req, res) => {
  const Res = kind === "Users" ? SCIMMY.Resources.User : SCIMMY.Resources.Group;
  const q = req.query;
  const parsed = new Res({ ...(q.filter !== undefined ? { filter: String(q.filter) } : {}),
    ...(!AWS && q.attributes ? { attributes: String(q.attributes) } : {}), ...(!AWS && q.excludedAttributes ? { excludedAttributes: String(q.excludedAttributes) } : {}) });
  let recs = find(kind, parsed.filter);
  if (!AWS && q.sortBy) recs = sortRecords(recs, kind === "Users" ? userView : groupView, String(q.sortBy), q.sortOrder);
  const intParam = (name) => {
    if (q[name] === undefined) return undefined;
    const n = Number(q[name]);
    if (!Number.isInteger(n)) throw scimErr(400, "invalidValue", `'${name}' must be an integer`);
    return n;
  };
  let count = intParam("count"), startIndex = intParam("startIndex");
  const total = recs.length;
  let nextCursor, cursorMode = false;
  if (AWS) {
    if (count !== undefined && (count < 1 || count > 100)) throw scimErr(400, "invalidValue", `${AWS_UNPARSABLE} 'count' must be between 1 and 100`);
    count = Math.min(count ?? AWS_PAGE_MAX, AWS_PAGE_MAX);
    cursorMode = q.cursor !== undefined && AWS_PAGING !== "truncate";
    if (cursorMode && startIndex !== undefined) throw scimErr(400, "invalidValue", `${AWS_UNPARSABLE} 'cursor' and 'startIndex' cannot be combined`);
    if (cursorMode || AWS_PAGING === "cursor") {
      let after = 0;
      if (q.cursor) {
        after = Number(Buffer.from(String(q.cursor), "base64url").toString());
        if (!Number.isInteger(after) || after < 0) throw scimErr(400, "invalidCursor", `${AWS_UNPARSABLE} Invalid cursor`);
      }
      const rest = after ? recs.filter(r => seqOf.get(r.id) > after) : recs;
      recs = rest.slice(0, count);
      if (rest.length > count) nextCursor = Buffer.from(String(seqOf.get(recs[recs.length - 1].id))).toString("base64url");
      startIndex = 1;
      cursorMode = true;
    } else {
      startIndex = AWS_PAGING === "truncate" ? 1 : Math.max(startIndex ?? 1, 1);
      recs = recs.slice(startIndex - 1, startIndex - 1 + count);
    }
  } else {
    count = Math.min(Math.max(count ?? RFC_DEFAULT_COUNT, 0), RFC_MAX_COUNT);
    startIndex = Math.max(startIndex ?? 1, 1);
    recs = recs.slice(startIndex - 1, startIndex - 1 + count);
  }
  const base = baseOf(req);
  const out = recs.map(r => kind === "Users" ? plain(new SCIMMY.Schemas.User(userView(r), "out", `${base}/Users`, parsed.attributes))
                                              : groupOut(r, base, AWS ? {} : q));
  res.send({ schemas: ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], totalResults: total, itemsPerPage: out.length,
             ...(cursorMode ? {} : { startIndex }), ...(nextCursor ? { nextCursor } : {}), Resources: out });
});
scim.get(/^\/Users\/?$/i, listRoute("Users"));
scim.get(/^\/Groups\/?$/i, listRoute("Groups"));

// PATCH /Groups/{id} touching only members (add/remove with value arrays, remove by members[value eq "x"]):
// applied in O(changes) instead of scimmy's rewrite of the whole group. Anything else goes to scimmy.
scim.patch(/^\/Groups\/([^/]+)\/?$/i, wrap((req, res, next) => {
  const ops = req.body?.Operations;
  if (!Array.isArray(ops) || !ops.length) return next();
  const adds = [], removes = [];
  for (const op of ops) {
    const o = String(op?.op ?? "").toLowerCase(), p = String(op?.path ?? "");
    const byFilter = /^members\[\s*value\s+eq\s+"([^"]*)"\s*\]$/i.exec(p);
    if (o === "remove" && byFilter && op.value === undefined) { removes.push(byFilter[1]); continue; }
    if (!/^members$/i.test(p) || !["add", "remove"].includes(o) || !Array.isArray(op.value) || !op.value.length
        || !op.value.every(m => m && typeof m.value === "string")) return next();
    (o === "add" ? adds : removes).push(...op.value.map(m => m.value));
  }
  const id = req.params[0];
  const changed = changeMembers(id, adds, removes, {});
  if (AWS || !changed) return res.status(204).end();             // AWS's PatchGroup answers 204 (§2.2)
  res.send(groupOut(groups.get(id), baseOf(req), req.query));
}));
scim.get(/^\/Groups\/([^/]+)\/?$/i, wrap((req, res) => {
  const g = groups.get(req.params[0]);
  if (!g) throw notFound(req.params[0]);
  res.send(groupOut(g, baseOf(req), AWS ? {} : req.query));
}));
if (AWS) scim.patch(/^\/Groups\/[^/]+\/?$/i, (req, res, next) => {   // AWS answers PatchGroup with 204, no body
  const status = res.status.bind(res);
  res.status = (s) => status(s === 200 ? 204 : s);
  next();
});

scim.use(new SCIMMYRouters({ type: "bearer", handler: () => "scim-client", baseUri: (req) => `http://${req.headers.host}` }));
// ServiceProviderConfig: what this peer really does (the routers claim bulk and sort for every server).
SCIMMY.Config.set(AWS ? { bulk: false, sort: false, filter: AWS_PAGE_MAX, etag: false, changePassword: false }
                      : { filter: RFC_MAX_COUNT, etag: false, changePassword: false });
scim.use((ex, req, res, next) => {                                // errors from our own middleware
  if (res.headersSent) return next(ex);
  if (ex?.type === "entity.parse.failed") return scimError(res, 400, `Invalid JSON: ${ex.message}`, "invalidSyntax");
  if (!(ex instanceof SCIMMY.Types.Error) && ex?.status === undefined) console.error("scim-peer:", ex);
  sendEx(res, ex);
});
app.use("/scim/v2", scim);
app.use((req, res) => scimError(res, 404, `No such endpoint: ${req.method} ${req.path}`));

const HOST = "127.0.0.1";
const srv = app.listen(num("PORT", 0), HOST, () => {
  const { port } = srv.address();
  console.log(`SCIM_PEER_URL=http://${HOST}:${port}/scim/v2`);
  console.log(`SCIM_PEER_CONTROL_URL=http://${HOST}:${port}/_control`);
  console.log(`scim-peer: profile ${PROFILE}, faults ${JSON.stringify(faults)}`);
});
srv.keepAliveTimeout = 30_000;
for (const s of ["SIGINT", "SIGTERM"]) process.on(s, () => process.exit(0));   // in-memory: nothing to flush
