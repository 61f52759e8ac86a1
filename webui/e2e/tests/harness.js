// Shared helpers: start webui-demo on a free port with a fresh data
// directory, launch headless Chromium.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

export const PASSWORD = "correct horse battery";
export const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || path.resolve("out/screenshots");
mkdirSync(SCREENSHOT_DIR, { recursive: true });

// startServer runs the demo binary and resolves to { url, stop }.
export function startServer(args = []) {
  const bin = process.env.WEBUI_DEMO;
  if (!bin) throw new Error("WEBUI_DEMO is not set: run webui/e2e/run.sh");
  const data = mkdtempSync(path.join(tmpdir(), "webui-e2e-"));
  const proc = spawn(bin, ["-listen", "127.0.0.1:0", "-data", data, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stderr.on("data", (d) => { log += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("webui-demo did not start: " + log)), 15000);
    proc.on("exit", (code) => reject(new Error(`webui-demo exited ${code}: ${log}`)));
    let out = "";
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1],
          log: () => log,
          stop() {
            proc.removeAllListeners("exit");
            proc.kill();
            rmSync(data, { recursive: true, force: true });
          },
        });
      }
    });
  });
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

export async function setPassword(page, url, pw = PASSWORD) {
  await page.goto(url + "/setup");
  await page.getByLabel("New admin password").fill(pw);
  await page.getByLabel("Repeat the password").fill(pw);
  await page.getByRole("button", { name: "Set password" }).click();
  await page.waitForURL(/\/sip/);
}

export async function login(page, url, user, pw) {
  await page.goto(url + "/login");
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password").fill(pw);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForLoadState("load");
}

export async function shot(page, name) {
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, name + ".png"), fullPage: true });
}
