// The shopper page: finds the shopper's token, keeps the play part current through the JSON API
// (ETag + wait polls), sends actions with an Idempotency-Key and heartbeats. The play part is
// rendered by the server; this script only wires [data-action], [data-share] and forms to it.
import { createClient } from "./client/client.js";

const config = JSON.parse(document.getElementById("mc-config").textContent);
const S = config.strings;
const play = document.getElementById("mc-play");
const toastBox = document.getElementById("mc-toast");
const live = document.getElementById("mc-live"); // read out by screen readers, always present
const dialog = document.getElementById("mc-dialog");
const activity = config.activity;
const store = safeStorage();
let offset = config.now - Date.now() / 1000; // server clock minus ours, in seconds
let busy = false; // or the name of the action under way
// Play parts may answer out of order: show the newest, none asked before the last action ended.
let asked = 0;
let shown = 0;
// An action with no definite answer (the network failed): tapped again, it is sent with the same
// Idempotency-Key, so that it tells what happened instead of acting a second time.
let unsettled = null;

// Identity: a token handed over in the URL fragment or by the host page, or a guest token.
const tokenKey = `mc.token.${activity}`;
const viaKey = `mc.via.${activity}`;
const saidKey = `mc.said.${activity}`;
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("token")) {
  store.set(tokenKey, fragment.get("token"));
  history.replaceState(null, "", location.pathname + location.search);
}
// The first share link that brought this device here wins, whatever is browsed afterwards.
const query = new URLSearchParams(location.search);
if (query.get("via")) {
  if (!store.get(viaKey)) store.set(viaKey, query.get("via"));
  query.delete("via");
  const rest = query.toString();
  history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : ""));
}

const client = createClient({
  baseUrl: config.api,
  lang: config.lang,
  getToken: async () => store.get(tokenKey),
});

window.addEventListener("message", (event) => {
  const data = event.data;
  if (!config.preview && data && data.type === "magic-cube:token" && typeof data.token === "string") {
    store.set(tokenKey, data.token);
    start();
  }
});
if (window.parent !== window) window.parent.postMessage({ type: "magic-cube:ready", activity }, "*");

// Rendering

// `force`: shown even while an action is under way (its retries: the state may have moved).
async function refresh(force = false) {
  const n = ++asked;
  const url = new URL(config.part, location.href);
  if (config.room) url.searchParams.set("room", config.room);
  url.searchParams.set("lang", config.lang);
  const token = store.get(tokenKey);
  try {
    // The device too: the part disables what a limit per device would refuse.
    const headers = token ? { Authorization: `Bearer ${token}`, "Magic-Cube-Device": client.deviceId() } : {};
    const res = await fetch(url, { headers });
    if (!res.ok) return;
    const server = Number(res.headers.get("X-Server-Time"));
    if (server) offset = server - Date.now() / 1000;
    showStatus(res.headers.get("X-Activity-Status"));
    const html = await res.text();
    if ((force || !busy) && n > shown) {
      shown = n;
      play.innerHTML = html;
      // Still under way: its control, drawn again, stays marked busy.
      const again = busy && play.querySelector(`[data-action="${busy}"]`);
      if (again) again.setAttribute("aria-busy", "true");
      tick();
    }
  } catch (_) { /* the next change or tick tries again */ }
}

function pad(n) { return String(n).padStart(2, "0"); }

function tick() {
  const now = Date.now() / 1000 + offset;
  for (const el of play.querySelectorAll("[data-countdown]")) {
    const left = Math.floor(Number(el.dataset.countdown) - now);
    if (left <= 0) {
      el.textContent = "00:00:00";
      if (!el.dataset.over) { el.dataset.over = "1"; setTimeout(refresh, 1500); }
      continue;
    }
    const d = Math.floor(left / 86400);
    const hms = `${pad(Math.floor(left % 86400 / 3600))}:${pad(Math.floor(left % 3600 / 60))}:${pad(left % 60)}`;
    el.textContent = d ? `${d}${S.days} ${hms}` : hms;
  }
}
setInterval(tick, 1000);
tick();

function toast(text, kind = "info") {
  toastBox.textContent = text;
  toastBox.className = `mc-toast mc-toast-${kind}`;
  toastBox.hidden = false;
  live.textContent = "";
  setTimeout(() => { live.textContent = text; }, 50); // changed, so said again if the same
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { toastBox.hidden = true; }, 3500);
}

function fill(template, values) {
  return template.replace(/\{(\w+)(\|money)?\}/g, (_, key, money) => {
    const v = values[key];
    if (v == null) return "";
    return money && Number.isInteger(v) ? formatMoney(v) : String(v);
  });
}

