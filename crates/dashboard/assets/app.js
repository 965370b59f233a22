// Sluice's dashboard: a page over the admin API, nothing else. Every action it
// offers is an admin API call that works without it. The token lives in
// this tab's sessionStorage only (gone when the tab closes), never in a URL.
// Text from the server is only ever set as text, never parsed as HTML.

const POLL_MS = 2000;
const TOKEN_KEY = "sluice-token";
const OUTCOMES = ["succeeded", "failed", "rolled_back", "rejected"];

// ---- DOM ----------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  append(node, children);
  return node;
}

const $ = (selector) => document.querySelector(selector);

// ---- formatting ---------------------------------------------------------

const number = new Intl.NumberFormat("en");
const fmt = (n) => number.format(n ?? 0);
const pct = (x) => (x === null || Number.isNaN(x) ? "–" : `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`);

function when(unix) {
  if (!unix) return "–";
  return new Date(unix * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

function ago(unix) {
  const s = Math.max(0, Math.round(Date.now() / 1000 - unix));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// An id in a path. Ids are letters, digits and . _ - + ~, and the server takes
// paths as they come, so a "+" must stay a "+".
const idPath = (id) => encodeURIComponent(id).replaceAll("%2B", "+");

const label = (text) => String(text).replaceAll("_", " ");
const badge = (state) => el("span", { class: `badge ${state}` }, label(state));

// ---- the session and the API ---------------------------------------------

// Who the token belongs to (GET /v1/admin/whoami) is asked again on every
// load, never kept: the page offers only what the token's scopes allow, and
// the server refuses the rest whatever the page shows.
const session = {
  me: null,
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  start(token) { sessionStorage.setItem(TOKEN_KEY, token); },
  end() { sessionStorage.removeItem(TOKEN_KEY); this.me = null; },
};

const can = (scope) => Boolean(session.me?.scopes?.includes(scope));
const roleNames = () => (session.me?.roles || []).join(", ");

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
  });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (response.status === 401) {
    signOut(`The server refused the token${json?.message ? ` (${json.message})` : ""}. Sign in again.`);
    throw new ApiError(401, "signed out");
  }
  if (!response.ok) {
    throw new ApiError(response.status, json?.error?.message || json?.message || `${response.status} ${response.statusText}`);
  }
  return json;
}

// ---- sign-in ------------------------------------------------------------

function showSignIn(message = "") {
  stopPolling();
  $("#signin").hidden = false;
  $("#view").replaceChildren();
  $("#nav").hidden = true;
  $("#signout").hidden = true;
  $("#who").hidden = true;
  $("#owner-warning").hidden = true;
  $("#live").hidden = true;
  $("#signin-error").textContent = message;
  $("#token").focus();
}

function signOut(message = "") {
  session.end();
  showSignIn(message);
}

async function signIn(event) {
  event.preventDefault();
  const token = $("#token").value.trim();
  session.start(token);
  $("#token").value = "";
  if (await whoami()) {
    $("#signin").hidden = true;
    route();
  }
}

// Asks the server who the token belongs to; false (and signed out) if it
// refuses or cannot be reached.
async function whoami() {
  try {
    session.me = await api("GET", "/v1/admin/whoami");
  } catch (error) {
    if (error.status !== 401) signOut(`Cannot reach the admin API: ${error.message}`);
    return false;
  }
  const me = session.me;
  $("#who").textContent = `${me.name} · ${roleNames()}`;
  $("#who").title = `Scopes: ${me.scopes.join(", ")}${me.expires_at ? `. The token expires ${when(me.expires_at)}.` : ""}`;
  $("#who").hidden = false;
  $("#owner-warning").hidden = me.name !== "owner";
  for (const link of document.querySelectorAll("#nav a[data-scope]")) {
    link.hidden = !can(link.dataset.scope);
  }
  return true;
}

// ---- confirmation ---------------------------------------------------------

function confirmAction(title, text, ok) {
  const dialog = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = ok;
  return new Promise((resolve) => {
    const done = (answer) => {
      $("#confirm-ok").onclick = null;
      $("#confirm-cancel").onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    $("#confirm-ok").onclick = () => done(true);
    $("#confirm-cancel").onclick = () => done(false);
    dialog.onclose = () => done(false);
    dialog.showModal();
    $("#confirm-cancel").focus();
  });
}

// ---- live updates -----------------------------------------------------------

let timer = null;
let current = null; // the view on screen: { refresh() }
let lastUpdate = 0;

function stopPolling() {
  clearTimeout(timer);
  timer = null;
  current = null;
}

async function tick(view) {
  if (current !== view) return;
  try {
    await view.refresh();
    lastUpdate = Date.now();
  } catch (error) {
    if (error.status === 401) return;
    view.failed?.(error);
  }
  showLive();
  if (current === view) timer = setTimeout(() => tick(view), POLL_MS);
}

function showLive() {
  const live = $("#live");
  live.hidden = false;
  const stale = Date.now() - lastUpdate > 3 * POLL_MS;
  live.classList.toggle("stale", stale);
  live.textContent = lastUpdate
    ? `${stale ? "Not updating since" : "Live · updated"} ${new Date(lastUpdate).toLocaleTimeString("en-GB")}`
    : "Connecting…";
}

// ---- views ------------------------------------------------------------------

async function route() {
  if (!session.token) return showSignIn();
  if (!session.me && !(await whoami())) return undefined;
  stopPolling();
  $("#signin").hidden = true;
  $("#nav").hidden = false;
  $("#signout").hidden = false;
  const [, view = "campaigns", id] = (location.hash || "#/campaigns").split("/");
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.view === (view === "devices" ? "fleet" : view));
  }
  const views = {
    campaigns: id ? campaignView : campaignsView, releases: releasesView, audit: auditView,
    fleet: fleetView, devices: id ? deviceView : fleetView,
  };
  const make = can("fleet:read") ? views[view] || campaignsView : noReadView;
  const root = $("#view");
  root.replaceChildren();
  const made = make(root, id && decodeURIComponent(id));
  current = made;
  tick(made);
}

