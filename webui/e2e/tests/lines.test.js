// Lines added and deleted on the SIP page, and input that must not reach
// the wire: duplicate numbers, a header injection, a 10 kB value, an
// upload over the limit or with a wrong type.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, setPassword, shot } from "./harness.js";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

describe("SIP lines and input limits", () => {
  let srv, ctx, page;
  const problems = [];
  const config = async () => (await page.request.get(srv.url + "/api/config")).json();

  before(async () => {
    srv = await startServer(["-register-delay", "100ms"]);
    ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await ctx.newPage();
    // The refusals these tests provoke (403, 409, 413, 422) are expected.
    page.on("console", (m) => {
      if (m.type() === "error" && !/status of (403|409|413|422)/.test(m.text())) problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(String(e)));
    await setPassword(page, srv.url);
  });
  after(async () => { await ctx?.close(); srv?.stop(); });

  test("add a second line; a duplicate number is refused next to the field", async () => {
    await page.goto(srv.url + "/sip");
    await page.getByLabel("SIP Number").fill("1001");
    await page.getByLabel("SIP Service Domain").fill("example.net");
    await page.getByRole("button", { name: "Save and apply" }).click();
    await page.getByText("Saved and applied").waitFor();

    await page.getByRole("link", { name: "+ Add line" }).click();
    await page.waitForURL(/line=1/);
    assert.equal(await page.getByLabel("SIP Number").inputValue(), "");
    assert.equal(await page.getByRole("link", { name: /Delete line/ }).count(), 0, "a line not yet saved offers Delete");
    await page.getByLabel("SIP Number").fill("1001");
    await page.getByLabel("SIP Service Domain").fill("example.org");
    await page.getByRole("button", { name: "Save and apply" }).click();
    const err = page.locator("#e-number");
    await err.waitFor();
    assert.match(await err.textContent(), /1001 is already line 1's number/);
    assert.equal(await page.locator("#f-number").getAttribute("aria-invalid"), "true");
    await shot(page, "sip-duplicate-number");
    assert.equal((await config()).line.length, 1);

    await page.getByLabel("SIP Number").fill("2002");
    await page.getByRole("button", { name: "Save and apply" }).click();
    await page.getByText("Saved and applied").waitFor();
    assert.deepEqual((await config()).line.map((l) => l.number), ["1001", "2002"]);
  });

  test("a 10 kB display name is refused at its field; the page keeps its width", async () => {
    await page.goto(srv.url + "/sip?line=0");
    // The field stops typing at config's limit; a script or an old
    // browser may still send more, which the server must refuse.
    const name = page.getByLabel("Display Name");
    assert.equal(await name.getAttribute("maxlength"), "64");
    await name.evaluate((e) => e.removeAttribute("maxlength"));
    await name.fill("x".repeat(10240));
    await page.getByRole("button", { name: "Save and apply" }).click();
    const err = page.locator("#e-display_name");
    await err.waitFor();
    assert.match(await err.textContent(), /10240 characters, at most 64/);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the window`);
    await shot(page, "sip-display-name-too-long");
    assert.equal((await config()).line[0].display_name, "");
  });

  test("a crafted POST with CRLF in the display name is refused; nothing is saved", async () => {
    // A browser strips line breaks from a text field: only a crafted
    // request carries them, so it is sent as one, with the page's token.
    await page.goto(srv.url + "/sip?line=0");
    const csrf = await page.locator('meta[name="csrf-token"]').getAttribute("content");
    const form = Object.fromEntries(await page.evaluate(() => [...new FormData(document.querySelector("form.settings"))]
      .filter(([, v]) => typeof v === "string")));
    const r = await page.request.post(srv.url + "/sip", {
      form: { ...form, csrf, display_name: "Bob\r\nX-Injected: yes" }, maxRedirects: 0,
    });
    assert.equal(r.status(), 422);
    assert.match(await r.text(), /id="e-display_name">Contains a line break\./);
    assert.equal((await config()).line[0].display_name, "");
  });

  test("delete a line: a confirmation in the page, Keep it, then Delete", async () => {
    await page.goto(srv.url + "/sip?line=1");
    await page.getByRole("link", { name: "Delete line…" }).click();
    const confirm = page.locator("#confirm-delete");
    await confirm.waitFor();
    assert.match(await confirm.textContent(), /Delete line 2 \(2002\)\?/);
    await shot(page, "sip-delete-confirm");
    await confirm.getByRole("link", { name: "Keep it" }).click();
    await page.waitForURL(/\/sip\?line=1$/);
    assert.equal(await page.locator("#confirm-delete").count(), 0);
    assert.equal((await config()).line.length, 2);

    await page.getByRole("link", { name: "Delete line…" }).click();
    await page.locator("#confirm-delete").getByRole("button", { name: "Delete line 2" }).click();
    await page.getByText("Line 2 (2002) deleted").waitFor();
    assert.deepEqual((await config()).line.map((l) => l.number), ["1001"]);
    assert.equal(await page.getByRole("link", { name: /^Line 2/ }).count(), 0);
  });

  test("upload: the limit is stated; a 1.5 MB file and a wrong type get their own messages", async () => {
    await page.goto(srv.url + "/maintenance");
    await page.getByText("at most 1 MB").waitFor();
    const before = await config();
    await page.getByLabel("Configuration file").setInputFiles({
      name: "big.toml", mimeType: "application/toml", buffer: Buffer.alloc(1_500_000, "#"),
    });
    await page.getByRole("button", { name: "Upload and apply" }).click();
    const err = page.locator("#e-config");
    await err.waitFor();
    assert.match(await err.textContent(), /The file is 1\.5 MB; the limit is 1 MB\./);
    assert.doesNotMatch(await page.content(), /expired/);
    await shot(page, "maintenance-upload-too-big");

    await page.getByLabel("Configuration file").setInputFiles({
      name: "ata.toml", mimeType: "application/toml",
      buffer: Buffer.from('[[line]]\nnumber = "1001"\nservice_domain = "example.net"\nptime = "20"\n'),
    });
    await page.getByRole("button", { name: "Upload and apply" }).click();
    await page.locator("#e-config").getByText("Line 1: ptime must be a whole number such as 20, not text in quotes (ata.toml, line 4).").waitFor();
    await shot(page, "maintenance-upload-wrong-type");
    assert.deepEqual(await config(), before);
  });

  test("no console errors", () => {
    assert.deepEqual(problems, []);
  });
});
