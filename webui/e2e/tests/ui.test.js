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

describe("several calls: status page, call log, API, metrics", () => {
  let srv;
  before(async () => {
    // Two calls (active, on hold); a third arrives (waiting) 1.5 s after a
    // status page goes live, and the held party then holds us too.
    srv = await startServer(["-demo", "-call-waiting-after", "1500ms"]);
    const { ctx, page } = await newPage();
    await setPassword(page, srv.url);
    await ctx.close();
  });
  after(() => srv?.stop());

  // Without JavaScript: no event stream yet, so the waiting call stays away.
  async function noScriptPage() {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, javaScriptEnabled: false });
    const page = await ctx.newPage();
    await login(page, srv.url, "admin", PASSWORD);
    return { ctx, page };
  }

  test("API and metrics list every call with its role", async () => {
    const { ctx, page } = await noScriptPage();
    const st = await (await page.request.get(srv.url + "/api/status")).json();
    assert.deepEqual(st.calls.map((c) => [c.number, c.role, c.label, c.far_held]),
      [["+4930987654", "active", "Active", false], ["+4940555123", "held", "On hold", false]]);
    assert.equal(st.call.number, "+4930987654");
    const m = await (await page.request.get(srv.url + "/metrics")).text();
    assert.match(m, /^ata_calls_active 2$/m);
    assert.match(m, /^ata_call_active 1$/m);
    assert.match(m, /^ata_calls\{role="held"\} 1$/m);
    assert.equal(st.lines[0].new_messages, 2);
    assert.match(m, /^ata_line_new_messages\{line="4930123456"\} 2$/m);
    await ctx.close();
  });

  test("without JavaScript the page shows both calls with their roles", async () => {
    const { ctx, page } = await noScriptPage();
    const calls = page.locator("#calls article.call");
    assert.equal(await calls.count(), 2);
    assert.equal(await calls.nth(0).locator(".badge.role").textContent(), "Active");
    assert.equal(await calls.nth(1).locator(".badge.role").textContent(), "On hold");
    assert.match(await calls.nth(1).locator(".call-number").textContent(), /\+4940555123 \(Pizza Roma\)/);
    await ctx.close();
  });

  test("live: a waiting call appears, the far end's hold shows, durations tick", async () => {
    const { ctx, page, problems } = await newPage();
    await login(page, srv.url, "admin", PASSWORD);
    await page.evaluate(() => { window.__noReload = true; });
    await page.locator("#live.on").waitFor();
    const calls = page.locator("#calls article.call");
    assert.equal(await calls.count(), 2);
    await page.locator('#calls article.call[data-role="waiting"]').waitFor({ timeout: 10000 });
    assert.equal(await calls.count(), 3);
    assert.deepEqual(await page.locator("#calls .badge.role").allTextContents(), ["Active", "On hold", "Waiting"]);
    assert.deepEqual(await calls.nth(1).locator(".badge.far-held").allTextContents(), ["Far end holds"]);
    assert.equal(await calls.nth(0).locator(".badge.far-held").count(), 0);
    assert.match(await calls.nth(2).locator(".call-number").textContent(), /Dr\. Weber/);
    // Message waiting: the first line's badge, drawn again from the events.
    assert.deepEqual(await page.locator("#lines .badge.mwi").allTextContents(), ["2 new voice messages"]);
    assert.equal(await page.locator("#lines .badge.mwi.waiting").isVisible(), true);
    assert.match(await page.locator("#lines tr").first().locator(".detail").textContent(), /voicemail: subscribed/);
    assert.equal(await page.evaluate(() => window.__noReload), true, "the page reloaded");
    // No event comes now; the durations count on by themselves (a loaded
    // machine may delay the ticks, so wait for two of them).
    const secs = async () => (await calls.nth(0).locator(".call-duration").textContent()).split(":").reduce((a, b) => a * 60 + Number(b), 0);
    const t0 = await secs(), start = Date.now();
    await page.waitForFunction((t0) => {
      const [m, s] = document.querySelector("#calls .call-duration").textContent.split(":").map(Number);
      return m * 60 + s >= t0 + 2;
    }, t0, { timeout: 10000, polling: 100 });
    const t1 = await secs(), waited = (Date.now() - start) / 1000;
    assert.ok(t1 - t0 <= waited + 1, `duration went from ${t0} to ${t1} in ${waited} s`);
    await shot(page, "status-calls");
    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, "phone-status-calls");
    assert.deepEqual(problems, []);
    await ctx.close();
  });

  test("call log: causes in words, the signalling's detail, who ended the call", async () => {
    const { ctx, page, problems } = await newPage();
    await login(page, srv.url, "admin", PASSWORD);
    await page.goto(srv.url + "/calls");
    assert.ok((await page.locator("table.calls th").allTextContents()).includes("Ended by"));
    const results = await page.locator("table.calls td.result").allTextContents();
    for (const want of ["TransferredREFER 202 Accepted", "Busy486 Busy Here", "CancelledCANCEL", "Completed", "No response408 Request Timeout"]) {
      assert.ok(results.includes(want), `no "${want}" in ${JSON.stringify(results)}`);
    }
    const busy = page.locator("table.calls tr", { has: page.locator('td.result[data-cause="busy"]') }).first();
    assert.equal(await busy.locator("td.result .detail").textContent(), "486 Busy Here");
    assert.equal(await busy.locator("td.ended-by").textContent(), "Far end");
    const transferred = page.locator("table.calls tr", { has: page.locator('td.result[data-cause="transferred"]') }).first();
    assert.equal(await transferred.locator("td.ended-by").textContent(), "This side");
    assert.ok(!results.some((r) => /^(normal|busy|transferred|no-response)$/.test(r)), "a cause name shown raw");
    await shot(page, "calls-causes");
    assert.deepEqual(problems, []);
    await ctx.close();
  });
});