// A token that may not read the fleet (a Prometheus scraper's) has nothing
// to see here.
function noReadView(root) {
  root.append(el("div", { class: "panel empty", id: "no-read" },
    `This token (${session.me.name}: ${roleNames()}) may not read the fleet; it holds ${session.me.scopes.join(", ") || "no scope"}. Sign in with a token that has fleet:read.`));
  return { async refresh() {} };
}

function failure(root) {
  const box = el("p", { class: "error", role: "alert" });
  root.append(box);
  return {
    show(error) { box.textContent = error ? `Could not load: ${error.message}` : ""; },
  };
}

// Campaign list.
function campaignsView(root) {
  const body = el("div");
  const problem = failure(root);
  const form = newCampaignForm();
  root.append(el("div", { class: "row" }, el("h1", {}, "Campaigns"), el("span", { class: "spacer" }),
    can("campaign:create") ? el("button", { type: "button", class: "primary", id: "new-campaign", onclick: () => { form.hidden = !form.hidden; } }, "New campaign") : null),
  form, body);
  return {
    async refresh() {
      const { campaigns } = await api("GET", "/v1/admin/campaigns");
      problem.show(null);
      if (!campaigns.length) {
        body.replaceChildren(el("p", { class: "panel empty" }, "No campaigns yet. Create one with ",
          el("code", {}, "sluice campaign create"), "."));
        return;
      }
      const rows = [...campaigns].reverse().map((c) => el("tr", {
        class: "link-row", "data-campaign": c.id,
        onclick: () => { location.hash = `#/campaigns/${idPath(c.id)}`; },
      },
      el("td", { "data-label": "Campaign" }, el("a", { href: `#/campaigns/${idPath(c.id)}` }, c.id)),
      el("td", { "data-label": "Name" }, c.name || ""),
      el("td", { "data-label": "Release" }, c.release),
      el("td", { "data-label": "State" }, c.waiting ? badge("waiting") : badge(c.state)),
      el("td", { "data-label": "Step" }, c.step || ""),
      el("td", { class: "nowrap", "data-label": "Created" }, when(c.created_at)),
      el("td", { "data-label": "" }, c.critical ? "critical" : "")));
      body.replaceChildren(el("div", { class: "panel table-wrap" }, el("table", { class: "stack" },
        el("thead", {}, el("tr", {}, ["Campaign", "Name", "Release", "State", "Step", "Created", ""].map((h) => el("th", {}, h)))),
        el("tbody", {}, rows))));
    },
    failed: (error) => problem.show(error),
  };
}