// What a failure says: a refusal from the server comes in the page's language; the client's own
// failures (no answer: network_error, action_unsettled, http_502 …) carry technical English.
function said(err) {
  const code = (err && err.code) || "";
  if (code === "network_error" || code === "action_unsettled") return S.offline;
  if (!code || code === "token_unavailable" || code.startsWith("http_")) return S.failed;
  return err.message || S.failed;
}

function formatMoney(fen) {
  const sign = fen < 0 ? "-" : "";
  const abs = Math.abs(fen);
  return `${sign}¥${Math.floor(abs / 100).toLocaleString("en")}.${pad(abs % 100)}`;
}

// Identity prompts

function askNickname() {
  return new Promise((resolve) => {
    dialog.innerHTML = "";
    const form = document.createElement("form");
    form.method = "dialog";
    form.className = "mc-form";
    form.innerHTML = `<h2></h2><label class="mc-field"><span></span><input name="nickname" maxlength="20" required autocomplete="nickname"></label>
      <div class="mc-actions"><button class="mc-btn mc-btn-primary" value="ok"></button><button class="mc-btn mc-btn-plain" value="cancel" formnovalidate></button></div>`;
    form.querySelector("h2").textContent = S.guest_title;
    form.querySelector("span").textContent = S.nickname;
    form.querySelector("[value=ok]").textContent = S.join;
    form.querySelector("[value=cancel]").textContent = S.close;
    dialog.append(form);
    dialog.onclose = () => {
      const name = form.nickname.value.trim();
      resolve(dialog.returnValue === "ok" && name ? name : null);
    };
    dialog.showModal();
  });
}

async function ensureToken() {
  if (store.get(tokenKey)) return true;
  if (!config.guests) { toast(S.sign_in, "warn"); return false; }
  const nickname = await askNickname();
  if (!nickname) return false;
  try {
    const guest = await client.guest(activity, nickname);
    store.set(tokenKey, guest.token);
    start();
    return true;
  } catch (err) {
    toast(said(err), "error");
    return false;
  }
}

// Actions

function animate(kind) {
  if (kind !== "prizes") return { stop: async () => {} };
  const cells = [...play.querySelectorAll("[data-prize-index]")];
  let i = 0;
  const spin = setInterval(() => {
    cells.forEach((c) => c.classList.remove("is-lit"));
    cells[i++ % cells.length].classList.add("is-lit");
  }, 90);
  const started = Date.now();
  return {
    stop: async (index, land = true) => {
      if (land) await new Promise((r) => setTimeout(r, Math.max(0, 1200 - (Date.now() - started))));
      clearInterval(spin);
      cells.forEach((c) => c.classList.remove("is-lit"));
      if (!land) return; // refused or unanswered: no cell was drawn
      const landed = cells.find((c) => c.dataset.prizeIndex === String(index ?? -1));
      if (landed) landed.classList.add("is-lit", "is-won");
      await new Promise((r) => setTimeout(r, 900));
    },
  };
}

// A challenge is solved unseen; only a slow one (an old phone) says why the button waits.
function challengeNote() {
  let timer;
  return (info) => {
    if (info.state === "solved") clearTimeout(timer);
    else timer = timer || setTimeout(() => toast(S.checking), 300);
  };
}

async function perform(el, params) {
  if (busy || !(await ensureToken())) return;
  const name = el.dataset.action;
  const room = el.dataset.room || undefined;
  const via = store.get(viaKey) || undefined;
  const what = JSON.stringify([name, room, params]);
  const idempotencyKey = unsettled && unsettled.what === what ? unsettled.key : undefined;
  busy = name;
  el.setAttribute("aria-busy", "true");
  const spinner = animate(el.dataset.animate);
  try {
    const answer = await client.act(activity, name, { room, params, via, idempotencyKey,
      onRetry: () => {
        toast(S.retrying, "warn");
        if (!el.dataset.animate) refresh(true); // a spin keeps its cells until it lands
      }, onChallenge: challengeNote() });
    unsettled = null;
    const r = answer.result || {};
    await spinner.stop(r.index);
    const text = fill((r.hit === false && el.dataset.missed) || el.dataset.done || S.done, r);
    toast(text, "ok");
    if (answer.room && answer.room !== config.room) {
      store.session(saidKey, text); // said again on the room's page, where it leads
      location.href = `${location.pathname.replace(/\/r\/[^/]+$/, "")}/r/${encodeURIComponent(answer.room)}`;
      return;
    }
  } catch (err) {
    await spinner.stop(null, false);
    unsettled = err.code === "action_unsettled" ? { what, key: err.idempotencyKey } : null;
    toast(said(err), "error");
    // Refused, nothing changed: keep what a form holds, unless a change came in.
    if (asked === shown) return;
  } finally {
    busy = false;
    for (const b of [el, ...play.querySelectorAll("[aria-busy]")]) b.removeAttribute("aria-busy");
  }
  shown = asked;
  refresh();
}