describe("Features page: call waiting and three-way", () => {
  let srv, ctx, page, problems;
  before(async () => {
    srv = await startServer();
    ({ ctx, page, problems } = await newPage());
    await setPassword(page, srv.url);
  });
  after(async () => { await ctx?.close(); srv?.stop(); });

  test("untick call waiting, ring timeout 30: saved, and kept after a reload", async () => {
    await page.goto(srv.url + "/features");
    const cw = page.getByLabel("Call waiting", { exact: true });
    const ring = page.getByLabel("Ring timeout (seconds, 0 = until the caller hangs up)");
    assert.equal(await cw.isChecked(), true);
    assert.equal(await ring.inputValue(), "120");
    // A feature that needs another is greyed out while that one is off.
    const cwid = page.locator('[data-needs="f-call_waiting"]');
    assert.equal(await cwid.evaluate((e) => e.classList.contains("dim")), false);
    await cw.uncheck();
    assert.equal(await cwid.evaluate((e) => e.classList.contains("dim")), true);
    await ring.fill("30");
    await shot(page, "phone-features");
    await page.getByRole("button", { name: "Save and apply" }).click();
    await page.getByText("Saved and applied").waitFor();
    await page.reload();
    assert.equal(await page.getByLabel("Call waiting", { exact: true }).isChecked(), false);
    assert.equal(await page.getByLabel("Ring timeout (seconds, 0 = until the caller hangs up)").inputValue(), "30");
    assert.equal(await page.getByLabel("Three-way calling").isChecked(), true);
    assert.equal(await cwid.evaluate((e) => e.classList.contains("dim")), true, "greyed after the reload");
    const cfg = await (await page.request.get(srv.url + "/api/config")).json();
    assert.equal(cfg.phone.call_waiting, false);
    assert.equal(cfg.phone.call_waiting_caller_id, true);
    assert.equal(cfg.phone.ring_timeout, "30s");
  });

  test("three-way off greys out transfer on hang-up", async () => {
    await page.goto(srv.url + "/features");
    const transfer = page.locator('[data-needs="f-three_way"]');
    assert.equal(await transfer.evaluate((e) => e.classList.contains("dim")), false);
    await page.getByLabel("Three-way calling").uncheck();
    assert.equal(await transfer.evaluate((e) => e.classList.contains("dim")), true);
    // Greyed, not disabled: it is still posted as it is.
    assert.equal(await page.getByLabel("Transfer on hang-up").isEnabled(), true);
    await page.getByLabel("Three-way calling").check();
    assert.equal(await transfer.evaluate((e) => e.classList.contains("dim")), false);
  });

  test("a ring timeout over an hour is refused next to the field; nothing is saved", async () => {
    const before = await (await page.request.get(srv.url + "/api/config")).json();
    await page.goto(srv.url + "/features");
    await page.getByLabel("Three-way calling").uncheck();
    await page.getByLabel("Ring timeout (seconds, 0 = until the caller hangs up)").fill("5000");
    await page.getByRole("button", { name: "Save and apply" }).click();
    const err = page.locator("#e-ring_timeout");
    await err.waitFor();
    assert.match(await err.textContent(), /from 1 to 3600, or 0/);
    assert.equal(await page.locator("#f-ring_timeout").getAttribute("aria-invalid"), "true");
    assert.equal(await page.locator("#f-ring_timeout").inputValue(), "5000");
    assert.equal(await page.getByLabel("Three-way calling").isChecked(), false);
    await page.getByText("Nothing was saved").waitFor();
    await shot(page, "phone-features-error");
    assert.deepEqual(await (await page.request.get(srv.url + "/api/config")).json(), before);
    assert.deepEqual(problems, []);
  });
});

