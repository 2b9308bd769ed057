// Small DOM helpers shared by every page: element building, badges, toasts, dialogs and menus.

let uidCounter = 0;
export const uid = (prefix) => `${prefix}-${++uidCounter}`;

/** h("button", {class: "x", onclick: fn, "aria-label": "…"}, "text", child, [more]) */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "value" && "value" in el) el.value = value;
    else if (key === "checked" || key === "disabled" || key === "selected") el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// ---- badges: a shape and a word, so that state never depends on colour alone --------------------

export const INSTANCE_STATES = {
  PENDING: { label: "Creating", tone: "busy", shape: "spin" },
  LAUNCH_FAILED: { label: "Launch failed", tone: "bad", shape: "triangle" },
  RUNNING: { label: "Running", tone: "ok", shape: "dot" },
  STOPPED: { label: "Shut down", tone: "off", shape: "square" },
  STARTING: { label: "Starting", tone: "busy", shape: "spin" },
  STOPPING: { label: "Shutting down", tone: "busy", shape: "spin" },
  REBOOTING: { label: "Restarting", tone: "busy", shape: "spin" },
  SHUTDOWN: { label: "Isolated", tone: "off", shape: "ring" },
  TERMINATING: { label: "Terminating", tone: "busy", shape: "spin" },
};

const TONES = {
  // operations
  SUCCESS: ["Succeeded", "ok", "dot"], OPERATING: ["In progress", "busy", "spin"], FAILED: ["Failed", "bad", "cross"],
  // load balancer health
  Alive: ["Healthy (Alive)", "ok", "dot"], Dead: ["Unhealthy (Dead)", "bad", "cross"],
  Unknown: ["Checking (Unknown)", "busy", "ring"], Close: ["No health check", "off", "square"],
  // auto scaling
  IN_SERVICE: ["In service", "ok", "dot"], HEALTHY: ["Healthy", "ok", "dot"], UNHEALTHY: ["Unhealthy", "bad", "cross"],
  CREATION_FAILED: ["Creation failed", "bad", "triangle"], SUCCESSFUL: ["Successful", "ok", "dot"],
  PARTIALLY_SUCCESSFUL: ["Partly successful", "warn", "triangle"], CANCELLED: ["Cancelled", "off", "square"],
  ENABLED: ["Enabled", "ok", "dot"], DISABLED: ["Disabled", "off", "square"],
  // disks and addresses
  ATTACHED: ["Attached", "ok", "dot"], UNATTACHED: ["Not attached", "off", "square"],
  BIND: ["Bound", "ok", "dot"], UNBIND: ["Not bound", "off", "square"],
};

export function badge(label, tone, shape, extra = {}) {
  return h("span", { class: `badge tone-${tone}`, ...extra },
    h("span", { class: `shape shape-${shape}`, "aria-hidden": "true" }), h("span", { class: "badge-text" }, label));
}

export function stateBadge(state) {
  const s = INSTANCE_STATES[state] || { label: state, tone: "off", shape: "ring" };
  return badge(s.label, s.tone, s.shape, { "data-state": state, title: `InstanceState: ${state}` });
}

/** A badge for any status word of the API (health, life-cycle state, disk or address status, …). */
export function statusBadge(value, title = "") {
  if (!value) return badge("—", "off", "ring");
  const known = TONES[value];
  if (known) return badge(known[0], known[1], known[2], { "data-status": value, title: title || value });
  const busy = /ING$|^INIT$|^RUNNING$|^WAITING/.test(value);
  return badge(humanize(value), busy ? "busy" : "off", busy ? "spin" : "ring", { "data-status": value, title: title || value });
}

