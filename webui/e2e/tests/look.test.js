// The web UI's look (issue 16, point 8): help on demand, a compact idle
// Status page, the 404 page, the newest-first log, in-page confirmations
// and a layout that fits a 390 px phone on every page.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, setPassword, login, shot, PASSWORD } from "./harness.js";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const DESKTOP = { width: 1280, height: 900 }, PHONE = { width: 390, height: 844 };

// newPage collects problems: script errors, CSP violations, and any
// script dialog (confirm(), alert()): the UI asks in the page.
async function newPage({ viewport = DESKTOP, javaScriptEnabled = true, expect = /status of (401|404|405|422)/ } = {}) {
  const ctx = await browser.newContext({ viewport, javaScriptEnabled });
  const page = await ctx.newPage();
  const problems = [];
  page.on("console", (m) => {
    if (m.type() === "error" && !(/Failed to load resource/.test(m.text()) && expect.test(m.text()))) problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("dialog", (d) => { problems.push("script dialog: " + d.message()); d.dismiss(); });
  return { ctx, page, problems };
}

const hidden = (page, sel) => page.locator(sel).evaluate((e) => e.hidden || getComputedStyle(e).display === "none");

describe("help on demand", () => {
  let srv;
  before(async () => {
    srv = await startServer();
    const { ctx, page } = await newPage();
    await setPassword(page, srv.url);
    await ctx.close();
  });
  after(() => srv?.stop());

  test("a ? button opens and closes a field's help, by mouse and keyboard; an invalid field's help is open", async () => {
    const { ctx, page, problems } = await newPage();
    await login(page, srv.url, "admin", PASSWORD);
    await page.goto(srv.url + "/sip");
    const help = page.locator("#h-number");
    const button = page.getByRole("button", { name: "Help: SIP Number" });
    assert.equal(await help.isVisible(), false, "help shown before asked");
    assert.equal(await button.getAttribute("aria-expanded"), "false");
    assert.equal(await button.getAttribute("aria-controls"), "h-number");
    // The input is described by its help, shown or not.
    assert.equal(await page.locator("#f-number").getAttribute("aria-describedby"), "h-number");
    assert.match(await page.getByLabel("SIP Number").evaluate((e) => e.labels[0].textContent), /^SIP Number/);
    // Every help text on the page starts hidden.
    assert.equal(await page.locator("p.help:visible").count(), 0);
    assert.ok(await page.locator("button.help-toggle").count() >= 15);

    await button.click();
    assert.equal(await help.isVisible(), true);
    assert.equal(await button.getAttribute("aria-expanded"), "true");
    assert.match(await help.textContent(), /the part before the @/);
    await shot(page, "sip-help-open");
    await button.click();
    assert.equal(await help.isVisible(), false);

    // Keyboard: Tab from the label's input reaches the next field's ?,
    // Enter and Space toggle it.
    await page.getByLabel("SIP Number").focus();
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute("aria-controls")), "h-display_name");
    await page.keyboard.press("Enter");
    assert.equal(await page.locator("#h-display_name").isVisible(), true);
    await page.keyboard.press("Space");
    assert.equal(await page.locator("#h-display_name").isVisible(), false);

    // A refused value: its help is open next to the error, the others not.
    await page.getByLabel("SIP Number").fill("1001");
    await page.getByLabel("SIP Service Domain").fill("example.net");
    await page.getByLabel("Port", { exact: true }).first().fill("99999");
    await page.getByRole("button", { name: "Save and apply" }).click();
    await page.locator("#e-server_port").waitFor();
    assert.equal(await page.locator("#h-server_port").isVisible(), true);
    assert.equal(await page.locator('button[aria-controls="h-server_port"]').getAttribute("aria-expanded"), "true");
    assert.equal(await page.locator("#f-server_port").getAttribute("aria-describedby"), "e-server_port h-server_port");
    assert.equal(await page.locator("#h-number").isVisible(), false);
    await shot(page, "sip-help-error");
    // Lengths: the browser stops where config would refuse.
    assert.equal(await page.locator("#f-display_name").getAttribute("maxlength"), "64");
    assert.equal(await page.locator("#f-server_host").getAttribute("maxlength"), "253");
    await page.goto(srv.url + "/features");
    assert.equal(await page.getByLabel("Forward all calls to").getAttribute("maxlength"), "32");
    assert.deepEqual(problems, []);
    await ctx.close();
  });

  test("without JavaScript every help text shows and no ? button", async () => {
    const { ctx, page, problems } = await newPage({ javaScriptEnabled: false });
    await login(page, srv.url, "admin", PASSWORD);
    await page.goto(srv.url + "/sip");
    assert.equal(await page.locator("#h-number").isVisible(), true);
    assert.equal(await page.locator("button.help-toggle:visible").count(), 0);
    // Outside the closed Advanced section, every help text shows.
    const unseen = await page.locator("p.help").evaluateAll((ps) => ps.filter((p) => !p.closest("details:not([open])") && !p.checkVisibility()).map((p) => p.id));
    assert.deepEqual(unseen, []);
    assert.ok(await page.locator("p.help:visible").count() >= 15);
    await shot(page, "nojs-sip-help");
    assert.deepEqual(problems, []);
    await ctx.close();
  });
});