// Creating a campaign: a release, who gets it, a policy configuration; and,
// before it starts, what the server's own policy predicts for it (a good
// release's pace, and how far a bad one gets before the policy stops it).
function newCampaignForm() {
  const field = (labelText, input, hint, wide) => el("label", { class: wide ? "field wide" : "field" }, el("span", {}, labelText, hint ? el("span", { class: "hint" }, ` ${hint}`) : null), input);
  const release = el("select", { id: "nc-release", required: true });
  const name = el("input", { id: "nc-name", type: "text", maxlength: 200 });
  const hardware = el("input", { id: "nc-hardware", type: "text", placeholder: "every hardware the release has", spellcheck: "false" });
  const tags = el("input", { id: "nc-tags", type: "text", placeholder: "none", spellcheck: "false" });
  const policy = el("textarea", { id: "nc-policy", rows: 6, spellcheck: "false" });
  policy.value = "{}";
  const critical = el("input", { id: "nc-critical", type: "checkbox" });
  const result = el("div", { id: "nc-result", "aria-live": "polite" });
  const previewButton = el("button", { type: "button", id: "nc-preview" }, "Preview");
  const createButton = el("button", { type: "button", id: "nc-create", class: "primary", disabled: true }, "Create campaign");
  const form = el("form", { class: "panel new-campaign", id: "nc-form", hidden: true, onsubmit: (e) => e.preventDefault() },
    el("h2", {}, "New campaign"),
    el("div", { class: "fields" },
      field("Release", release), field("Name", name),
      field("Hardware", hardware, "(comma-separated)"), field("Tags every device must have", tags, "(comma-separated)"),
      field("Rollout policy configuration", policy, "(JSON; {} is the policy's default)", true),
      el("label", { class: "check" }, critical, " Critical (passes maintenance windows; freezes only when an operator says so)")),
    el("div", { class: "actions" }, previewButton, createButton),
    result);

  let releases = [];
  let previewed = null;
  // Each edit and each preview asked starts a new generation: an answer to
  // an older one is dropped, so what starts is always what was previewed.
  let generation = 0;
  const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);
  const body = () => {
    let parsed;
    try { parsed = JSON.parse(policy.value || "{}"); } catch (error) { throw new Error(`The policy configuration is not JSON: ${error.message}`); }
    return { release: release.value, name: name.value.trim(), selector: { hardware: list(hardware.value), tags: list(tags.value) }, policy: parsed, critical: critical.checked };
  };
  // Anything edited after the preview needs a new one before it can start.
  const edited = () => { generation++; previewed = null; createButton.disabled = true; };
  form.addEventListener("input", edited);
  form.addEventListener("change", edited);

  async function load() {
    releases = (await api("GET", "/v1/admin/releases")).releases;
    release.replaceChildren(...[...releases].reverse().map((r) => el("option", { value: r.version }, `${r.version} (${r.manifests.flatMap((m) => m.hardware).join(", ")})`)));
  }
  new MutationObserver(() => { if (!form.hidden && !releases.length) load().catch((e) => result.replaceChildren(el("p", { class: "error" }, e.message))); })
    .observe(form, { attributes: true, attributeFilter: ["hidden"] });

  previewButton.addEventListener("click", async () => {
    let request;
    try { request = body(); } catch (error) { result.replaceChildren(el("p", { class: "error" }, error.message)); return; }
    const asked = ++generation;
    previewed = null;
    createButton.disabled = true;
    const chosen = releases.find((r) => r.version === request.release);
    try {
      const fleet = await api("GET", "/v1/admin/fleet");
      const kinds = request.selector.hardware.length ? request.selector.hardware : (chosen?.manifests.flatMap((m) => m.hardware) || []);
      const upTo = kinds.reduce((n, h) => n + (Object.hasOwn(fleet.hardware, h) ? fleet.hardware[h] : 0), 0);
      const devices = Math.min(10000, Math.max(100, upTo));
      result.replaceChildren(el("p", { class: "muted" }, `Simulating ${fmt(devices)} devices…`));
      const p = await api("POST", "/v1/admin/simulate", { policy: request.policy, critical: request.critical, devices });
      if (asked !== generation) return;
      previewed = { request, upTo, p };
      createButton.disabled = false;
      const h = (x) => (x === null || x === undefined ? "not within the simulated " + p.days + " days" : `after ${x < 1 ? `${Math.round(x * 60)} min` : `${x.toFixed(1)} h`}`);
      const bad = p.bad;
      result.replaceChildren(el("div", { class: "preview", id: "nc-preview-result" },
        el("p", {}, el("strong", {}, "A good release: "), `50% of the fleet ${h(p.good.hours_to_50)}, 90% ${h(p.good.hours_to_90)}, `,
          el("span", { id: "nc-to99" }, `99% ${h(p.good.hours_to_99)}`), `; at most ${fmt(p.good.peak_concurrency)} devices updating at once.`),
        el("p", {}, el("strong", {}, `A release that fails on ${pct(p.bad_fail_rate)} of devices: `),
          el("span", { id: "nc-exposure" }, bad.halted
            ? `${bad.rolled_back ? "rolled back" : "halted"} ${h(bad.halted_at_hours)}, with ${fmt(bad.exposed)} devices (${pct(bad.exposed_fraction)}) exposed`
            : `never halted: ${fmt(bad.exposed)} devices (${pct(bad.exposed_fraction)}) exposed`),
          bad.reason ? ` (${bad.reason})` : "", "."),
        el("p", { class: "muted" }, `Simulated with this server's policy over ${fmt(p.devices)} devices polling every ${duration(p.poll_seconds)}, as sluice policy simulate does; the campaign can reach up to ${fmt(upTo)}.`)));
    } catch (error) {
      if (error.status !== 401) result.replaceChildren(el("p", { class: "error" }, `Preview failed: ${error.message}`));
    }
  });

  createButton.addEventListener("click", async () => {
    if (!previewed) return;
    const { request, upTo } = previewed;
    const ok = await confirmAction(`Start rolling out ${request.release}?`,
      `Up to ${fmt(upTo)} devices${request.selector.tags.length ? ` tagged ${request.selector.tags.join(", ")}` : ""} will be offered ${request.release} as the policy opens its stages${request.critical ? ", inside or outside their maintenance windows (critical)" : ""}.`,
      "Start the campaign");
    if (!ok) return;
    try {
      const c = await api("POST", "/v1/admin/campaigns", request);
      location.hash = `#/campaigns/${idPath(c.id)}`;
    } catch (error) {
      if (error.status !== 401) result.replaceChildren(el("p", { class: "error" }, `Not created: ${error.message}`));
    }
  });
  return form;
}

// What each operator action does, to say so before it is done.
function actionText(action, p) {
  const c = p.campaign;
  const inFlight = p.in_flight;
  const installed = p.total.succeeded;
  switch (action) {
    case "pause":
      return [`Pause campaign ${c.id}?`,
        `No device will be offered ${c.release} until you resume. The ${fmt(inFlight)} device(s) already updating carry on.`,
        "Pause"];
    case "resume":
      return [`Resume campaign ${c.id}?`,
        `Devices will again be offered ${c.release} as the rollout policy allows${c.state === "halted" ? ", although the policy halted it" : ""}.`,
        "Resume"];
    case "abort":
      return [`Abort campaign ${c.id}?`,
        `No more offers. The ${fmt(inFlight)} device(s) still updating are told to stop and keep their current version. This cannot be undone.`,
        "Abort"];
    case "rollback":
      return [`Roll back campaign ${c.id}?`,
        `The ${fmt(installed)} device(s) that installed ${c.release} are sent back to the version they ran before, and no more offers are made. This cannot be undone.`,
        "Roll back"];
    case "confirm-critical":
      return [`Confirm that ${c.id} is critical?`,
        `${c.created_by || "Its creator"} asked for it. From now on it passes maintenance windows (and blackouts or freezes where its policy and a confirmed override say so).`,
        "Confirm critical"];
    case "approve":
      return [`Approve the next step of ${c.id}?`,
        `${c.waiting?.opens || "The next step"} opens and its devices are offered ${c.release}. Figures now: ${fmt(p.total.succeeded)} succeeded, ${fmt(p.total.failed)} failed, ${fmt(inFlight)} updating.`,
        "Approve"];
    default:
      return [action, "", action];
  }
}

// Whether the signed-in operator may give a campaign's second pair of eyes:
// it holds campaign:approve and did not create the campaign.
const mayConfirm = (c) => can("campaign:approve") && session.me.name !== c.created_by;

const ACTIONS = {
  running: ["pause", "abort", "rollback"],
  paused: ["resume", "abort", "rollback"],
  halted: ["resume", "abort", "rollback"],
  completed: ["rollback"],
  ended: ["abort", "rollback"],
  rolled_back: ["abort"],
  aborted: [],
};

