// Load generator for the SCIM test peer: POST users, POST groups, PATCH memberships in chunks of 100,
// then a few indexed lookups; reports throughput and latency per phase.
// Usage: node load.mjs <base URL or file holding it> [users=10000] [groups=1000] [memberships=20000] [concurrency=8]
// Env: SCIM_TOKEN (default test-token).
import fs from "node:fs";
import http from "node:http";

const [arg, nUsers = 10000, nGroups = 1000, nMembers = 20000, conc = 8] = process.argv.slice(2).map((a, i) => i ? Number(a) : a);
if (!arg) { console.error("usage: node load.mjs <base URL | file> [users] [groups] [memberships] [concurrency]"); process.exit(2); }
const base = new URL((fs.existsSync(arg) ? fs.readFileSync(arg, "utf8") : arg).trim().replace(/\/?$/, "/"));
const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
const headers = { authorization: `Bearer ${process.env.SCIM_TOKEN ?? "test-token"}`, "content-type": "application/scim+json" };
const run = Date.now().toString(36);

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const r = http.request(new URL(path, base), { method, agent, headers: data ? { ...headers, "content-length": Buffer.byteLength(data) } : headers }, (res) => {
      let s = ""; res.setEncoding("utf8"); res.on("data", c => s += c);
      res.on("end", () => resolve({ status: res.statusCode, body: s ? JSON.parse(s) : undefined }));
    });
    r.on("error", reject); r.end(data);
  });
}
async function phase(name, items, fn) {
  const lat = []; let i = 0, bad = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: conc }, async () => {
    while (i < items.length) {
      const item = items[i++]; const t = process.hrtime.bigint();
      const res = await fn(item);
      lat.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (res.status >= 300) { if (bad++ < 3) console.error(`${name}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`); }
    }
  }));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  lat.sort((a, b) => a - b);
  const pct = (p) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))]?.toFixed(1);
  console.log(`${name}: ${items.length} requests in ${secs.toFixed(2)} s = ${(items.length / secs).toFixed(0)}/s, p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, failed ${bad}`);
}

const users = [], groups = [];
await phase("POST /Users", [...Array(nUsers).keys()], async (i) => {
  const res = await call("POST", "Users", {
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: `load-${run}-${i}`, externalId: `ext-${run}-${i}`,
    displayName: `Load User ${i}`, name: { givenName: "Load", familyName: `User${i}` },
    emails: [{ value: `load-${run}-${i}@example.test`, type: "work", primary: true }] });
  if (res.status === 201) users.push(res.body.id);
  return res;
});
if (nGroups) await phase("POST /Groups", [...Array(nGroups).keys()], async (i) => {
  const res = await call("POST", "Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: `load-${run}-g${i}`, externalId: `gext-${run}-${i}` });
  if (res.status === 201) groups.push(res.body.id);
  return res;
});
if (nGroups && nMembers && users.length) {
  // memberships spread over the groups: group g gets users g*k .. ; chunks of 100 per PATCH
  const per = Math.ceil(nMembers / groups.length), patches = [];
  groups.forEach((g, gi) => {
    const ids = Array.from({ length: per }, (_, k) => users[(gi * per + k) % users.length]);
    for (let o = 0; o < ids.length; o += 100) patches.push([g, ids.slice(o, o + 100)]);
  });
  await phase(`PATCH /Groups (${per} members each, <=100 per request)`, patches, ([g, ids]) => call("PATCH", `Groups/${g}`,
    { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "add", path: "members", value: ids.map(value => ({ value })) }] }));
  await phase("GET /Groups?filter=id eq and members.value eq", groups.slice(0, 1000), (g) =>
    call("GET", `Groups?filter=${encodeURIComponent(`id eq "${g}" and members.value eq "${users[0]}"`)}`));
}
await phase("GET /Users?filter=userName eq", users.slice(0, 2000).map((_, i) => i), (i) =>
  call("GET", `Users?filter=${encodeURIComponent(`userName eq "LOAD-${run}-${i}"`)}`));
await phase("GET /Users?filter=externalId eq", users.slice(0, 2000).map((_, i) => i), (i) =>
  call("GET", `Users?filter=${encodeURIComponent(`externalId eq "ext-${run}-${i}"`)}`));
agent.destroy();
