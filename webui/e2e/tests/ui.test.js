// End-to-end tests of the web UI in headless Chromium. Each block starts
// its own webui-demo (fake backend, fresh data directory).
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, setPassword, login, shot, PASSWORD } from "./harness.js";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function newPage(viewport = { width: 1280, height: 900 }) {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  const problems = [];
  // Refusals the tests provoke (401, 403, 422, 429) are expected; anything
  // else (a CSP violation, a script error, a missing file) is a problem.
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource: the server responded with a status of (401|403|422|429)/.test(m.text())) {
      problems.push(m.text());
    }
  });
  page.on("pageerror", (e) => problems.push(String(e)));
  return { ctx, page, problems };
}

describe("first boot, login, SIP account", () => {
  let srv, ctx, page, problems;
  before(async () => {
    // Lines stay "registering" 2 s after a save, so the status page can be
    // seen changing by itself.
    srv = await startServer(["-register-delay", "2s"]);
    ({ ctx, page, problems } = await newPage());
  });
  after(async () => { await ctx?.close(); srv?.stop(); });

  test("first boot: every page leads to setting the password", async () => {
    for (const p of ["/", "/sip", "/maintenance", "/login"]) {
      await page.goto(srv.url + p);
      assert.match(page.url(), /\/setup$/, p);
    }
    const api = await page.request.get(srv.url + "/api/status");
    assert.equal(api.status(), 403);
    await shot(page, "setup");
    // A weak password is refused, next to the field.
    await page.getByLabel("New admin password").fill("admin");
    await page.getByLabel("Repeat the password").fill("admin");
    await page.getByRole("button", { name: "Set password" }).click();
    await assert.doesNotReject(page.locator("#e-password").getByText("at least 12").waitFor());
    await shot(page, "setup-error");
    await setPassword(page, srv.url);
    await assert.doesNotReject(page.getByText("Admin password set").waitFor());
  });

  test("login: admin/admin refused, the password works", async () => {
    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL(/\/login/);
    await shot(page, "login");
    await login(page, srv.url, "admin", "admin");
    assert.match(page.url(), /\/login$/);
    await page.getByText("Wrong user name or password").waitFor();
    assert.equal((await page.request.get(srv.url + "/api/status")).status(), 401);
    await login(page, srv.url, "admin", PASSWORD);
    assert.equal(new URL(page.url()).pathname, "/");
    assert.equal((await page.request.get(srv.url + "/api/status")).status(), 200);
  });

  test("SIP account: save, and the status page turns Registered by itself", async () => {
    await page.goto(srv.url + "/sip");
    await page.getByLabel("SIP Number").fill("1001");
    await page.getByLabel("SIP Server Address").fill("sip.example.net");
    await page.getByLabel("SIP Service Domain").fill("example.net");
    await page.getByLabel("Authentication User Name").fill("1001");
    await page.getByLabel("Password", { exact: true }).fill("sip-secret-1001");
    await page.getByLabel("Codec, first choice").selectOption("PCMA");
    await page.getByRole("button", { name: "Save and apply" }).click();
    await page.getByText("Saved and applied").waitFor();
    // The password is not in the page; the field says "unchanged".
    assert.equal(await page.getByLabel("Password", { exact: true }).inputValue(), "");
    assert.equal(await page.getByLabel("Password", { exact: true }).getAttribute("placeholder"), "unchanged");
    assert.ok(!(await page.content()).includes("sip-secret-1001"));

    await page.getByRole("link", { name: "Status" }).click();
    const badge = page.locator("#lines .badge");
    assert.equal(await badge.textContent(), "Registering…");
    await page.evaluate(() => { window.__noReload = true; });
    await page.locator("#live.on").waitFor(); // the event stream is connected
    await page.locator("#lines .badge.registered").waitFor({ timeout: 10000 });
    assert.equal(await badge.textContent(), "Registered");
    assert.equal(await page.evaluate(() => window.__noReload), true, "the page reloaded");
    await shot(page, "status-registered");
  });

  test("a bad port shows an error next to the field and nothing is saved", async () => {
    const before = await (await page.request.get(srv.url + "/api/config")).json();
    await page.goto(srv.url + "/sip");
    await page.getByLabel("SIP Number").fill("2002");
    await page.getByLabel("Port", { exact: true }).first().fill("99999");
    await page.getByRole("button", { name: "Save and apply" }).click();
    const err = page.locator("#e-server_port");
    await err.waitFor();
    assert.match(await err.textContent(), /port number from 1 to 65535/);
    assert.equal(await page.locator("#f-server_port").getAttribute("aria-invalid"), "true");
    assert.equal(await page.locator("#f-server_port").inputValue(), "99999");
    await page.getByText("Nothing was saved").waitFor();
    await shot(page, "sip-bad-port");
    const afterCfg = await (await page.request.get(srv.url + "/api/config")).json();
    assert.deepEqual(afterCfg, before);
    assert.equal(afterCfg.line[0].number, "1001");
  });

  test("a forged cross-site POST is refused", async () => {
    const r = await page.request.post(srv.url + "/sip", {
      form: { line: "0", number: "666", service_domain: "evil.example" },
      headers: { "Sec-Fetch-Site": "cross-site", Origin: "https://evil.example" },
      maxRedirects: 0,
    });
    assert.equal(r.status(), 403);
    const noToken = await page.request.post(srv.url + "/sip", { form: { line: "0", number: "666" }, maxRedirects: 0 });
    assert.equal(noToken.status(), 403);
    const cfg = await (await page.request.get(srv.url + "/api/config")).json();
    assert.equal(cfg.line[0].number, "1001");
  });

  test("no console errors (CSP violations, script errors)", () => {
    assert.deepEqual(problems, []);
  });
});