// One campaign, live.
function campaignView(root, id) {
  const history = [];
  const problem = failure(root);
  const body = el("div");
  root.append(el("p", {}, el("a", { href: "#/campaigns" }, "← All campaigns")), body);
  let latest = null;
  let busy = false;

  async function act(action) {
    if (!latest || busy) return;
    const [title, text, ok] = actionText(action, latest);
    if (!(await confirmAction(title, text, ok))) return;
    busy = true;
    try {
      const payload = action === "approve" ? { note: "approved from the dashboard" } : undefined;
      // confirm-critical and the operator actions are all POST .../{action}.
      await api("POST", `/v1/admin/campaigns/${idPath(id)}/${action}`, payload);
      problem.show(null);
      await view.refresh();
    } catch (error) {
      problem.show({ message: `${action} failed: ${error.message}` });
    } finally {
      busy = false;
    }
  }

  const view = {
    async refresh() {
      const p = await api("GET", `/v1/admin/campaigns/${idPath(id)}`);
      latest = p;
      problem.show(null);
      const now = Date.now() / 1000;
      // The server keeps the curve over the campaign's whole life; a server
      // without it leaves the page to draw what it saw since it opened.
      if (p.curve) {
        history.splice(0, history.length, ...p.curve.points.map((q) => ({ t: q.at, succeeded: q.succeeded, unsuccessful: q.unsuccessful })));
      } else {
        history.push({ t: now, succeeded: p.total.succeeded, unsuccessful: p.total.failed + p.total.rolled_back + p.total.rejected });
        if (history.length > 1800) history.shift();
      }
      body.replaceChildren(...drawCampaign(p, history, act));
    },
    failed: (error) => problem.show(error),
  };
  return view;
}

function drawCampaign(p, history, act) {
  const c = p.campaign;
  const t = p.total;
  const finished = t.succeeded + t.failed + t.rolled_back + t.rejected;
  const unsuccessful = t.failed + t.rolled_back + t.rejected;
  const rate = finished ? unsuccessful / finished : null;
  const parts = [];

  parts.push(el("div", { class: "row" },
    el("h1", {}, `Campaign ${c.id}`, c.name ? el("span", { class: "muted" }, ` · ${c.name}`) : null),
    c.waiting ? badge("waiting") : null,
    el("span", { id: "campaign-state" }, badge(c.state)),
    c.step ? el("span", { id: "campaign-step", class: "muted" }, c.step) : null,
    el("span", { class: "spacer" }),
    el("div", { class: "actions" },
      c.waiting && mayConfirm(c) ? el("button", { class: "primary big", "data-action": "approve", onclick: () => act("approve") }, "Approve next step") : null,
      c.critical_pending && mayConfirm(c) ? el("button", { class: "primary", "data-action": "confirm-critical", onclick: () => act("confirm-critical") }, "Confirm critical") : null,
      (can("campaign:operate") ? ACTIONS[c.state] || [] : []).map((action) => el("button", {
        // The one big button is the safe move: pause a running campaign,
        // resume one an operator paused (never one the policy halted).
        class: action === "pause" ? "danger big" : action === "resume" && c.state === "paused" ? "primary big" : "",
        "data-action": action,
        onclick: () => act(action),
      }, { pause: "Pause", resume: "Resume", abort: "Abort", rollback: "Roll back" }[action])))));
  parts.push(el("p", { class: "muted" }, `Release ${c.release} · created ${when(c.created_at)}${c.created_by ? ` by ${c.created_by}` : ""}`,
    c.critical ? (c.critical_pending ? " · critical once a second operator confirms it" : " · critical") : "", c.start_at ? ` · starts ${when(c.start_at)}` : "", c.end_at ? ` · ends ${when(c.end_at)}` : ""));

  if (["halted", "rolled_back", "aborted"].includes(c.state)) {
    const who = { halted: "Halted by the rollout policy", rolled_back: "Rolled back", aborted: "Aborted" }[c.state];
    parts.push(el("div", { class: "banner bad", id: "halt-reason", role: "status" },
      el("strong", {}, who), c.reason || "No reason recorded."));
  } else if (c.state === "paused") {
    parts.push(el("div", { class: "banner info", role: "status" }, el("strong", {}, "Paused"),
      "No new offers. Devices already updating carry on."));
  }
  if (c.waiting) {
    parts.push(el("div", { class: "banner wait", role: "status" }, el("strong", {}, "Waiting for an operator's approval"),
      `${c.waiting.after} is done (since ${when(c.waiting.since)}: ${fmt(c.waiting.figures.succeeded)} succeeded, ${fmt(c.waiting.figures.failed)} failed); ${c.waiting.opens} opens only when an operator approves it, here or with sluice campaign approve ${c.id}${c.created_by ? `, and never ${c.created_by}, who created it` : ""}.`));
  }

  parts.push(el("div", { class: "tiles" },
    tile("Offered", fmt(t.offered), "offered"),
    tile("Updating now", fmt(p.in_flight), "in-flight"),
    tile("Succeeded", fmt(t.succeeded), "succeeded", "good"),
    tile("Failed", fmt(t.failed), "failed", t.failed ? "bad" : ""),
    tile("Rolled back", fmt(t.rolled_back), "rolled-back", t.rolled_back ? "bad" : ""),
    tile("Rejected", fmt(t.rejected), "rejected", t.rejected ? "bad" : ""),
    tile("Failure rate", pct(rate), "failure-rate", rate ? "bad" : ""),
    c.reach ? tile("Can reach", (c.reach.estimated ? "≈ " : "") + fmt(c.reach.devices), "reach") : null,
    p.estimate ? tile("Time to finish", p.estimate.seconds !== null && p.estimate.seconds !== undefined ? `≈ ${span(p.estimate.seconds)}` : "–", "eta") : null));
  if (p.estimate) {
    const e = p.estimate;
    parts.push(el("p", { class: "muted", id: "eta-basis" }, e.why_not
      ? `No estimate of when it finishes: ${e.why_not}.${e.remaining ? ` ${fmt(e.remaining)} of the devices it could reach have not finished.` : ""}`
      : `${fmt(e.remaining)} devices to go at the pace of the last ${span(e.over_seconds)} (${fmt(Math.round(e.per_hour))} an hour). Stages, soak times, windows and caps can make it slower.`));
  }

  parts.push(el("div", { class: "panel" }, el("h2", {}, "Outcomes so far"),
    outcomeBar(t, p.in_flight),
    el("div", { class: "legend" }, [...OUTCOMES, "in_flight"].map((o) =>
      el("span", {}, el("i", { class: `c-${o}` }), label(o === "in_flight" ? "updating" : o)))),
    p.phases ? el("p", { class: "muted", id: "phases" }, "Updating now: ",
      ["offered", "downloading", "downloaded", "installing", "rebooting"].filter((phase) => phase in p.phases)
        .map((phase, i) => [i ? " · " : "", el("span", { "data-phase": phase }, `${fmt(p.phases[phase])} ${label(phase)}`)])) : null));

  if ((p.failure_bounds || []).length) {
    parts.push(el("div", { class: "panel", id: "failure-bounds" }, el("h2", {}, "Failure rate against the threshold"),
      p.failure_bounds.map(boundRow),
      el("p", { class: "hint" }, "The interval is where the true failure rate lies with the stated confidence (Wilson), counting the outcomes the policy counts as failed; the threshold, the minimum sample and how the rate is judged are the policy's own, as it describes them.")));
  }

  parts.push(el("div", { class: "grid" },
    el("div", { class: "panel" }, el("h2", {}, "Rollout curve ", el("span", { class: "hint" }, p.curve ? "since the campaign began" : "since this page opened")),
      curve(history)),
    el("div", { class: "panel" }, el("h2", {}, "Failure codes"), ranked(p.failure_codes, "No failures reported.")),
    el("div", { class: "panel" }, el("h2", {}, "Deferred check-ins, by reason"),
      ranked(p.deferrals || {}, "No device has been told to wait."))));

  const stepRows = (p.steps || []).map((s) => el("tr", {},
    el("td", {}, s.name),
    ["offered", ...OUTCOMES].map((k) => el("td", { class: "num" }, fmt(s.counts[k])))));
  parts.push(el("div", { class: "panel table-wrap" }, el("h2", {}, "By step"),
    el("table", { id: "steps" },
      el("thead", {}, el("tr", {}, el("th", {}, "Step"), ["offered", ...OUTCOMES].map((k) => el("th", { class: "num" }, label(k))))),
      el("tbody", {}, stepRows))));

  parts.push(el("div", { class: "grid" },
    el("div", { class: "panel" }, el("h2", {}, "Rollout policy configuration"), el("pre", {}, prettyJson(c.policy))),
    el("div", { class: "panel" }, el("h2", {}, "Fleet by version"), ranked(p.versions || {}, "No device has checked in."))));
  return parts;
}