describe("Status page", () => {
  test("idle: the lines and the phone are one line each, and fill in live", async () => {
    const srv = await startServer(["-register-delay", "300ms"]);
    const { ctx, page, problems } = await newPage();
    try {
      await setPassword(page, srv.url);
      await page.goto(srv.url + "/");
      await page.locator("#live.on").waitFor();
      const lines = page.locator("#lines-card"), phone = page.locator("#phone-card");
      const text = async (l) => (await l.innerText()).replace(/\s+/g, " ").trim();
      assert.equal(await text(lines), "SIP lines No SIP account yet. Set one up.");
      assert.equal(await text(phone), "Phone On hook, idle No call.");
      for (const card of [lines, phone]) {
        assert.ok(await card.evaluate((e) => e.classList.contains("idle")));
        const h = (await card.boundingBox()).height;
        assert.ok(h < 70, `an idle card is ${h}px high`);
      }
      assert.equal(await page.locator("#health").count(), 0);
      await shot(page, "status-idle");
      await page.setViewportSize(PHONE);
      await shot(page, "phone-status-idle");
      for (const card of [lines, phone]) {
        const h = (await card.boundingBox()).height;
        assert.ok(h < 100, `an idle card is ${h}px high on a phone`);
      }
      await page.setViewportSize(DESKTOP);

      // A line saved elsewhere appears here without a reload; the card
      // is no longer one line.
      await page.evaluate(() => { window.__noReload = true; });
      const other = await ctx.newPage();
      await other.goto(srv.url + "/sip");
      await other.getByLabel("SIP Number").fill("1001");
      await other.getByLabel("SIP Service Domain").fill("example.net");
      await other.getByRole("button", { name: "Save and apply" }).click();
      await other.getByText("Saved and applied").waitFor();
      await page.locator("#lines .badge.registered").waitFor({ timeout: 10000 });
      assert.equal(await page.locator("#lines td.aor").textContent(), "1001@example.net");
      assert.deepEqual(await page.locator("#lines-card th").allTextContents(), ["Line", "Registration"]);
      assert.equal(await page.getByText("No SIP account yet").isVisible(), false);
      assert.equal(await lines.evaluate((e) => e.classList.contains("idle")), false);
      assert.equal(await page.evaluate(() => window.__noReload), true, "the page reloaded");
      await shot(page, "status-idle-one-line");
      assert.deepEqual(problems, []);
    } finally {
      await ctx.close();
      srv.stop();
    }
  });

  test("with calls the phone card is full", async () => {
    const srv = await startServer(["-demo"]);
    const { ctx, page, problems } = await newPage();
    try {
      await setPassword(page, srv.url);
      await page.goto(srv.url + "/");
      await page.locator("#live.on").waitFor();
      const phone = page.locator("#phone-card");
      assert.equal(await phone.evaluate((e) => e.classList.contains("idle")), false);
      assert.equal(await page.locator("#hook").textContent(), "Off hook");
      assert.equal(await page.locator("#calls article.call").count() >= 2, true);
      assert.equal(await page.getByText("No call.").count(), 0);
      assert.deepEqual(problems, []);
    } finally {
      await ctx.close();
      srv.stop();
    }
  });
});

