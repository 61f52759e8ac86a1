// Router mode's pages: a user added and registered in under a minute,
// routes put in order and tried, the status page's Router card live, the
// call log's routed calls; screenshots on a desktop and a 390 px phone.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, setPassword, shot } from "./harness.js";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const DESKTOP = { width: 1280, height: 900 }, PHONE = { width: 390, height: 844 };

describe("router mode", () => {
  let srv, ctx, page;
  const problems = [];
  const config = async () => (await page.request.get(srv.url + "/api/config")).json();

  before(async () => {
    // -router: the demo's users, trunk, routes and a routed call; a saved
    // user's "softphone" registers 300 ms after the save.
    srv = await startServer(["-demo", "-router", "-register-delay", "300ms"]);
    ctx = await browser.newContext({ viewport: DESKTOP });
    page = await ctx.newPage();
    page.on("console", (m) => {
      if (m.type() === "error" && !/status of (409|422)/.test(m.text())) problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(String(e)));
    await setPassword(page, srv.url);
  });
  after(async () => { await ctx?.close(); srv?.stop(); });

  test("add a user in under a minute: form, save, listed, its phone registered", async () => {
    const t0 = Date.now();
    await page.goto(srv.url + "/");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Router" }).click();
    await page.waitForURL(/\/users$/);
    await shot(page, "router-users");
    // A weak password first: refused at its field, nothing saved.
    await page.getByLabel("Extension (SIP user name)").fill("204");
    await page.getByLabel("Display name").fill("Hall");
    await page.locator("#f-password").fill("hall204");
    await page.getByRole("button", { name: "Add user" }).click();
    await page.locator("#e-password").waitFor();
    assert.match(await page.locator("#e-password").textContent(), /at least 10 characters/);
    assert.equal(await page.locator("#f-password").getAttribute("aria-invalid"), "true");
    await shot(page, "router-users-weak-password");
    assert.equal((await config()).user.length, 3);

    await page.locator("#f-password").fill("hall-phone-2024!");
    await page.getByRole("button", { name: "Add user" }).click();
    await page.getByText("User 204 added").waitFor();
    const row = page.locator("#user-204");
    assert.match(await row.textContent(), /Hall/);
    // The demo's softphone registers after the register delay: reload until
    // the Users page shows its contact.
    for (let i = 0; i < 50 && !/sip:204@/.test(await row.textContent()); i++) {
      await page.waitForTimeout(200);
      await page.reload();
    }
    assert.match(await row.textContent(), /sip:204@192\.0\.2\.\d+:5060.*expires in/s);
    const took = Date.now() - t0;
    assert.ok(took < 60_000, `adding a user took ${took} ms`);
    console.log(`# add a user, saved and registered: ${took} ms`);
    await shot(page, "router-users-added");

    const u = (await config()).user.find((x) => x.name === "204");
    assert.ok(u && /^[0-9a-f]{32}$/.test(u.ha1_md5) && /^[0-9a-f]{64}$/.test(u.ha1_sha256), JSON.stringify(u));
    assert.equal(u.password, undefined, "the password itself was stored");
  });

  test("remove a user: the confirmation is in the page", async () => {
    await page.goto(srv.url + "/users");
    await page.locator("#user-204").getByRole("link", { name: "Remove…" }).click();
    const confirm = page.locator("#confirm-remove");
    await confirm.waitFor();
    await shot(page, "router-users-remove-confirm");
    await confirm.getByRole("button", { name: "Remove user 204" }).click();
    await page.getByText("User 204 removed").waitFor();
    assert.equal(await page.locator("#user-204").count(), 0);
  });

  test("routes: move one up, the order is kept; try a number", async () => {
    await page.goto(srv.url + "/routes");
    const patterns = async () => page.locator("#routes td.pattern").allTextContents();
    assert.deepEqual(await patterns(), ["<9:>xx.", "0xx."]);
    await page.locator("#f-try").fill("9030123");
    await page.getByRole("button", { name: "Try" }).click();
    assert.match(await page.locator("#try-result").textContent(), /through Trunk carrier .* route 1 \(<9:>xx\.\), sent as 030123/);
    await page.getByRole("button", { name: "Move route 2 up" }).click();
    await page.getByText("is now number 1").waitFor();
    assert.deepEqual(await patterns(), ["0xx.", "<9:>xx."]);
    assert.deepEqual((await config()).route.map((r) => r.pattern), ["0xx.", "<9:>xx."]);
    // Added at the end; a pattern that does not parse is refused at its field.
    await page.getByLabel("Numbers (digit map)").fill("[12");
    await page.getByRole("button", { name: "Add route" }).click();
    await page.locator("#e-pattern").waitFor();
    await page.getByLabel("Numbers (digit map)").fill("11x");
    await page.getByLabel("Goes out through").selectOption("line:1");
    await page.getByRole("button", { name: "Add route" }).click();
    await page.getByText("Route 3 added").waitFor();
    assert.deepEqual(await patterns(), ["0xx.", "<9:>xx.", "11x"]);
    await page.getByRole("button", { name: "Move route 1 down" }).click();
    await page.getByText("is now number 2").waitFor();
    assert.deepEqual(await patterns(), ["<9:>xx.", "0xx.", "11x"]);
    await page.locator("#f-try").fill("0301234");
    await page.getByRole("button", { name: "Try" }).click();
    assert.match(await page.locator("#try-result").textContent(), /through Line 1 .* route 2 \(0xx\.\)/);
    await shot(page, "router-routes");
  });

  test("trunks and settings pages", async () => {
    await page.goto(srv.url + "/trunks");
    assert.match(await page.locator("#trunk-carrier").textContent(), /203\.0\.113\.5/);
    await shot(page, "router-trunks");
    await page.goto(srv.url + "/router");
    assert.equal(await page.getByLabel("Router mode on").isChecked(), true);
    await shot(page, "router-settings");
  });

  test("status: the Router card lists the routed call's two legs", async () => {
    await page.goto(srv.url + "/");
    await page.locator("#live.on").waitFor();
    const card = page.locator("#router-card");
    assert.equal(await card.isVisible(), true);
    const text = await card.textContent();
    assert.match(text, /3 users registered|of 3 users registered/);
    assert.match(text, /202 → 030123456 via line:1/);
    assert.match(text, /Caller side \(202\)\s*PCMU/);
    assert.match(text, /Callee side \(030123456\)\s*PCMA/);
    // Rendered by app.js from the event (same text as the server's).
    assert.equal(await card.locator("article.routed").count(), 1);
    await shot(page, "router-status");
  });

  test("call log: routed calls show from → to, route, who answered and hung up, the second leg", async () => {
    await page.goto(srv.url + "/calls");
    const body = await page.locator("table.calls").textContent();
    assert.match(body, /201 → 030987654/);
    assert.match(body, /via line:1, answered by 030987654/);
    assert.match(body, /\+4930555777 → 202/);
    assert.match(body, /Caller \(\+4930555777\)/);
    assert.match(body, /other leg: PCMU/);
    await shot(page, "router-calls");
  });

  test("a 390 px phone: the router pages fit", async () => {
    const pctx = await browser.newContext({ viewport: PHONE });
    const p = await pctx.newPage();
    await p.context().addCookies(await ctx.cookies());
    for (const [name, path] of [["users", "/users"], ["trunks", "/trunks"], ["routes", "/routes"], ["settings", "/router"], ["status", "/"], ["calls", "/calls"]]) {
      await p.goto(srv.url + path);
      const w = await p.evaluate(() => document.scrollingElement.scrollWidth);
      assert.ok(w <= 390, `${name}: the page is ${w}px wide`);
      await shot(p, `phone390-router-${name}`);
    }
    await pctx.close();
    assert.deepEqual(problems, []);
  });
});
