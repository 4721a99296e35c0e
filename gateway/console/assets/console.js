// The Runnel console: a plain ES module over the @runnel/client SDK,
// served by the gateway at /console (same origin, so no CORS and the
// WebSocket's Origin is the gateway's own).
import { Runnel } from "/console/runnel-client.js";

const tokenKey = "runnel.console.token";
const refreshMs = 3000;
const tailRows = 200;

const $ = (id) => document.getElementById(id);

let client = null;
let refreshTimer = null;
let tail = null;
let tailCount = 0;

// el builds an element; text is set with textContent, never as HTML.
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) tr.append(c instanceof Node ? c : el("td", c));
  return tr;
}

function num(n) {
  return el("td", n, "num");
}

function message(err) {
  if (err && err.code) return `${err.message} (${err.code})`;
  return err instanceof Error ? err.message : String(err);
}

function setState(node, state) {
  node.textContent = state;
  node.dataset.state = state;
}

function showError(err) {
  $("error").textContent = err ? message(err) : "";
}

// isAuthError: the token itself was refused; log out instead of retrying.
function isAuthError(err) {
  return err && err.status === 401;
}

async function login(token) {
  const c = new Runnel({ url: location.origin, token });
  try {
    await c.topics.list(); // checks the token: a 401 refuses the login
  } catch (err) {
    // A token without the admin permission (403) may still publish and
    // tail the topics it is allowed; the page says what it cannot list.
    if (err?.status !== 403) throw err;
  }
  client = c;
  sessionStorage.setItem(tokenKey, token);
  client.on("state", ({ newState }) => setState($("conn"), newState));
  client.on("disconnected", ({ error }) => {
    if (error) showError(error);
  });
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("logout").hidden = false;
  await refresh();
  refreshTimer = setInterval(refresh, refreshMs);
}

function logout() {
  sessionStorage.removeItem(tokenKey);
  clearInterval(refreshTimer);
  stopTail();
  client?.disconnect();
  client = null;
  setState($("conn"), "disconnected");
  // Nothing read with this token stays on the page for the next one.
  for (const id of ["topics", "groups", "tail", "topic-names"]) $(id).replaceChildren();
  for (const id of ["error", "create-result", "publish-result", "tail-count"]) $(id).textContent = "";
  $("app-view").hidden = true;
  $("logout").hidden = true;
  $("login-view").hidden = false;
}

async function refresh() {
  const c = client;
  if (!c) return;
  try {
    const topics = await c.topics.list();
    const groups = await groupsWithLag(c);
    if (client !== c) return; // logged out meanwhile
    renderTopics(topics);
    renderGroups(groups);
    showError(null);
  } catch (err) {
    if (client !== c) return;
    if (isAuthError(err)) {
      logout();
      $("login-error").textContent = message(err);
      return;
    }
    showError(err);
  }
}

function renderTopics(topics) {
  topics.sort((a, b) => a.name.localeCompare(b.name));
  const body = $("topics");
  const names = $("topic-names");
  body.replaceChildren();
  names.replaceChildren();
  for (const t of topics) {
    const starts = t.partitions.map((p) => `${p.id}: ${p.log_start_offset}`).join(", ");
    const hws = t.partitions.map((p) => `${p.id}: ${p.high_watermark}`).join(", ");
    const events = t.partitions.reduce((n, p) => n + (p.high_watermark - p.log_start_offset), 0);
    const tailBtn = el("button", "Tail");
    tailBtn.type = "button";
    tailBtn.addEventListener("click", () => {
      $("tail-topic").value = t.name;
      startTail();
    });
    const action = el("td");
    action.append(tailBtn);
    const tr = row([el("td", t.name), num(t.partitions.length), el("td", starts, "num"), el("td", hws, "num"), num(events), action]);
    tr.dataset.topic = t.name;
    body.append(tr);
    const opt = document.createElement("option");
    opt.value = t.name;
    names.append(opt);
  }
  if (topics.length === 0) body.append(row([el("td", "No topics yet: create one below.")]));
}