// One failure rate: its interval on a scale, the threshold as a line.
function boundRow(b) {
  const w = 360, h = 26, pad = 4;
  const top = Math.min(1, Math.max(0.1, b.upper * 1.2, (b.threshold || 0) * 2));
  const x = (v) => pad + (Math.min(v, top) / top) * (w - 2 * pad);
  const rate = b.finished ? b.failed / b.finished : null;
  const scale = svg("svg", { class: "bound", viewBox: `0 0 ${w} ${h}`, role: "img",
    "aria-label": `${b.scope}: interval ${pct(b.lower)} to ${pct(b.upper)}${b.threshold !== null && b.threshold !== undefined ? `, threshold ${pct(b.threshold)}` : ""}` });
  scale.append(svg("line", { class: "axis", x1: pad, y1: h / 2, x2: w - pad, y2: h / 2 }));
  if (b.finished) {
    scale.append(svg("rect", { class: "interval", x: x(b.lower), y: h / 2 - 5, width: Math.max(2, x(b.upper) - x(b.lower)), height: 10 }));
    scale.append(svg("circle", { class: "rate", cx: x(rate), cy: h / 2, r: 4 }));
  }
  if (b.threshold !== null && b.threshold !== undefined) {
    scale.append(svg("line", { class: "threshold", x1: x(b.threshold), y1: 2, x2: x(b.threshold), y2: h - 2 }));
  }
  return el("div", { class: "bound-row", "data-scope": b.scope },
    el("div", {}, el("strong", {}, b.scope), `: ${fmt(b.failed)} of ${fmt(b.finished)} failed`,
      rate !== null ? ` (${pct(rate)}); ${Math.round(b.confidence * 100)}% interval ${pct(b.lower)}–${pct(b.upper)}` : "",
      b.threshold !== null && b.threshold !== undefined ? `; threshold ${pct(b.threshold)}` : "",
      " — ", el("span", { class: "verdict" }, b.verdict)),
    scale);
}

function tile(name, value, id, tone = "") {
  return el("div", { class: `tile ${tone}`, "data-tile": id }, el("div", { class: "label" }, name), el("div", { class: "value" }, value));
}

function outcomeBar(t, inFlight) {
  const parts = [...OUTCOMES.map((o) => [o, t[o]]), ["in_flight", inFlight]];
  const total = parts.reduce((sum, [, n]) => sum + n, 0);
  const bar = svg("svg", { class: "bar", viewBox: "0 0 1000 16", preserveAspectRatio: "none", role: "img",
    "aria-label": parts.map(([o, n]) => `${label(o)} ${n}`).join(", ") });
  bar.append(svg("rect", { x: 0, y: 0, width: 1000, height: 16, fill: "#e6ebf0" }));
  let x = 0;
  for (const [o, n] of parts) {
    if (!total || !n) continue;
    const w = (n / total) * 1000;
    bar.append(svg("rect", { x, y: 0, width: w, height: 16, class: `c-${o}` }));
    x += w;
  }
  return bar;
}