describe("404 page", () => {
  let srv;
  before(async () => {
    srv = await startServer();
    const { ctx, page } = await newPage();
    await setPassword(page, srv.url);
    await ctx.close();
  });
  after(() => srv?.stop());

  test("an unknown address: the layout, what happened, the way on; JSON under /api/", async () => {
    const { ctx, page, problems } = await newPage();
    let r = await page.goto(srv.url + "/settings/old-link");
    assert.equal(r.status(), 404);
    assert.equal(await page.locator("h1").textContent(), "Page not found");
    assert.match(await page.locator("#not-found").textContent(), /There is no page at \/settings\/old-link/);
    assert.equal(await page.getByRole("link", { name: "Log in" }).count(), 1, "logged out: a login link");
    await shot(page, "not-found-logged-out");
    await page.getByRole("link", { name: "Log in" }).click();
    await page.waitForURL(/\/login/);

    await login(page, srv.url, "admin", PASSWORD);
    r = await page.goto(srv.url + "/sip/old");
    assert.equal(r.status(), 404);
    assert.equal(await page.getByRole("link", { name: "Log in" }).count(), 0);
    assert.equal(await page.getByRole("navigation", { name: "Main" }).count(), 1, "logged in: the menu");
    await shot(page, "not-found");
    await page.setViewportSize(PHONE);
    await shot(page, "phone-not-found");
    await page.locator("#not-found").getByRole("link", { name: "Status" }).click();
    await page.waitForURL(srv.url + "/");

    const api = await page.request.get(srv.url + "/api/nothing");
    assert.equal(api.status(), 404);
    assert.match(api.headers()["content-type"], /^application\/json/);
    assert.match((await api.json()).error, /no such API endpoint: \/api\/nothing/);
    assert.deepEqual(problems, []);
    await ctx.close();
  });
});