// groupsWithLag describes each group (at most 50) for its lag.
async function groupsWithLag(c) {
  const list = (await c.groups.list()).slice(0, 50);
  return Promise.all(list.map((g) => c.groups.get(g.name).catch((err) => ({ ...g, failed: err }))));
}

function renderGroups(groups) {
  const body = $("groups");
  body.replaceChildren();
  for (const g of groups) {
    if (g.failed) {
      body.append(row([el("td", g.name), el("td", g.state), el("td", ""), el("td", message(g.failed), "error"), el("td", "")]));
      continue;
    }
    const lags = g.offsets.map((o) => `${o.topic}/${o.partition}: ${o.lag}`).join(", ");
    body.append(row([el("td", g.name), el("td", g.state), num(g.members.length), el("td", lags, "num"), num(g.total_lag)]));
  }
  if (groups.length === 0) body.append(row([el("td", "No consumer groups.")]));
}

async function createTopic(ev) {
  ev.preventDefault();
  const out = $("create-result");
  const name = $("create-name").value.trim();
  try {
    const t = await client.topics.create({ name, partitions: Number($("create-partitions").value) });
    out.textContent = `created ${t.name} (${t.partitions.length} partitions)`;
    out.className = "";
    $("create-name").value = "";
    await refresh();
  } catch (err) {
    out.textContent = message(err);
    out.className = "error";
  }
}

async function publish(ev) {
  ev.preventDefault();
  const out = $("publish-result");
  let value;
  try {
    value = JSON.parse($("publish-value").value);
  } catch (err) {
    out.textContent = `the value is not JSON: ${err.message}`;
    out.className = "error";
    return;
  }
  const key = $("publish-key").value;
  try {
    const r = await client.publish($("publish-topic").value.trim(), key ? { key, value } : { value });
    out.textContent = `partition ${r.partition}, offset ${r.offset}`;
    out.className = "";
    await refresh();
  } catch (err) {
    out.textContent = message(err);
    out.className = "error";
  }
}

function showEvent(e) {
  tailCount++;
  $("tail-count").textContent = `${tailCount} events`;
  const value = e.value_b64 !== undefined ? `base64: ${e.value_b64}` : JSON.stringify(e.value);
  const key = e.key_b64 !== undefined ? `base64: ${e.key_b64}` : e.key ?? "";
  const tr = row([num(e.partition), num(e.offset), el("td", new Date(e.timestamp).toISOString()), el("td", key), el("td", value, "value")]);
  tr.className = "fresh";
  const body = $("tail");
  body.prepend(tr);
  while (body.rows.length > tailRows) body.deleteRow(body.rows.length - 1);
}

function startTail(ev) {
  ev?.preventDefault();
  stopTail();
  const topic = $("tail-topic").value.trim();
  if (!topic) return;
  tailCount = 0;
  $("tail").replaceChildren();
  $("tail-count").textContent = "0 events";
  tail = client.subscribe(topic, { from: $("tail-from").value }, showEvent);
  setState($("tail-state"), tail.state);
  tail.on("state", ({ newState }) => setState($("tail-state"), newState));
  tail.on("error", ({ error, final }) => {
    if (final) showError(error);
  });
  tail.on("topic_changed", () => showError(new Error(`topic ${topic} was deleted and created again; start the tail again`)));
  $("tail-stop").disabled = false;
}

function stopTail() {
  if (tail) tail.unsubscribe();
  tail = null;
  $("tail-stop").disabled = true;
  $("tail-state").textContent = "";
}

function main() {
  $("login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    try {
      await login($("token").value.trim());
    } catch (err) {
      $("login-error").textContent = message(err);
    }
  });
  $("logout").addEventListener("click", logout);
  $("refresh").addEventListener("click", refresh);
  $("create").addEventListener("submit", createTopic);
  $("publish").addEventListener("submit", publish);
  $("tail-form").addEventListener("submit", startTail);
  $("tail-stop").addEventListener("click", stopTail);
  const saved = sessionStorage.getItem(tokenKey);
  if (saved) {
    login(saved).catch((err) => {
      sessionStorage.removeItem(tokenKey);
      $("login-error").textContent = message(err);
    });
  }
}

main();