function curve(history) {
  const w = 360, h = 180, pad = 30;
  const chart = svg("svg", { class: "curve", viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": "devices finished over time" });
  if (history.length < 2) {
    chart.append(svg("text", { x: pad, y: h / 2 }, "Collecting… the curve starts after a few updates."));
    return chart;
  }
  const t0 = history[0].t, t1 = history[history.length - 1].t;
  const max = Math.max(1, ...history.map((s) => s.succeeded + s.unsuccessful));
  const x = (t) => pad + ((t - t0) / Math.max(1, t1 - t0)) * (w - pad - 8);
  const y = (n) => h - pad - (n / max) * (h - 2 * pad);
  chart.append(svg("line", { class: "axis", x1: pad, y1: h - pad, x2: w - 8, y2: h - pad }));
  chart.append(svg("line", { class: "axis", x1: pad, y1: pad, x2: pad, y2: h - pad }));
  chart.append(svg("text", { x: 2, y: y(max) + 4 }, fmt(max)));
  chart.append(svg("text", { x: 2, y: h - pad + 4 }, "0"));
  chart.append(svg("text", { x: pad, y: h - 8 }, new Date(t0 * 1000).toLocaleTimeString("en-GB")));
  chart.append(svg("text", { x: w - 8, y: h - 8, "text-anchor": "end" }, new Date(t1 * 1000).toLocaleTimeString("en-GB")));
  const line = (key, cls) => svg("polyline", { class: cls, points: history.map((s) => `${x(s.t).toFixed(1)},${y(s[key]).toFixed(1)}`).join(" ") });
  chart.append(line("succeeded", "succeeded"), line("unsuccessful", "failed"));
  return chart;
}

function ranked(counts, empty) {
  const entries = Object.entries(counts).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return el("p", { class: "empty" }, empty);
  return el("table", {}, el("tbody", {}, entries.map(([name, n]) =>
    el("tr", {}, el("td", {}, name), el("td", { class: "num" }, fmt(n))))));
}

function prettyJson(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

// The fleet: devices by hardware, version and when they were last heard from;
// search over every device.
function fleetView(root) {
  const summary = el("div");
  const problem = failure(root);
  const search = el("input", { type: "search", id: "device-search", placeholder: "Search: id, tag, hardware, version, online/late/silent, name=value", "aria-label": "Search devices" });
  const results = el("div", { id: "device-results" });
  root.append(el("h1", {}, "Fleet"), summary,
    el("div", { class: "panel" }, el("h2", {}, "Devices"), el("div", { class: "filters" }, search), results));

  // Search runs when the query changes (not at every poll), walking the
  // directory a few pages per request; "More" follows the server's cursor.
  let rows = [];
  let next = null;
  let scanned = 0;
  let asked = 0;
  let shownQuery = null;
  async function find(more) {
    const ask = ++asked;
    const q = search.value.trim();
    // "More" goes on from where the shown answer stopped, for the same words.
    if (more && q !== shownQuery) more = false;
    const params = new URLSearchParams({ q, limit: "50" });
    if (more && next) { params.set("page", next.page); params.set("skip", next.skip); }
    try {
      const page = await api("GET", `/v1/admin/devices?${params}`);
      if (ask !== asked) return;
      shownQuery = q;
      rows = more ? rows.concat(page.devices) : page.devices;
      scanned = more ? scanned + page.scanned : page.scanned;
      next = page.next;
      drawResults();
    } catch (error) {
      if (error.status !== 401) results.replaceChildren(el("p", { class: "error" }, `Search failed: ${error.message}`));
    }
  }
  let typing = null;
  search.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => find(false), 250); });
  function drawResults() {
    const table = rows.length ? el("table", { class: "stack", id: "devices" },
      el("thead", {}, el("tr", {}, ["Device", "Hardware", "Version", "Heard from", "Rollout", "Tags"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.map((d) => el("tr", { class: "link-row", "data-device": d.id, onclick: () => { location.hash = `#/devices/${idPath(d.id)}`; } },
        el("td", { "data-label": "Device" }, el("a", { href: `#/devices/${idPath(d.id)}` }, d.id)),
        el("td", { "data-label": "Hardware" }, d.hardware),
        el("td", { "data-label": "Version" }, d.version || el("span", { class: "muted" }, "–")),
        el("td", { class: "nowrap", "data-label": "Heard from" }, d.revoked ? badge("revoked") : badge(d.liveness), d.seen_at ? ` ${ago(d.seen_at)}` : ""),
        el("td", { "data-label": "Rollout" }, d.campaign ? [el("a", { href: `#/campaigns/${idPath(d.campaign)}` }, d.campaign), ` ${label(d.phase)}`] : ""),
        el("td", { "data-label": "Tags" }, d.tags.join(", ")))))) : el("p", { class: "empty" }, "No device matches.");
    results.replaceChildren(...[
      el("p", { class: "muted" }, `${fmt(rows.length)} found among ${fmt(scanned)} devices looked at.`),
      table,
      next ? el("button", { type: "button", id: "more", onclick: () => find(true) }, "More") : null].filter(Boolean));
  }
  find(false);

  return {
    async refresh() {
      const f = await api("GET", "/v1/admin/fleet");
      problem.show(null);
      const l = f.liveness;
      const approx = l.sampled ? "≈ " : "";
      summary.replaceChildren(
        el("div", { class: "tiles" },
          tile("Devices", fmt(f.devices), "devices"),
          tile("Online", approx + fmt(l.online), "online", "good"),
          tile("Late", approx + fmt(l.late), "late"),
          tile("Silent", approx + fmt(l.silent), "silent", l.silent ? "bad" : ""),
          tile("Never checked in", approx + fmt(l.never), "never"),
          tile("Revoked", approx + fmt(l.revoked), "revoked")),
        el("p", { class: "muted" }, `Online: heard from within ${duration(l.online_within)}; late: within ${duration(l.late_within)}; silent: longer ago.`,
          l.sampled ? ` Estimated from ${fmt(l.scanned)} devices spread over the fleet.` : ""),
        el("div", { class: "grid" },
          el("div", { class: "panel" }, el("h2", {}, "By hardware"), bars(f.hardware, "No device enrolled.")),
          el("div", { class: "panel" }, el("h2", {}, "By installed version"), bars(f.versions, "No device has checked in."))));
    },
    failed: (error) => problem.show(error),
  };
}

// A span of time in words: "2 h 10 min", "45 min", "30 s".
function span(seconds) {
  const s = Math.round(seconds);
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.round(s / 86400)} d`;
}

function duration(seconds) {
  if (seconds % 86400 === 0) return `${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

// A horizontal bar per name, longest first.
function bars(counts, empty) {
  const entries = Object.entries(counts).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return el("p", { class: "empty" }, empty);
  const max = entries[0][1];
  const row = 26, w = 360;
  const chart = svg("svg", { class: "bars", viewBox: `0 0 ${w} ${entries.length * row}`, role: "img",
    "aria-label": entries.map(([name, n]) => `${name}: ${n}`).join(", ") });
  entries.forEach(([name, n], i) => {
    const y = i * row;
    chart.append(
      svg("text", { x: 0, y: y + 17 }, name.length > 18 ? `${name.slice(0, 17)}…` : name),
      svg("rect", { x: 130, y: y + 4, width: Math.max(2, (n / max) * (w - 200)), height: row - 8, class: "c-succeeded" }),
      svg("text", { x: 136 + (n / max) * (w - 200), y: y + 17 }, fmt(n)));
  });
  return chart;
}

// One device: who it is, what it runs, its rollout and its history.
function deviceView(root, id) {
  const body = el("div");
  const problem = failure(root);
  root.append(el("p", {}, el("a", { href: "#/fleet" }, "← Fleet")), body);
  return {
    async refresh() {
      const d = await api("GET", `/v1/admin/devices/${idPath(id)}`);
      problem.show(null);
      const s = d.state || {};
      const seen = d.seen;
      const t = seen?.telemetry || {};
      const r = s.rollout;
      const facts = (pairs) => el("table", {}, el("tbody", {}, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "")
        .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))));
      const link = (c) => el("a", { href: `#/campaigns/${idPath(c)}` }, c);
      body.replaceChildren(...[
        el("div", { class: "row" }, el("h1", {}, `Device ${d.id}`), d.revoked ? badge("revoked") : null),
        d.revoked ? el("div", { class: "banner bad", role: "status" }, el("strong", {}, "Revoked"),
          `by ${d.revoked.by} at ${when(d.revoked.at)}: ${d.revoked.reason}`) : null,
        el("div", { class: "grid" },
          el("div", { class: "panel", id: "device-identity" }, el("h2", {}, "Identity"), facts([
            ["Hardware", d.hardware], ["Tags", d.tags.join(", ")], ["Enrolled", when(d.enrolled_at)],
            ...Object.entries(d.attributes || {}).map(([k, v]) => [k, v])])),
          el("div", { class: "panel", id: "device-running" }, el("h2", {}, "Running"), facts([
            ["Version", s.version || "not reported yet"], ["Security version", s.security_version],
            ["Slot", t.slot ? t.slot.toUpperCase() : undefined],
            ["Last check-in", seen ? `${when(seen.at)} (${ago(seen.at)})` : "never"],
            ["Battery", t.battery_percent !== undefined && t.battery_percent !== null ? `${t.battery_percent}%${t.charging ? ", charging" : ""}` : undefined],
            ["Network", t.network], ["UTC offset", t.utc_offset_minutes !== undefined && t.utc_offset_minutes !== null ? `${t.utc_offset_minutes} min` : undefined]])),
          el("div", { class: "panel", id: "device-rollout" }, el("h2", {}, "Latest rollout"), r ? facts([
            ["Campaign", link(r.campaign)], ["Release", r.release], ["Phase", badge(r.phase)],
            ["From", r.from_version], ["Offered", when(r.offered_at)], ["Updated", when(r.updated_at)],
            ["Error", r.failure ? `${r.failure.code} (${r.failure.phase})${r.failure.detail ? `: ${r.failure.detail}` : ""}` : undefined]])
            : el("p", { class: "empty" }, "Never offered an update."))),
        el("div", { class: "panel table-wrap" }, el("h2", {}, "History ", el("span", { class: "hint" }, "latest first; rollout outcomes are kept longest")),
          (s.history || []).length ? el("table", { class: "stack", id: "history" },
            el("thead", {}, el("tr", {}, ["When", "Event", "Campaign", "Version", "Error"].map((h) => el("th", {}, h)))),
            el("tbody", {}, [...s.history].reverse().map((e) => el("tr", { "data-event": e.what },
              el("td", { class: "nowrap", "data-label": "When" }, when(e.at)),
              el("td", { "data-label": "Event" }, { version: "reported running", health: "health reported" }[e.what] || badge(e.what)),
              el("td", { "data-label": "Campaign" }, e.campaign ? link(e.campaign) : ""),
              el("td", { "data-label": "Version" }, e.version || ""),
              el("td", { "data-label": "Error" }, e.failure ? `${e.failure.code} (${e.failure.phase})${e.failure.detail ? `: ${e.failure.detail}` : ""}` : "")))))
            : el("p", { class: "empty" }, "Nothing yet."))].filter(Boolean));
    },
    failed: (error) => problem.show(error),
  };
}