export function humanize(word) {
  const text = String(word).replace(/_/g, " ").toLowerCase();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// ---- formatting -----------------------------------------------------------------------------------

export function fmtTime(value) {
  if (!value) return "—";
  // CBS, CLB and VPC write `YYYY-MM-DD hh:mm:ss` in Beijing time; CVM, AS and EIPs ISO-8601 with a zone.
  const date = new Date(value.includes("T") ? value : value.replace(" ", "T") + "+08:00");
  if (Number.isNaN(date.getTime())) return value;
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export const mono = (text) => h("span", { class: "mono" }, text);
export const muted = (text) => h("span", { class: "muted" }, text);

// ---- toasts and announcements -------------------------------------------------------------------

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const remove = () => el.remove();
  const el = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", { class: `shape shape-${kind === "error" ? "cross" : kind === "ok" ? "dot" : "ring"}`, "aria-hidden": "true" }),
    h("p", {}, message),
    h("button", { type: "button", class: "icon-button", "aria-label": "Dismiss", onclick: remove }, "×"));
  box.append(el);
  while (box.children.length > 4) box.firstElementChild.remove();
  setTimeout(remove, kind === "error" ? 15000 : 7000);
  return el;
}

export function announce(text) {
  const el = document.getElementById("announcer");
  if (el) el.textContent = text;
}

// ---- focus that survives re-rendering -------------------------------------------------------------

export function focusKey(el) {
  return el && el.closest ? el.closest("[data-key]")?.dataset.key || null : null;
}

export function refocus(key) {
  if (!key) return false;
  const el = document.querySelector(`[data-key="${CSS.escape(key)}"]`);
  if (el) el.focus({ preventScroll: true });
  return Boolean(el);
}

/** Run a re-render; if it removed the focused element, focus its replacement (same data-key). */
export function keepFocus(render) {
  const active = document.activeElement;
  const key = focusKey(active);
  render();
  if (active && !active.isConnected) refocus(key);
}

// ---- dialogs --------------------------------------------------------------------------------------

/** A modal <dialog>: Esc closes it and focus goes back where it came from, even after a re-render. */
export function openDialog({ title, wide = false, onClose, returnKey } = {}) {
  const opener = document.activeElement;
  const key = returnKey || focusKey(opener);
  const headingId = uid("dialog-title");
  const heading = h("h2", { id: headingId }, title);
  const body = h("div", { class: "dialog-body" });
  const footer = h("div", { class: "dialog-footer" });
  const dialog = h("dialog", { class: `dialog${wide ? " dialog-wide" : ""}`, "aria-labelledby": headingId },
    h("div", { class: "dialog-head" }, heading,
      h("button", { type: "button", class: "icon-button", "aria-label": "Close", onclick: () => dialog.close() }, "×")),
    body, footer);
  dialog.addEventListener("close", () => {
    dialog.remove();
    onClose?.();
    if (opener && opener.isConnected && !opener.closest("[popover]")) opener.focus({ preventScroll: true });
    else refocus(key);
  });
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, body, footer, heading, close: () => dialog.close(), isOpen: () => dialog.open };
}

export function errorBox() {
  const el = h("div", { class: "form-error", role: "alert", hidden: true });
  return {
    el,
    show(message) { el.hidden = false; clear(el, h("span", { class: "shape shape-cross", "aria-hidden": "true" }), h("p", {}, message)); },
    hide() { el.hidden = true; el.replaceChildren(); },
  };
}

/** A yes/no dialog; resolves after `action` succeeded (errors stay in the dialog). */
export function confirmDialog({ title, message, confirmLabel, danger = false, extra = null, action }) {
  const d = openDialog({ title });
  const error = errorBox();
  d.body.append(...[].concat(message).map((m) => (typeof m === "string" ? h("p", {}, m) : m)), extra, error.el);
  const ok = h("button", { type: "button", class: `button ${danger ? "danger" : "primary"}` }, confirmLabel);
  const cancel = h("button", { type: "button", class: "button", onclick: () => d.close() }, "Cancel");
  ok.addEventListener("click", async () => {
    ok.disabled = true;
    error.hide();
    try {
      await action();
      d.close();
    } catch (exc) {
      error.show(exc.message);
      ok.disabled = false;
    }
  });
  d.footer.append(cancel, ok);
  // Focus starts on the harmless choice when the action destroys something.
  (danger ? cancel : ok).focus();
  return d;
}

// ---- buttons that explain why they cannot be used --------------------------------------------------

/** A real, focusable button; when refused it is aria-disabled with the reason as its tooltip, and
 * activating it shows the reason instead of doing anything. */
