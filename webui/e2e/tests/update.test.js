// The Maintenance page's firmware update in the browser: a bundle with a
// bad signature or for another board is refused with nothing written; a
// good one is uploaded (progress bar), its manifest shown, installed, and
// the page follows the restart to the committed new version; the Status
// page then shows both slots.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startServer, launch, setPassword, shot } from "./harness.js";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

describe("firmware update", () => {
  let srv, ctx, page, dir;
  const problems = [];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "webui-e2e-update-"));
    srv = await startServer(["-update", dir]);
    ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await ctx.newPage();
    // The refusals this test provokes (422) are expected.
    page.on("console", (m) => {
      if (m.type() === "error" && !/status of 422/.test(m.text())) problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(String(e)));
    await setPassword(page, srv.url);
  });
  after(async () => { await ctx?.close(); srv?.stop(); rmSync(dir, { recursive: true, force: true }); });

  const slots = async () => page.locator("#update-slots tbody tr").evaluateAll((rows) =>
    rows.map((r) => [...r.cells].map((c) => c.textContent.replace(/\s+/g, " ").trim()).join(" | ")));

  test("refused bundles name the problem and write nothing", async () => {
    await page.goto(srv.url + "/maintenance");
    assert.deepEqual(await slots(), ["A (p2) | v1 | running, starts by default", "B (p3) | empty | "]);
    for (const [file, words] of [["bad-signature.update", /Refused, nothing was written: bad signature/], ["ata-rpi4-v2.update", /Refused, nothing was written: the bundle is for board rpi4; this is a rpi3/]]) {
      await page.setInputFiles("#f-bundle", path.join(dir, file));
      await page.getByRole("button", { name: "Upload and check" }).click();
      await page.locator("#update-message.error").waitFor();
      assert.match(await page.locator("#update-message").textContent(), words);
      assert.equal(await page.locator("#update-manifest").isHidden(), true);
    }
    await shot(page, "maintenance-update-refused");
    const st = await (await page.request.get(srv.url + "/api/update")).json();
    assert.equal(st.pending, undefined);
    assert.equal(st.slots[1].manifest, undefined);
  });

  test("upload, check, install and follow the restart", async () => {
    await page.goto(srv.url + "/maintenance");
    await page.setInputFiles("#f-bundle", path.join(dir, "ata-rpi3-v2.update"));
    await page.getByRole("button", { name: "Upload and check" }).click();
    await page.locator("#update-manifest").waitFor({ state: "visible" });
    assert.equal(await page.locator("#um-version").textContent(), "v2");
    assert.equal(await page.locator("#um-board").textContent(), "rpi3");
    assert.match(await page.locator("#um-signature").textContent(), /^OK \(key [0-9a-f]{16}\), hash OK$/);
    assert.equal(await page.locator("#update-progress").getAttribute("value"), "100");
    assert.deepEqual(await slots(), ["A (p2) | v1 | running, starts by default", "B (p3) | empty | "], "checking wrote nothing");
    await shot(page, "maintenance-update-checked");
    await page.getByRole("button", { name: "Install and restart" }).click();
    await page.getByText("Version v2 runs and has committed itself.").waitFor({ timeout: 15000 });
    await page.waitForLoadState("load");
    await page.locator("#update-last").waitFor();
    assert.match(await page.locator("#update-last").textContent(), /Version v2 was installed and committed itself/);
    assert.deepEqual(await slots(), ["A (p2) | v1 | previous version", "B (p3) | v2 | running, starts by default"]);
    await shot(page, "maintenance-update-done");
    await page.goto(srv.url + "/");
    assert.deepEqual(await slots(), ["A (p2) | v1 | previous version", "B (p3) | v2 | running, starts by default"], "the Status page's slots");
    assert.deepEqual(problems, []);
  });
});
