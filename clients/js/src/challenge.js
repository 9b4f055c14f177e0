// Proof-of-work challenges (ALTCHA). Plain-JS SHA-256: no WebCrypto in mini-programs or on
// http pages, and it is far faster than an awaited digest per try.

export const CHALLENGE_HEADER = "Magic-Cube-Challenge";

const BATCH = 2000; // tries between two breaths of the page
// Fractions of the square (H) and cube (K) roots of the first primes.
const K = new Int32Array(64);
const H = new Int32Array(8);
for (let p = 2, n = 0; n < 64; p += 1) {
  let prime = true;
  for (let d = 2; d * d <= p; d += 1) if (p % d === 0) prime = false;
  if (!prime) continue;
  if (n < 8) H[n] = (Math.sqrt(p) % 1) * 2 ** 32;
  K[n] = (Math.cbrt(p) % 1) * 2 ** 32;
  n += 1;
}
const w = new Int32Array(64);
const rotr = (x, n) => (x >>> n) | (x << (32 - n));

function compress(h, bytes, at) {
  for (let i = 0; i < 64; i += 1) {
    if (i < 16) {
      const j = at + 4 * i;
      w[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
    } else {
      const x = w[i - 15];
      const y = w[i - 2];
      w[i] = (w[i - 16] + (rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3)) + w[i - 7]
        + (rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10))) | 0;
    }
  }
  let a = h[0]; let b = h[1]; let c = h[2]; let d = h[3]; // not destructured: faster
  let e = h[4]; let f = h[5]; let g = h[6]; let k = h[7];
  for (let i = 0; i < 64; i += 1) {
    const t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i]
      + w[i]) | 0;
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

const ascii = (text) => Uint8Array.from(text, (ch) => ch.charCodeAt(0) & 0xff);

/** `hash(suffix)`: SHA-256 of ASCII `prefix + suffix` as 8 words, the prefix's blocks once. */
export function prefixHasher(prefix) {
  const head = ascii(prefix);
  const whole = head.length - (head.length % 64);
  const mid = H.slice();
  for (let at = 0; at < whole; at += 64) compress(mid, head, at);
  const block = new Uint8Array(128);
  const h = new Int32Array(8);
  const rest = head.length - whole;
  return (suffix) => {
    const length = rest + suffix.length;
    const end = length < 56 ? 64 : 128;
    block.fill(0);
    block.set(head.subarray(whole));
    for (let i = 0; i < suffix.length; i += 1) block[rest + i] = suffix.charCodeAt(i);
    block[length] = 0x80;
    const bits = (whole + length) * 8; // < 2^32: salts are short
    for (let i = 1; i <= 4; i += 1) block[end - i] = bits >>> (8 * i - 8);
    h.set(mid);
    for (let at = 0; at < end; at += 64) compress(h, block, at);
    return h;
  };
}

/** `{number, tried, ms}` solving `{algorithm, challenge, maxnumber, salt}`, or null. */
export async function solveChallenge(challenge, { onProgress, now = () => Date.now() } = {}) {
  if (!challenge || challenge.algorithm !== "SHA-256") throw new Error("unsupported challenge");
  const target = Int32Array.from({ length: 8 },
    (_, i) => parseInt(String(challenge.challenge).slice(8 * i, 8 * i + 8), 16));
  const max = Math.floor(Number(challenge.maxnumber)) || 0;
  const hash = prefixHasher(String(challenge.salt));
  const started = now();
  for (let start = 0; start <= max; start += BATCH) {
    const end = Math.min(max, start + BATCH - 1);
    for (let n = start; n <= end; n += 1) {
      const h = hash(String(n));
      let i = 0;
      while (i < 8 && h[i] === target[i]) i += 1;
      if (i === 8) return { number: n, tried: n + 1, ms: now() - started };
    }
    if (onProgress) onProgress({ tried: end + 1, maxnumber: max });
    await new Promise((resolve) => setTimeout(resolve, 0)); // the page breathes
  }
  return null;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** The Magic-Cube-Challenge value: base64 JSON (no btoa in mini-programs). */
export function encodeSolution(challenge, number) {
  const { algorithm, salt, signature } = challenge;
  const bytes = ascii(JSON.stringify({ algorithm, challenge: challenge.challenge, number, salt,
    signature }));
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
    out += B64[n >> 18] + B64[(n >> 12) & 63] + (i + 1 < bytes.length ? B64[(n >> 6) & 63] : "=")
      + (i + 2 < bytes.length ? B64[n & 63] : "=");
  }
  return out;
}