export function actionButton({ label, key, allowed, reason, onClick, onRefused, cls = "link-button" }) {
  const btn = h("button", { type: "button", class: cls, "data-key": key }, label);
  if (!allowed) {
    btn.setAttribute("aria-disabled", "true");
    btn.title = reason || "Not available now";
  }
  btn.addEventListener("click", (event) => {
    event.preventDefault();
    if (btn.getAttribute("aria-disabled") === "true") (onRefused || refusedToast)(label, btn.title);
    else onClick();
  });
  return btn;
}

export function refusedToast(label, reason) {
  toast(`${label} is not available: ${reason}`, "info");
}

// ---- menus (popover: drawn above tables, Esc and outside clicks close it) -------------------------------

/** items: [{label, key, allowed=true, reason, onSelect, onRefused}] */
export function menuButton(label, items, { key, cls = "link-button", menuLabel } = {}) {
  const id = uid("menu");
  const button = h("button", { type: "button", class: `${cls} menu-button`, "data-key": key, "aria-haspopup": "menu",
    "aria-expanded": "false", "aria-controls": id, popovertarget: id }, label, h("span", { class: "caret", "aria-hidden": "true" }));
  const list = h("div", { id, popover: "auto", role: "menu", class: "menu", "aria-label": menuLabel || label });
  for (const item of items) {
    const allowed = item.allowed !== false;
    const mi = h("button", { type: "button", role: "menuitem", class: "menu-item", tabindex: "-1", "data-key": `${key}:${item.key}` },
      item.label);
    if (!allowed) {
      mi.setAttribute("aria-disabled", "true");
      mi.title = item.reason || "Not available now";
    }
    mi.addEventListener("click", () => {
      list.hidePopover();
      button.focus({ preventScroll: true });
      if (allowed) item.onSelect();
      else (item.onRefused || refusedToast)(item.label, mi.title);
    });
    list.append(mi);
  }
  list.addEventListener("beforetoggle", (event) => {
    // Closed by Esc or a click elsewhere: keyboard focus goes back to the button, not to the page's start.
    if (event.newState === "closed" && list.contains(document.activeElement)) button.focus({ preventScroll: true });
  });
  list.addEventListener("toggle", (event) => {
    const open = event.newState === "open";
    button.setAttribute("aria-expanded", String(open));
    if (!open) {
      openMenus.delete(list);
      return;
    }
    openMenus.set(list, button);
    place(list, button);
    list.querySelector(".menu-item")?.focus({ preventScroll: true });
  });
  list.addEventListener("keydown", (event) => {
    const entries = [...list.querySelectorAll(".menu-item")];
    const at = entries.indexOf(document.activeElement);
    const go = (i) => entries[(i + entries.length) % entries.length]?.focus();
    if (event.key === "ArrowDown") go(at + 1);
    else if (event.key === "ArrowUp") go(at - 1);
    else if (event.key === "Home") go(0);
    else if (event.key === "End") go(entries.length - 1);
    else if (event.key === "Tab") { list.hidePopover(); button.focus(); }
    else return;
    event.preventDefault();
  });
  button.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") { event.preventDefault(); list.showPopover(); }
  });
  return h("span", { class: "menu-wrap" }, button, list);
}

const openMenus = new Map();

function place(list, button) {
  const r = button.getBoundingClientRect();
  const width = list.offsetWidth;
  const height = list.offsetHeight;
  // Under the button, starting at its left edge; flipped to end at its right edge, or above it, when
  // that would run off the window.
  let left = r.left;
  if (left + width > window.innerWidth - 8) left = r.right - width;
  left = Math.max(8, Math.min(left, window.innerWidth - width - 8));
  const below = r.bottom + 4;
  const top = below + height > window.innerHeight - 8 && r.top - height - 4 > 8 ? r.top - height - 4 : below;
  list.style.left = `${left}px`;
  list.style.top = `${top}px`;
}

export function anyMenuOpen() {
  // A menu removed from the page while open closes without a toggle event: forget it here.
  for (const list of [...openMenus.keys()]) if (!list.isConnected || !list.matches(":popover-open")) openMenus.delete(list);
  return openMenus.size > 0;
}

// A menu is drawn above the page (top layer); when the page or a table scrolls, it follows its button.
const follow = () => openMenus.forEach((button, list) => place(list, button));
window.addEventListener("scroll", follow, { capture: true, passive: true });
window.addEventListener("resize", follow, { passive: true });