function paramsOf(form) {
  const params = {};
  for (const input of form.querySelectorAll("[name]")) {
    const type = input.dataset.type;
    if (type === "boolean") { params[input.name] = input.checked; continue; }
    const raw = input.value.trim();
    if (raw === "") continue;
    if (type === "integer") params[input.name] = Number.parseInt(raw, 10);
    else if (type === "number") params[input.name] = Number(raw);
    else if (type === "money") params[input.name] = Math.round(Number(raw) * 100);
    else params[input.name] = raw;
  }
  return params;
}

async function shareLink(el) {
  if (!(await ensureToken())) return;
  try {
    const { url } = await client.share(activity, { room: el.dataset.room || undefined });
    if (navigator.share) {
      try { await navigator.share({ title: document.title, url }); return; } catch (_) { /* fall through */ }
    }
    dialog.innerHTML = "";
    const box = document.createElement("form");
    box.method = "dialog";
    box.className = "mc-form";
    box.innerHTML = `<h2></h2><label class="mc-field"><span></span><input class="mc-share-url" readonly></label><div class="mc-actions"><button class="mc-btn mc-btn-primary" value="ok"></button></div>`;
    const title = box.querySelector("h2");
    title.textContent = S.share_title;
    box.querySelector("span").textContent = S.link;
    box.querySelector("input").value = url;
    box.querySelector("button").textContent = S.close;
    dialog.append(box);
    dialog.showModal();
    box.querySelector("input").select();
    // In the dialog: a toast would be under its backdrop.
    if (navigator.clipboard) navigator.clipboard.writeText(url).then(() => { title.textContent = S.copied; }, () => {});
  } catch (err) {
    toast(said(err), "error");
  }
}

play.addEventListener("click", (event) => {
  const share = event.target.closest("[data-share]");
  if (share) { event.preventDefault(); shareLink(share); return; }
  const button = event.target.closest("button[data-action]");
  if (button && !button.disabled) { event.preventDefault(); perform(button, {}); }
});
play.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-action]");
  if (!form) return;
  event.preventDefault();
  perform(form, paramsOf(form));
});

// Live updates

let watchers = [];
let heartbeats = null;

function start() {
  watchers.forEach((stop) => stop());
  if (heartbeats) heartbeats();
  const signedIn = Boolean(store.get(tokenKey));
  const paths = [`/v1/activities/${activity}`];
  if (signedIn) {
    paths.push(`/v1/activities/${activity}/me`);
    if (config.room) paths.push(`/v1/activities/${activity}/rooms/${config.room}`);
  }
  // Each watcher's first answer is the state already shown; later answers are changes.
  watchers = paths.map((path) => {
    let seen = false;
    return client.watch(path, () => { if (seen) refresh(); seen = true; }, { wait: 25 });
  });
  if (signedIn && config.status === "live") heartbeats = client.startHeartbeats(activity, config.heartbeat * 1000);
  // "ready": the page shows this shopper's own state (a host page or a test may wait for it).
  (signedIn ? refresh() : Promise.resolve()).then(() => { document.documentElement.dataset.mcReady = "1"; });
}

// Started, paused or ended while open: the banner and the heartbeats follow.
function showStatus(status) {
  if (!status || status === config.status) return;
  config.status = status;
  document.body.className = `mc-status-${status}`;
  const banner = document.getElementById("mc-banner");
  if (banner) { banner.textContent = config.banners[status] || ""; banner.hidden = status === "live"; }
  if (heartbeats) heartbeats();
  heartbeats = status === "live" && store.get(tokenKey) ? client.startHeartbeats(activity, config.heartbeat * 1000) : null;
}

function safeStorage() {
  const memory = new Map();
  let local = null;
  try { local = window.localStorage; local.setItem("mc.test", "1"); local.removeItem("mc.test"); } catch (_) { local = null; }
  return {
    get: (k) => (local ? local.getItem(k) : memory.get(k)) || null,
    set: (k, v) => (local ? local.setItem(k, v) : memory.set(k, v)),
    // Kept for the next page of this tab only: read once.
    session: (k, v) => { try { sessionStorage.setItem(k, v); } catch (_) { /* not said again */ } },
    take: (k) => {
      try { const v = sessionStorage.getItem(k); sessionStorage.removeItem(k); return v; } catch (_) { return null; }
    },
  };
}

if (config.preview) {
  document.documentElement.dataset.mcReady = "1"; // inert: no identity, no polls, no actions
} else {
  start();
  const said = store.take(saidKey);
  if (said) toast(said, "ok");
}
