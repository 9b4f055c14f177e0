// The shopper's language goes out as Accept-Language, so that the server's refusals come back
// in their words: given, or the phone's own (navigator in a browser, wx in a mini-program).

import assert from "node:assert/strict";
import { test } from "node:test";

import { MagicCubeClient, platformLang, shopperLang } from "../src/client.js";
import { apiError, makeClient, reply } from "./fakes.js";

/** Run `body` with globalThis[name] set to `value` (undefined: absent), then put it back. */
async function withGlobal(name, value, body) {
  const saved = Object.getOwnPropertyDescriptor(globalThis, name);
  if (value === undefined) delete globalThis[name];
  else Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  try {
    return await body();
  } finally {
    delete globalThis[name];
    if (saved) Object.defineProperty(globalThis, name, saved);
  }
}

const withPlatform = ({ navigator, wx }, body) =>
  withGlobal("navigator", navigator, () => withGlobal("wx", wx, body));

async function sentLanguage(options) {
  const { client, request } = makeClient({ script: [reply(200, {})], ...options });
  await client.getActivity("act_1");
  return request.calls[0].headers["Accept-Language"];
}

test("any language tag is sent as zh or en, the two the API speaks", async () => {
  const cases = [["zh", "zh"], ["zh-CN", "zh"], ["zh_CN", "zh"], ["zh-Hant-TW", "zh"],
    ["ZH_tw", "zh"], ["en", "en"], ["en-US", "en"], ["fr-FR", "en"], ["zhx", "en"]];
  for (const [given, sent] of cases) {
    assert.equal(shopperLang(given), sent, given);
    assert.equal(await sentLanguage({ lang: given }), sent, given);
  }
  assert.equal(shopperLang(""), null);
  assert.equal(await sentLanguage({ lang: null }), undefined); // none: the server's default
});

test("by default a mini-program sends the language WeChat is set to", async () => {
  const old = { getSystemInfoSync: () => ({ language: "zh_CN" }) };
  await withPlatform({ wx: old }, async () => {
    assert.equal(platformLang(), "zh");
    assert.equal(await sentLanguage({}), "zh");
  });
  // The newer base library's call comes first where there is one.
  const newer = { getAppBaseInfo: () => ({ language: "en" }), getSystemInfoSync: old.getSystemInfoSync };
  await withPlatform({ wx: newer }, async () => assert.equal(await sentLanguage({}), "en"));
  const broken = { getSystemInfoSync: () => { throw new Error("getSystemInfoSync:fail"); } };
  await withPlatform({ wx: broken }, async () => assert.equal(await sentLanguage({}), undefined));
});

test("by default a web page sends the browser's first Chinese or English language", async () => {
  const french = { language: "fr-FR", languages: ["fr-FR", "zh-CN", "en"] };
  await withPlatform({ navigator: french }, async () => {
    assert.equal(await sentLanguage({}), "zh");
  });
  await withPlatform({ navigator: { language: "en-GB" } }, async () => {
    assert.equal(await sentLanguage({}), "en");
  });
  await withPlatform({ navigator: { language: "de", languages: ["de"] } }, async () => {
    assert.equal(await sentLanguage({}), "en");
  });
  // The option wins over the platform.
  await withPlatform({ navigator: { language: "zh-CN" } }, async () => {
    assert.equal(await sentLanguage({ lang: "en" }), "en");
  });
});

test("without a platform language nothing is sent, and setLang changes it later", async () => {
  await withPlatform({}, async () => {
    const { client, request } = makeClient({ script: [reply(200, {}), reply(200, {})] });
    assert.equal(client.lang, null);
    await client.getActivity("act_1");
    client.setLang("zh_TW"); // the shopper switched languages
    await client.getActivity("act_1");
    assert.deepEqual(request.calls.map((c) => c.headers["Accept-Language"]), [undefined, "zh"]);
  });
});

test("a refusal carries the server's words in the language sent", async () => {
  const refusal = apiError(409, "group_full", { body: { message: "拼团人数已满" } });
  const request = async (req) => (req.headers["Accept-Language"] === "zh" ? refusal
    : apiError(409, "group_full", { body: { message: "The group is full" } }));
  for (const [lang, words] of [["zh_CN", "拼团人数已满"], ["en-US", "The group is full"]]) {
    const client = new MagicCubeClient({ request, lang, document: null, maxActionAttempts: 1 });
    const err = await client.act("act_1", "join", { room: "r1" }).catch((e) => e);
    assert.equal(err.code, "group_full");
    assert.equal(err.message, words);
  }
});