describe("login throttling", () => {
  let srv, ctx, page;
  before(async () => {
    srv = await startServer();
    ({ ctx, page } = await newPage());
    await setPassword(page, srv.url);
    await page.getByRole("button", { name: "Log out" }).click();
  });
  after(async () => { await ctx?.close(); srv?.stop(); });

  test("after 5 wrong passwords even the right one is refused for a while", async () => {
    for (let i = 1; i <= 5; i++) {
      await login(page, srv.url, "admin", "wrong password " + i);
      assert.match(page.url(), /\/login$/);
    }
    await page.getByText("Too many wrong passwords").waitFor();
    await login(page, srv.url, "admin", PASSWORD);
    assert.match(page.url(), /\/login$/);
    await page.getByText(/Too many wrong passwords from your address. Try again in \d+ seconds/).waitFor();
    await shot(page, "login-throttled");
  });
});

describe("screenshots of every page", () => {
  let srv;
  before(async () => {
    srv = await startServer(["-demo"]);
    const { ctx, page } = await newPage();
    await setPassword(page, srv.url);
    await ctx.close();
  });
  after(() => srv?.stop());

  for (const [device, viewport] of [["desktop", { width: 1280, height: 900 }], ["phone", { width: 390, height: 844 }]]) {
    test(device, async () => {
      const { ctx, page, problems } = await newPage(viewport);
      await login(page, srv.url, "admin", PASSWORD);
      for (const [name, p] of [["status", "/"], ["sip", "/sip"], ["phone", "/phone"], ["calls", "/calls"], ["maintenance", "/maintenance"]]) {
        await page.goto(srv.url + p);
        if (name === "status") await page.locator("#live.on").waitFor();
        await shot(page, `${device}-${name}`);
        // Nothing overflows sideways on a phone (tables scroll in their own box).
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 0, `${device} ${name}: page is ${overflow}px wider than the screen`);
      }
      // Keyboard: the first Tab reaches the skip link, and focus is visible.
      await page.goto(srv.url + "/sip");
      await page.keyboard.press("Tab");
      assert.equal(await page.evaluate(() => document.activeElement.className), "skip");
      await page.keyboard.press("Tab");
      await page.keyboard.press("Tab");
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
      assert.notEqual(outline, "none");
      await shot(page, `${device}-keyboard-focus`);
      assert.deepEqual(problems, []);
      await ctx.close();
    });
  }
});