// Releases.
function releasesView(root) {
  const body = el("div");
  const problem = failure(root);
  root.append(el("h1", {}, "Releases"), body);
  return {
    async refresh() {
      const [{ releases }, { campaigns }] = await Promise.all([
        api("GET", "/v1/admin/releases"), api("GET", "/v1/admin/campaigns")]);
      problem.show(null);
      if (!releases.length) {
        body.replaceChildren(el("p", { class: "panel empty" }, "No releases yet. Publish one with ",
          el("code", {}, "sluice release publish"), "."));
        return;
      }
      const rows = [];
      for (const r of [...releases].reverse()) {
        const users = campaigns.filter((c) => c.release === r.version);
        for (const m of r.manifests) {
          rows.push(el("tr", { "data-release": r.version },
            el("td", { "data-label": "Version" }, r.version),
            el("td", { "data-label": "Hardware" }, m.hardware.join(", ")),
            el("td", { class: "num", "data-label": "Size" }, bytes(m.size)),
            el("td", { class: "num", "data-label": "Chunks" }, fmt(m.chunks)),
            el("td", { class: "num", "data-label": "Security" }, m.security_version),
            el("td", { "data-label": "Signing key" }, el("code", {}, m.key_id)),
            el("td", { class: "nowrap", "data-label": "Created" }, when(m.created_at)),
            el("td", { class: "nowrap", "data-label": "Expires" }, when(m.expires_at)),
            el("td", { "data-label": "Campaigns" }, users.length ? users.map((c, i) => [i ? ", " : "", el("a", { href: `#/campaigns/${idPath(c.id)}` }, c.id)]) : el("span", { class: "muted" }, "none"))));
        }
      }
      body.replaceChildren(el("div", { class: "panel table-wrap" }, el("table", { class: "stack" },
        el("thead", {}, el("tr", {},
          el("th", {}, "Version"), el("th", {}, "Hardware"), el("th", { class: "num" }, "Size"),
          el("th", { class: "num" }, "Chunks"), el("th", { class: "num" }, "Security"),
          el("th", {}, "Signing key"), el("th", {}, "Created"),
          el("th", {}, "Expires"), el("th", {}, "Campaigns"))),
        el("tbody", {}, rows))));
    },
    failed: (error) => problem.show(error),
  };
}

