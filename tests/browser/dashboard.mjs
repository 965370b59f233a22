// Drives Sluice's dashboard in headless Chromium against a running host, as
// tests/all/dashboard.rs sets it up (a fleet updating in the background).
// Exits non-zero on the first thing a person would find wrong; prints one JSON
// line of figures at the end.
//
// Environment: SLUICE_URL, SLUICE_TOKEN (alice's: operator and auditor),
// VIEWER_TOKEN (vera's: viewer), CAMPAIGN (running), HALTED (halted by
// its policy), PROBE ("id:secret" of a device offered CAMPAIGN that nothing
// else drives), SCREENSHOTS (a directory), CHROMIUM (default /usr/bin/chromium).

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const url = env("SLUICE_URL");
const token = env("SLUICE_TOKEN");
const viewerToken = env("VIEWER_TOKEN");
const campaign = env("CAMPAIGN");
const halted = env("HALTED");
const [probeId, probeSecret] = env("PROBE").split(":");
const shots = env("SCREENSHOTS");
mkdirSync(shots, { recursive: true });

const check = (ok, message) => {
  if (!ok) throw new Error(message);
};

async function adminApi(method, path) {
  const response = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
  check(response.ok, `${method} ${path}: ${response.status}`);
  return response.json();
}

async function probe(path, body) {
  const auth = Buffer.from(`${probeId}:${probeSecret}`).toString("base64");
  const response = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { authorization: `Basic ${auth}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  check(response.ok, `probe ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const figures = { screenshots: [] };
const problems = [];

// Every page is watched for script errors, CSP violations and a token in a URL.
async function open(viewport) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.on("pageerror", (error) => problems.push(`script error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && !/Failed to load resource: the server responded with a status of 401/.test(message.text())) {
      problems.push(`console error: ${message.text()}`);
    }
  });
  page.on("request", (request) => {
    if (request.url().includes(token)) problems.push(`the token is in a URL: ${request.url()}`);
    const host = new URL(request.url()).origin;
    if (host !== new URL(url).origin && !request.url().startsWith("data:") && !request.url().startsWith("blob:")) {
      problems.push(`a request to another host: ${request.url()}`);
    }
  });
  return { context, page };
}

async function shot(page, name) {
  const path = join(shots, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  figures.screenshots.push(path);
}

// Signs in with a token; the page then says whose it is.
async function signIn(page, withToken = token) {
  await page.goto(`${url}/`);
  await page.locator("#signin").waitFor({ state: "visible" });
  await page.fill("#token", withToken);
  await page.click("#signin button[type=submit]");
  await page.locator("#nav").waitFor({ state: "visible" });
  await page.locator("#who").waitFor({ state: "visible" });
}

const tileValue = async (page, tile) =>
  Number((await page.locator(`[data-tile=${tile}] .value`).innerText()).replaceAll(",", ""));

async function waitFor(what, condition, ms = 15000) {
  const start = Date.now();
  for (;;) {
    if (await condition()) return Date.now() - start;
    if (Date.now() - start > ms) throw new Error(`waited ${ms} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

try {
  // ---- desktop -------------------------------------------------------------
  const { context, page } = await open({ width: 1280, height: 800 });

  // The first load: what it weighs, and that it is the sign-in page only.
  await page.goto(`${url}/`, { waitUntil: "networkidle" });
  figures.page_weight_bytes = await page.evaluate(() =>
    performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"))
      .reduce((sum, entry) => sum + entry.transferSize, 0));
  figures.first_load_requests = await page.evaluate(() => 1 + performance.getEntriesByType("resource").length);
  check(await page.locator("#signin").isVisible(), "the sign-in form is not shown");
  check(!(await page.locator("#nav").isVisible()), "navigation shown before sign-in");
  await shot(page, "signin-1280");

  // A wrong token is refused and nothing is kept.
  await page.fill("#token", "not-the-token");
  await page.click("#signin button[type=submit]");
  await waitFor("the refusal", async () => (await page.locator("#signin-error").innerText()).includes("refused"));
  check(await page.evaluate(() => sessionStorage.length === 0), "a refused token was kept");

  await signIn(page);
  const who = await page.locator("#who").innerText();
  check(who.includes("alice") && who.includes("operator"), `the page says it is ${JSON.stringify(who)}`);
  check(!(await page.locator("#owner-warning").isVisible()), "a personal token is warned about as the owner's");
  check(await page.evaluate(() => localStorage.length === 0), "something was put in localStorage");
  check((await context.cookies()).length === 0, "a cookie was set");
  await page.locator("tr[data-campaign]").first().waitFor();
  await shot(page, "campaigns-1280");

  // Progress moves on the campaign page without a reload.
  await page.goto(`${url}/#/campaigns/${campaign}`);
  await page.locator("[data-tile=succeeded]").waitFor();
  const before = await tileValue(page, "succeeded");
  const navigations = [];
  page.on("framenavigated", (frame) => { if (frame === page.mainFrame()) navigations.push(frame.url()); });
  await waitFor("succeeded to grow", async () => (await tileValue(page, "succeeded")) > before);
  figures.succeeded_seen = [before, await tileValue(page, "succeeded")];
  // What the campaign can reach, and when it should finish (or why not).
  const progress = await adminApi("GET", `/v1/admin/campaigns/${campaign}`);
  check((await tileValue(page, "reach")) === progress.campaign.reach.devices,
    `the page says it can reach ${await tileValue(page, "reach")}, the API ${progress.campaign.reach.devices}`);
  check(/devices (to go|it could reach)/.test(await page.locator("#eta-basis").innerText()), "no word on when it finishes");
  check((await page.locator(".panel h2", { hasText: "Rollout curve" }).innerText()).includes("since the campaign began"), "the curve is not the campaign's");
  // The failure rate against the threshold the policy states (max_rate 0.99),
  // once its minimum sample (20, the standard policy's default) has finished,
  // and where devices are.
  const verdictText = () => page.locator('[data-scope="the campaign"] .verdict').innerText();
  await waitFor("the policy's minimum sample to finish", async () => !(await verdictText()).startsWith("too few finished"));
  const verdict = await verdictText();
  check(verdict.startsWith("within the threshold with 95% confidence"), `the campaign's failure rate is judged ${JSON.stringify(verdict)}`);
  check(await page.locator("#phases [data-phase=downloading]").count() === 1, "no phase counts");

  // From a device's report to the page: the probe device finishes its update.
  const offer = await probe("/v1/checkin", { hardware: "cam-v2", version: "1.0.0", security_version: 1 });
  check(offer.action === "update", `the probe device was not offered: ${JSON.stringify(offer)}`);
  for (const state of ["downloading", "installing"]) await probe("/v1/status", { campaign, state });
  await probe("/v1/status", { campaign, state: "succeeded" });
  const reported = Date.now();
  const counted = (await adminApi("GET", `/v1/admin/campaigns/${campaign}`)).total.succeeded;
  // The page polls every 2 s; the bound is generous so a loaded machine does not fail it.
  await waitFor("the probe's report on the page", async () => (await tileValue(page, "succeeded")) >= counted, 10000);
  figures.report_to_page_ms = Date.now() - reported;
  check(navigations.length === 0, `the page reloaded: ${navigations}`);
  await shot(page, "campaign-running-1280");

  // Pause: the confirmation says what it does, and the page shows it.
  await page.click("button[data-action=pause]");
  const dialog = page.locator("#confirm");
  await dialog.waitFor({ state: "visible" });
  const said = await page.locator("#confirm-text").innerText();
  check(/No device will be offered/.test(said) && /carry on/.test(said), `the pause confirmation says: ${said}`);
  await shot(page, "campaign-pause-confirm-1280");
  // Cancel first: nothing happens.
  await page.click("#confirm-cancel");
  check((await adminApi("GET", `/v1/admin/campaigns/${campaign}`)).campaign.state === "running", "cancel paused the campaign");
  await page.click("button[data-action=pause]");
  await page.click("#confirm-ok");
  await waitFor("the paused badge", async () => (await page.locator("#campaign-state").innerText()).trim() === "paused", 5000);
  check((await adminApi("GET", `/v1/admin/campaigns/${campaign}`)).campaign.state === "paused", "the API does not say paused");
  check(await page.locator("button[data-action=resume]").isVisible(), "no resume button on a paused campaign");
  await shot(page, "campaign-paused-1280");

  // A halted campaign shows the policy's reason.
  const haltedRecord = (await adminApi("GET", `/v1/admin/campaigns/${halted}`)).campaign;
  check(haltedRecord.state === "halted", `${halted} is ${haltedRecord.state}`);
  await page.goto(`${url}/#/campaigns/${halted}`);
  await page.locator("#halt-reason").waitFor();
  const banner = await page.locator("#halt-reason").innerText();
  check(banner.includes("Halted by the rollout policy") && banner.includes(haltedRecord.reason),
    `the halt banner says ${JSON.stringify(banner)}, the reason is ${JSON.stringify(haltedRecord.reason)}`);
  await shot(page, "campaign-halted-1280");

  // The audit log shows the pause, who did it and when.
  await page.goto(`${url}/#/audit`);
  await page.locator("#audit tbody tr").first().waitFor();
  const pauseRow = page.locator("#audit tbody tr", { hasText: "campaign.pause" }).first();
  await pauseRow.waitFor();
  const cells = await pauseRow.locator("td").allInnerTexts();
  check(cells[2] === "alice", `the pause was done by ${cells[2]}`);
  check(cells[4] === campaign, `the pause names ${cells[4]}`);
  check(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/.test(cells[1]), `the pause happened at ${cells[1]}`);
  await shot(page, "audit-1280");
  await page.fill("#audit-filter", "campaign.pause alice");
  await waitFor("the filter", async () => (await page.locator("#audit tbody tr").count()) === 1, 5000);
  // Export: JSON lines that parse, one per entry, the pause among them.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-jsonl")]);
  const path = await download.path();
  const { readFileSync } = await import("node:fs");
  const lines = readFileSync(path, "utf8").trim().split("\n").map((line) => JSON.parse(line));
  const head = (await adminApi("GET", "/v1/admin/audit?limit=1")).head.seq;
  check(lines.length >= head - 1 && lines.some((e) => e.action === "campaign.pause" && e.actor === "alice"),
    `the export has ${lines.length} entries (head ${head})`);
  const [csv] = await Promise.all([page.waitForEvent("download"), page.click("#export-csv")]);
  const csvText = readFileSync(await csv.path(), "utf8");
  check(csvText.startsWith("seq,at,actor,action,target"), "the CSV has no header row");

  await page.goto(`${url}/#/releases`);
  await page.locator("tr[data-release]").first().waitFor();
  await shot(page, "releases-1280");

  // The fleet: the summary agrees with the API; search finds the probe device,
  // whose page shows its history of reports.
  const fleet = await adminApi("GET", "/v1/admin/fleet");
  await page.goto(`${url}/#/fleet`);
  await page.locator("[data-tile=devices]").waitFor();
  check((await tileValue(page, "devices")) === fleet.devices, `the page counts ${await tileValue(page, "devices")} devices, the API ${fleet.devices}`);
  check((await tileValue(page, "online")) > 0, "no device online");
  check((await page.locator("svg.bars").first().getAttribute("aria-label")).includes("cam-v2"), "no cam-v2 in the hardware chart");
  await page.locator("tr[data-device]").first().waitFor();
  await page.fill("#device-search", `${probeId} field`);
  await waitFor("the search to find the probe alone", async () =>
    (await page.locator("tr[data-device]").count()) === 1 && (await page.locator(`tr[data-device="${probeId}"]`).count()) === 1, 5000);
  await shot(page, "fleet-1280");
  await page.click(`tr[data-device="${probeId}"] a`);
  await page.locator("#history").waitFor();
  const events = await page.locator("#history tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.event));
  check(JSON.stringify(events.slice(0, 4)) === JSON.stringify(["succeeded", "installing", "downloading", "offered"]),
    `the probe's history reads ${events}`);
  check((await page.locator("#device-rollout").innerText()).includes(campaign), "the device page does not name its campaign");
  await shot(page, "device-1280");

  // A new campaign: the preview says what the server's policy predicts before
  // anything starts; creating it is confirmed, then shown.
  await page.goto(`${url}/#/campaigns`);
  await page.click("#new-campaign");
  await page.locator("#nc-release option").first().waitFor({ state: "attached" });
  await page.fill("#nc-name", "from the page");
  await page.fill("#nc-tags", "nobody-yet");
  await page.fill("#nc-policy", JSON.stringify({ stages: [{ percent: 5, soak: "1h" }, { percent: 100 }] }));
  check(await page.locator("#nc-create").isDisabled(), "a campaign can start before its preview");
  await page.click("#nc-preview");
  await page.locator("#nc-preview-result").waitFor();
  const to99 = await page.locator("#nc-to99").innerText();
  const exposure = await page.locator("#nc-exposure").innerText();
  check(/^99% after [\d.]+ (h|min)$/.test(to99), `the preview says ${to99}`);
  check(/halted after .* devices \([\d.]+%\) exposed/.test(exposure), `the preview says ${exposure}`);
  figures.preview = { to99, exposure };
  await shot(page, "campaign-new-1280");
  await page.click("#nc-create");
  await page.locator("#confirm").waitFor({ state: "visible" });
  check((await page.locator("#confirm-text").innerText()).includes("nobody-yet"), "the confirmation does not say who gets it");
  await page.click("#confirm-ok");
  await page.waitForURL(/#\/campaigns\/c\d+$/);
  const created = decodeURIComponent(page.url().split("/").pop());
  const record = (await adminApi("GET", `/v1/admin/campaigns/${created}`)).campaign;
  check(record.name === "from the page" && record.selector.tags[0] === "nobody-yet" && record.reach.devices === 0,
    `the page created ${JSON.stringify(record)}`);

  // Signing out forgets the token.
  await page.click("#signout");
  check(await page.evaluate(() => sessionStorage.length === 0), "the token outlived sign-out");
  await context.close();

  // ---- a viewer --------------------------------------------------------------
  // The page offers a viewer nothing it may not do: no new campaign, no
  // pause or resume, no audit log. (The server refuses them anyway.)
  const viewer = await open({ width: 1280, height: 800 });
  await signIn(viewer.page, viewerToken);
  const vera = await viewer.page.locator("#who").innerText();
  check(vera.includes("vera") && vera.includes("viewer"), `the viewer's page says ${JSON.stringify(vera)}`);
  await viewer.page.locator("tr[data-campaign]").first().waitFor();
  check(await viewer.page.locator("#new-campaign").count() === 0, "a viewer is offered a new campaign");
  check(!(await viewer.page.locator("#nav a[data-view=audit]").isVisible()), "a viewer is offered the audit log");
  await viewer.page.goto(`${url}/#/campaigns/${campaign}`);
  await viewer.page.locator("[data-tile=succeeded]").waitFor();
  check(await viewer.page.locator("button[data-action]").count() === 0, "a viewer is offered campaign actions");
  await shot(viewer.page, "campaign-viewer-1280");
  await viewer.context.close();

  // ---- phone -----------------------------------------------------------------
  const phone = await open({ width: 390, height: 844 });
  await phone.page.goto(`${url}/`);
  await shot(phone.page, "signin-390");
  await signIn(phone.page);
  for (const [name, hash, ready] of [
    ["campaigns-390", "#/campaigns", "tr[data-campaign]"],
    ["campaign-paused-390", `#/campaigns/${campaign}`, "[data-tile=succeeded]"],
    ["campaign-halted-390", `#/campaigns/${halted}`, "#halt-reason"],
    ["releases-390", "#/releases", "tr[data-release]"],
    ["fleet-390", "#/fleet", "tr[data-device]"],
    ["device-390", `#/devices/${probeId}`, "#history"],
    ["audit-390", "#/audit", "#audit tbody tr"],
  ]) {
    await phone.page.goto(`${url}/${hash}`);
    await phone.page.locator(ready).first().waitFor();
    // Nothing wider than the screen.
    const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `${name} is ${overflow} px wider than a phone`);
    await shot(phone.page, name);
  }
  await phone.context.close();

  check(problems.length === 0, problems.join("\n"));
  console.log(JSON.stringify(figures));
} catch (error) {
  console.error(error.stack || String(error));
  if (problems.length) console.error(problems.join("\n"));
  process.exitCode = 1;
} finally {
  await browser.close();
}