describe("in-page confirmations and the log", () => {
  let srv;
  before(async () => {
    srv = await startServer(["-restart-needed", "web.listen"]);
    const { ctx, page } = await newPage();
    await setPassword(page, srv.url);
    await ctx.close();
  });
  after(() => srv?.stop());

  const newestLog = async (page) => {
    await page.goto(srv.url + "/maintenance");
    return (await page.locator("pre.log").textContent()).split("\n")[0];
  };

  test("the log is newest first, and says so", async () => {
    const { ctx, page, problems } = await newPage();
    await login(page, srv.url, "admin", PASSWORD);
    await page.goto(srv.url + "/maintenance");
    await page.getByRole("button", { name: "Start capture" }).click();
    await page.getByText("Packet capture started").waitFor();
    await page.getByRole("button", { name: "Stop capture" }).click();
    await page.getByText("Packet capture stopped").waitFor();
    await page.getByText(/The last \d+ lines, newest first/).waitFor();
    const log = (await page.locator("pre.log").textContent()).trim().split("\n");
    assert.match(log[0], /capture: stopped/);
    assert.match(log[1], /capture: started/);
    assert.match(log.at(-1), /ata: started/);
    assert.deepEqual(problems, []);
    await ctx.close();
  });

  test("Restart and Factory reset ask in the page, Cancel undoes, no script dialog", async () => {
    const { ctx, page, problems } = await newPage();
    await login(page, srv.url, "admin", PASSWORD);
    await page.goto(srv.url + "/maintenance");
    await page.evaluate(() => { window.__noReload = true; });
    const box = page.locator("#confirm-restart");
    assert.equal(await box.isVisible(), false);
    await page.getByRole("button", { name: "Restart…" }).click();
    await box.waitFor();
    assert.equal(await page.evaluate(() => window.__noReload), true, "the first click went to the server");
    assert.match(await box.textContent(), /Restart the adapter now\?.*A call in progress ends/s);
    assert.equal(await page.evaluate(() => document.activeElement.id), "h-confirm-restart");
    assert.equal(await page.getByRole("alertdialog", { name: "Restart the adapter now?" }).count(), 1);
    await shot(page, "maintenance-confirm-restart");
    await box.getByRole("link", { name: "Cancel" }).click();
    assert.equal(await box.isVisible(), false);
    assert.equal(await page.getByRole("button", { name: "Restart…" }).isVisible(), true);
    assert.equal(await page.evaluate(() => document.activeElement.textContent), "Restart…");

    const reset = page.locator("#confirm-reset");
    await page.getByRole("button", { name: "Factory reset…" }).click();
    await reset.waitFor();
    assert.match(await reset.textContent(), /Erase everything\?.*cannot be undone/s);
    await reset.getByLabel("Admin password, to confirm").fill("not the password");
    await shot(page, "maintenance-confirm-reset");
    await reset.getByRole("button", { name: "Erase everything" }).click();
    // A wrong password: the confirmation stays open with the error.
    await page.locator("#e-reset_password").waitFor();
    assert.equal(await reset.isVisible(), true);
    assert.equal(await page.getByRole("button", { name: "Factory reset…" }).isVisible(), false);
    await reset.getByRole("link", { name: "Cancel" }).click();
    assert.equal(await reset.isVisible(), false);
    assert.ok(!/reboot requested|factory reset/.test(await newestLog(page)), "something acted");

    await page.getByRole("button", { name: "Restart…" }).click();
    await box.getByRole("button", { name: "Restart now" }).click();
    await page.getByText("The adapter is restarting").waitFor();
    assert.match(await newestLog(page), /ata: reboot requested/);
    assert.deepEqual(problems, []);
    await ctx.close();
  });

  test("the Status page's Restart asks in the page too", async () => {
    const { ctx, page, problems } = await newPage();
    await login(page, srv.url, "admin", PASSWORD);
    const reboots = async () => {
      await page.goto(srv.url + "/maintenance");
      const n = (await page.locator("pre.log").textContent()).split("\n").filter((l) => /reboot requested/.test(l)).length;
      await page.goto(srv.url + "/");
      return n;
    };
    const n0 = await reboots();
    await page.evaluate(() => { window.__noReload = true; });
    await page.locator("#restart-needed").getByRole("button", { name: "Restart…" }).click();
    const box = page.locator("#confirm-restart");
    await box.waitFor();
    assert.equal(await page.locator("#restart-needed").isVisible(), false);
    assert.match(await box.textContent(), /saved changes of web\.listen take effect/);
    await shot(page, "status-confirm-restart");
    await box.getByRole("link", { name: "Cancel" }).click();
    assert.equal(await page.locator("#restart-needed").isVisible(), true);
    assert.equal(await page.evaluate(() => window.__noReload), true, "a click went to the server");
    assert.equal(await reboots(), n0, "restarted without the confirmation");
    await page.locator("#restart-needed").getByRole("button", { name: "Restart…" }).click();
    await box.getByRole("button", { name: "Restart now" }).click();
    await page.getByText("The adapter is restarting").waitFor();
    assert.equal(await reboots(), n0 + 1);
    assert.deepEqual(problems, []);
    await ctx.close();
  });

  test("without JavaScript the first click shows the confirmation from the server", async () => {
    const { ctx, page, problems } = await newPage({ javaScriptEnabled: false });
    await login(page, srv.url, "admin", PASSWORD);
    await page.locator("#restart-needed").getByRole("button", { name: "Restart…" }).click();
    await page.waitForURL(/\/\?confirm=restart#confirm-restart$/);
    assert.equal(await page.locator("#confirm-restart").isVisible(), true);
    assert.equal(await page.locator("#restart-needed").isVisible(), false);
    await page.locator("#confirm-restart").getByRole("link", { name: "Cancel" }).click();
    await page.waitForURL(srv.url + "/");
    assert.equal(await page.locator("#confirm-restart").isVisible(), false);

    await page.goto(srv.url + "/maintenance");
    await page.getByRole("button", { name: "Factory reset…" }).click();
    await page.waitForURL(/\/maintenance\?confirm=reset#confirm-reset$/);
    assert.equal(await page.locator("#confirm-reset").isVisible(), true);
    await shot(page, "nojs-maintenance-confirm-reset");
    await page.locator("#confirm-reset").getByLabel("Admin password, to confirm").fill(PASSWORD);
    await page.getByRole("button", { name: "Erase everything" }).click();
    await page.waitForURL(/\/setup$/);
    assert.deepEqual(problems, []);
    await ctx.close();
  });
});

describe("a 390 px phone", () => {
  let srv;
  before(async () => { srv = await startServer(["-demo", "-restart-needed", "web.listen"]); });
  after(() => srv?.stop());

  // fits: the page does not scroll sideways.
  async function fits(page, name) {
    const w = await page.evaluate(() => document.scrollingElement.scrollWidth);
    assert.ok(w <= 390, `${name}: the page is ${w}px wide`);
  }

  test("every page fits; the menu folds behind a button that opens and closes it", async () => {
    const { ctx, page, problems } = await newPage({ viewport: PHONE });
    await page.goto(srv.url + "/setup");
    await fits(page, "setup");
    await shot(page, "phone390-setup");
    await setPassword(page, srv.url);
    const menu = page.getByRole("button", { name: "Menu" }), nav = page.getByRole("navigation", { name: "Main" });
    for (const [name, p] of [["status", "/"], ["sip", "/sip"], ["sip-new-line", "/sip?line=2"], ["phone", "/phone"],
      ["features", "/features"], ["calls", "/calls"], ["system", "/system"], ["maintenance", "/maintenance"], ["maintenance-confirm", "/maintenance?confirm=reset"],
      ["status-confirm", "/?confirm=restart"], ["not-found", "/no/such/page"]]) {
      await page.goto(srv.url + p);
      await fits(page, name);
      assert.equal(await menu.isVisible(), true, `${name}: no menu button`);
      assert.equal(await nav.isVisible(), false, `${name}: the menu is unfolded`);
      await shot(page, `phone390-${name}`);
    }
    // Every help opened, the forms still fit.
    await page.goto(srv.url + "/sip");
    for (const b of await page.locator("button.help-toggle:visible").all()) await b.click();
    await fits(page, "sip with every help open");
    await shot(page, "phone390-sip-help");

    await page.goto(srv.url + "/");
    await menu.click();
    assert.equal(await menu.getAttribute("aria-expanded"), "true");
    assert.equal(await nav.isVisible(), true);
    const links = nav.getByRole("link");
    const n = await links.count();
    assert.ok(n >= 6, `${n} menu entries`);
    for (const l of await links.all()) {
      const b = await l.boundingBox();
      assert.ok(b.x >= 0 && b.x + b.width <= 390 && b.height >= 24, `${await l.textContent()}: ${JSON.stringify(b)}`);
    }
    const menuHeight = (await nav.boundingBox()).height;
    // Two entries a row: router mode's three more still fit a screen.
    assert.ok(menuHeight <= Math.ceil(n / 2) * 48 + 16, `the open menu is ${menuHeight}px high`);
    await fits(page, "open menu");
    await shot(page, "phone390-menu-open");
    await page.keyboard.press("Escape");
    assert.equal(await nav.isVisible(), false);
    assert.equal(await menu.getAttribute("aria-expanded"), "false");
    await menu.click();
    await nav.getByRole("link", { name: "Call Log" }).click();
    await page.waitForURL(/\/calls$/);

    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL(/\/login/);
    await fits(page, "login");
    await shot(page, "phone390-login");
    await page.goto(srv.url + "/no/such/page");
    await fits(page, "not-found logged out");
    assert.deepEqual(problems, []);
    await ctx.close();
  });

  test("without JavaScript the menu stays unfolded and fits", async () => {
    const { ctx, page, problems } = await newPage({ viewport: PHONE, javaScriptEnabled: false });
    await login(page, srv.url, "admin", PASSWORD);
    const nav = page.getByRole("navigation", { name: "Main" });
    assert.equal(await nav.isVisible(), true);
    assert.equal(await page.getByRole("button", { name: "Menu" }).isVisible(), false);
    await fits(page, "status without JavaScript");
    await shot(page, "phone390-nojs-status");
    assert.deepEqual(problems, []);
    await ctx.close();
  });

  test("on a desktop the menu is a row and the button is not there", async () => {
    const { ctx, page, problems } = await newPage();
    await login(page, srv.url, "admin", PASSWORD);
    assert.equal(await page.getByRole("button", { name: "Menu" }).isVisible(), false);
    const links = page.getByRole("navigation", { name: "Main" }).getByRole("link");
    const ys = new Set();
    for (const l of await links.all()) ys.add(Math.round((await l.boundingBox()).y));
    assert.equal(ys.size, 1, "the menu wraps on a desktop");
    assert.deepEqual(problems, []);
    await ctx.close();
  });
});