// The audit log: the latest entries, filterable; export of the whole log.
const AUDIT_WINDOW = 500;

function auditView(root) {
  const search = el("input", { type: "search", id: "audit-filter", placeholder: "Filter by actor, action or target", "aria-label": "Filter the audit log" });
  const exportJsonl = el("button", { type: "button", id: "export-jsonl", onclick: () => exportLog("jsonl") }, "Export JSON lines");
  const exportCsv = el("button", { type: "button", id: "export-csv", onclick: () => exportLog("csv") }, "Export CSV");
  const body = el("div");
  const problem = failure(root);
  root.append(el("h1", {}, "Audit log"), el("div", { class: "filters" }, search, exportJsonl, exportCsv), body);
  let entries = [];
  let head = null;
  const draw = () => {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = entries.filter((e) => {
      const text = `${e.actor} ${e.action} ${e.target} ${when(e.at)}`.toLowerCase();
      return words.every((w) => text.includes(w));
    }).reverse();
    body.replaceChildren(el("div", { class: "panel table-wrap" },
      el("p", { class: "muted" }, `${fmt(head?.seq || 0)} entries in all, chained; `,
        `showing ${fmt(shown.length)} of the latest ${fmt(entries.length)}. `,
        "Check the chain with ", el("code", {}, "sluice audit verify"), "."),
      shown.length ? el("table", { id: "audit", class: "stack" },
        el("thead", {}, el("tr", {}, el("th", { class: "num" }, "#"), el("th", {}, "When"), el("th", {}, "Who"),
          el("th", {}, "Action"), el("th", {}, "Target"), el("th", {}, "Change"))),
        el("tbody", {}, shown.map((e) => el("tr", { "data-seq": e.seq },
          el("td", { class: "num", "data-label": "#" }, e.seq),
          el("td", { class: "nowrap", "data-label": "When" }, when(e.at)),
          el("td", { "data-label": "Who" }, e.actor),
          el("td", { "data-label": "Action" }, e.action),
          el("td", { "data-label": "Target" }, e.target),
          el("td", { "data-label": "Change" }, change(e)))))) : el("p", { class: "empty" }, "No entry matches.")));
  };
  search.addEventListener("input", draw);
  return {
    async refresh() {
      const first = await api("GET", "/v1/admin/audit?limit=1");
      head = first.head;
      const after = Math.max(0, (head?.seq || 0) - AUDIT_WINDOW);
      const page = await api("GET", `/v1/admin/audit?after=${after}&limit=${AUDIT_WINDOW}`);
      entries = page.entries;
      problem.show(null);
      draw();
    },
    failed: (error) => problem.show(error),
  };
}

function change(e) {
  const pick = (v) => (v && typeof v === "object" && "state" in v ? v.state : v === undefined ? "" : JSON.stringify(v));
  const before = pick(e.before), after = pick(e.after);
  if (!before && !after) return "";
  const text = before && after ? `${before} → ${after}` : after || before;
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

async function exportLog(format) {
  const all = [];
  let after = 0;
  for (;;) {
    const page = await api("GET", `/v1/admin/audit?after=${after}&limit=1000`);
    all.push(...page.entries);
    if (!page.entries.length || page.next <= after || page.next >= (page.head?.seq || 0)) break;
    after = page.next;
  }
  let text;
  if (format === "jsonl") {
    text = all.map((e) => JSON.stringify(e)).join("\n") + (all.length ? "\n" : "");
  } else {
    const cell = (v) => {
      let s = v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v);
      // A spreadsheet must not read a value as a formula.
      if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
      return /[",\n\r']/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
    };
    const columns = ["seq", "at", "actor", "action", "target", "before", "after", "prev"];
    text = [columns.join(","), ...all.map((e) => columns.map((c) => cell(c === "at" ? when(e.at) : e[c])).join(","))].join("\r\n") + "\r\n";
  }
  const blob = new Blob([text], { type: format === "jsonl" ? "application/x-ndjson" : "text/csv" });
  const link = el("a", { href: URL.createObjectURL(blob), download: `sluice-audit.${format === "jsonl" ? "jsonl" : "csv"}` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

// ---- start ----------------------------------------------------------------

$("#signin-form").addEventListener("submit", signIn);
$("#signout").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("hashchange", route);
setInterval(() => { if (current) showLive(); }, 1000);
route();
