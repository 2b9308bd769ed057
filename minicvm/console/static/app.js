// The console's shell: region picker, hash routes, and the live event stream that tells the page on
// screen to re-read what it shows.

import { get, session } from "./api.js";
import { balancersView } from "./balancers.js";
import { detailView } from "./detail.js";
import { clear, h, toast } from "./dom.js";
import { instancesView } from "./instances.js";
import { keysView } from "./keys.js";
import { scalingView } from "./scaling.js";
import { disksView, eipsView } from "./storage.js";

const ROUTES = [
  [/^#\/instances\/(ins-[A-Za-z0-9]+)$/, (m) => detailView(m[1]), "instances"],
  [/^#\/instances$/, () => instancesView(), "instances"],
  [/^#\/lb$/, () => balancersView(), "lb"],
  [/^#\/as$/, () => scalingView(), "as"],
  [/^#\/disks$/, () => disksView(), "disks"],
  [/^#\/eips$/, () => eipsView(), "eips"],
  [/^#\/keys$/, () => keysView(), "keys"],
];

const main = document.getElementById("view");
let current = null;
let firstRoute = true;

function route() {
  if (!window.location.hash) window.history.replaceState(null, "", "#/instances");
  const hash = window.location.hash;
  const found = ROUTES.map(([re, make, nav]) => [hash.match(re), make, nav]).find(([m]) => m);
  if (!found) {
    window.location.replace("#/instances");
    return;
  }
  const [match, make, nav] = found;
  current?.unmount?.();
  document.querySelectorAll("dialog[open]").forEach((d) => d.close());
  current = make(match);
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${current.title} · minicvm console`;
  current.mount(main);
  // After navigating, start reading (and tabbing) at the new page's heading, as a page load would.
  if (!firstRoute) main.querySelector("h1")?.focus({ preventScroll: false });
  firstRoute = false;
}

// ---- live updates -------------------------------------------------------------------------------------

let pendingTimer = 0;
function changed(event) {
  window.dispatchEvent(new CustomEvent("minicvm:event", { detail: event }));
  // Bursts of events (a batch shutdown) become one re-read.
  clearTimeout(pendingTimer);
  pendingTimer = setTimeout(() => {
    window.dispatchEvent(new CustomEvent("minicvm:changed"));
    current?.refresh?.();
  }, 200);
}

function connect() {
  const live = document.getElementById("live");
  const set = (state, text) => { live.dataset.live = state; live.textContent = text; };
  const source = new EventSource("/console/api/events");
  source.addEventListener("open", () => {
    set("on", "Live");
    // Whatever happened while disconnected is read again.
    current?.refresh?.();
  });
  source.addEventListener("error", () => {
    set("off", "Reconnecting…");
    if (source.readyState !== EventSource.CLOSED) return; // the browser retries by itself
    // Refused outright (e.g. the session ended, or the server answered with an error): ask the
    // session endpoint, which sends a signed-out person to the sign-in page, then try again.
    setTimeout(async () => {
      try {
        await get("/console/api/me", { region: "" });
      } catch {
        // not reachable yet; the next attempt asks again
      }
      connect();
    }, 3000);
  });
  source.addEventListener("message", (message) => {
    try {
      changed(JSON.parse(message.data));
    } catch {
      // not an event of ours; ignore
    }
  });
}

async function start() {
  const regionSelect = document.getElementById("region");
  try {
    const me = await get("/console/api/me", { region: "" });
    session.account = me.Account;
    session.regions = me.Regions;
    if (!me.Regions.includes(session.region)) session.region = me.DefaultRegion;
  } catch (exc) {
    clear(main, h("div", { class: "banner error", role: "alert" }, `The console could not start: ${exc.message}`));
    return;
  }
  clear(regionSelect, session.regions.map((r) => h("option", { value: r, selected: r === session.region }, r)));
  regionSelect.addEventListener("change", () => {
    session.region = regionSelect.value;
    localStorage.setItem("minicvm.region", session.region);
    toast(`Showing ${session.region}.`);
    route();
  });
  window.addEventListener("hashchange", route);
  route();
  connect();
}

start();