describe("Features page: do not disturb and forwarding", () => {
  let srv, ctx, page, problems;
  before(async () => {
    srv = await startServer();
    ({ ctx, page, problems } = await newPage());
    await setPassword(page, srv.url);
  });
  after(async () => { await ctx?.close(); srv?.stop(); });

  test("DND on and forward always: saved, and the summary shows both after a reload", async () => {
    await page.getByRole("link", { name: "Features" }).click();
    await page.waitForURL(/\/features$/);
    assert.equal(await page.locator("#state-dnd").textContent(), "Do not disturb is off.");
    // The answer given is greyed out while DND is off.
    const status = page.locator('[data-needs="f-dnd"]');
    assert.equal(await status.evaluate((e) => e.classList.contains("dim")), true);
    await page.getByLabel("Do not disturb", { exact: true }).check();
    assert.equal(await status.evaluate((e) => e.classList.contains("dim")), false);
    await page.getByLabel("Answer given to callers").selectOption("603");
    await page.getByLabel("Forward all calls to").fill("5551234");
    await page.getByLabel("Method").selectOption("bridge");
    await page.getByRole("button", { name: "Save and apply" }).click();
    await page.getByText("Saved and applied").waitFor();
    await page.reload();
    assert.match(await page.locator("#state-dnd").textContent(), /^Do not disturb is ON.*declined \(603\)/);
    assert.equal(await page.locator("#state-forward_always").textContent(), "Calls are forwarded to 5551234 (by the ATA).");
    assert.equal(await page.getByLabel("Do not disturb", { exact: true }).isChecked(), true);
    assert.equal(await page.getByLabel("Forward all calls to").inputValue(), "5551234");
    const cfg = await (await page.request.get(srv.url + "/api/config")).json();
    assert.equal(cfg.phone.dnd, true);
    assert.equal(cfg.phone.dnd_status, 603);
    assert.equal(cfg.phone.forward_always, "5551234");
    assert.equal(cfg.phone.forward_method, "bridge");
    await shot(page, "features-dnd-forward");
    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, "phone-features-dnd-forward");
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test("a number with a space is refused next to the field; nothing is saved", async () => {
    const before = await (await page.request.get(srv.url + "/api/config")).json();
    await page.goto(srv.url + "/features");
    await page.getByLabel("Forward when busy to").fill("555 0001");
    await page.getByLabel("Refuse anonymous calls").check();
    await page.getByRole("button", { name: "Save and apply" }).click();
    const err = page.locator("#e-forward_busy");
    await err.waitFor();
    assert.match(await err.textContent(), /without spaces/);
    assert.equal(await page.locator("#f-forward_busy").getAttribute("aria-invalid"), "true");
    assert.equal(await page.locator("#f-forward_busy").inputValue(), "555 0001");
    assert.equal(await page.getByLabel("Refuse anonymous calls").isChecked(), true);
    await page.getByText("Nothing was saved").waitFor();
    // The summary still tells what is in force.
    assert.equal(await page.locator("#state-reject_anonymous").count(), 0);
    await shot(page, "features-bad-number");
    assert.deepEqual(await (await page.request.get(srv.url + "/api/config")).json(), before);
    assert.deepEqual(problems, []);
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
      for (const [name, p] of [["status", "/"], ["sip", "/sip"], ["phone", "/phone"], ["features", "/features"], ["calls", "/calls"], ["maintenance", "/maintenance"]]) {
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
