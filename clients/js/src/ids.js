// Random ids: idempotency keys and a stable device id.

const DEVICE_KEY = "magic-cube.device-id";
/** What the server accepts as `Magic-Cube-Device` (a UUID fits). */
export const DEVICE_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

function randomBytes(count) {
  const bytes = new Uint8Array(count);
  const c = typeof crypto !== "undefined" ? crypto : null;
  if (c && typeof c.getRandomValues === "function") {
    c.getRandomValues(bytes);
  } else {
    // Mini-programs have no Web Crypto; uniqueness, not secrecy, is what these ids need.
    for (let i = 0; i < count; i += 1) bytes[i] = Math.floor(Math.random() * 256);
  }
  return bytes;
}

/** A random UUID (v4). crypto.randomUUID exists only in secure contexts, hence the fallback. */
export function randomId() {
  const c = typeof crypto !== "undefined" ? crypto : null;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  const b = randomBytes(16);
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)]
    .join("-");
}

export function memoryStorage() {
  const items = {};
  return { getItem: (key) => items[key] || null, setItem: (key, value) => { items[key] = value; } };
}

/** `{getItem, setItem}` on wx storage or localStorage, or null where there is neither. */
export function defaultStorage() {
  if (typeof wx !== "undefined" && wx && typeof wx.getStorageSync === "function") {
    return {
      getItem: (key) => wx.getStorageSync(key) || null, // "" when absent
      setItem: (key, value) => wx.setStorageSync(key, value),
    };
  }
  try {
    if (typeof localStorage !== "undefined" && localStorage) return localStorage;
  } catch (err) {
    // Reading `localStorage` itself throws where storage is blocked (sandboxed frames).
  }
  return null;
}

function defaultStore() {
  const storage = defaultStorage();
  return storage && {
    get: () => storage.getItem(DEVICE_KEY),
    set: (v) => storage.setItem(DEVICE_KEY, v),
  };
}

let memoryDeviceId = null;

/**
 * A random id for this device, kept in wx storage or localStorage so that it survives reloads;
 * without storage, one id per page load. `store` ({get(), set(value)}) replaces the default.
 */
export function deviceId({ store = defaultStore() } = {}) {
  try {
    const kept = store && store.get();
    if (kept && DEVICE_PATTERN.test(String(kept))) return String(kept);
  } catch (err) {
    // Storage that fails (quota, private mode) falls back to memory below.
  }
  const id = memoryDeviceId || randomId();
  memoryDeviceId = id;
  try {
    if (store) store.set(id);
  } catch (err) {
    // Kept in memory only.
  }
  return id;
}
