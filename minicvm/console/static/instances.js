// The instances page: the list with search, state filter and paging; a row action bar; ticking rows for
// Tencent's console "More → Shutdown" at the top of the list. Live: re-read when the server reports events.

import { actionBar, OPERATION_LABELS, openBatchDialog } from "./actions.js";
import { call, get, session } from "./api.js";
import { announce, anyMenuOpen, clear, h, INSTANCE_STATES, keepFocus, menuButton, mono, statusBadge, stateBadge } from "./dom.js";

const STATE_FILTERS = [["", "All states"], ["RUNNING", "Running"], ["STOPPED", "Shut down"], ["STARTING", "Starting"],
  ["STOPPING", "Shutting down"], ["REBOOTING", "Restarting"], ["PENDING", "Creating"], ["LAUNCH_FAILED", "Launch failed"],
  ["TERMINATING", "Terminating"], ["SHUTDOWN", "Isolated"]];
const BUSY = new Set(["PENDING", "STARTING", "STOPPING", "REBOOTING", "TERMINATING"]);
const COLUMNS = ["Name / ID", "State", "Zone", "Type", "IP addresses", "Latest operation", "Operations"];

// Filters and page survive a visit to an instance's detail page and back.
const saved = { name: "", state: "", offset: 0, limit: 20 };

export function instancesView() {
  const st = { selected: new Set(), data: null, eips: new Map(), pending: false, seq: 0, states: new Map(), timer: 0 };
  let tbody, pager, selection, batchSlot, message, selectAll;

  const refresh = async () => {
    if (anyMenuOpen()) {
      st.pending = true; // re-rendering would close the open menu under the person's pointer
      return;
    }
    st.pending = false;
    const seq = ++st.seq;
    try {
      const [data, eips] = await Promise.all([
        get("/console/api/instances", { offset: saved.offset, limit: saved.limit, name: saved.name, state: saved.state }),
        call("vpc", "DescribeAddresses", { Limit: 100 }).catch(() => null),
      ]);
      if (seq !== st.seq || !tbody.isConnected) return;
      if (anyMenuOpen()) {
        st.pending = true; // opened while this read was under way: render when it closes
        return;
      }
      if (data.InstanceSet.length === 0 && saved.offset > 0 && data.TotalCount > 0) {
        saved.offset = Math.max(0, Math.floor((data.TotalCount - 1) / saved.limit) * saved.limit);
        refresh();
        return;
      }
      st.data = data;
      if (eips) st.eips = new Map(eips.AddressSet.map((a) => [a.AddressIp, a]));
      message.hidden = true;
      keepFocus(render);
    } catch (exc) {
      if (seq !== st.seq) return;
      message.hidden = false;
      clear(message, `The instances could not be loaded: ${exc.message}`);
    }
  };

  const onToggle = (event) => {
    if (st.pending && event.newState === "closed") setTimeout(refresh, 0);
  };

  const render = () => {
    const list = st.data.InstanceSet;
    const present = new Set(list.map((i) => i.InstanceId));
    for (const id of [...st.selected]) if (!present.has(id)) st.selected.delete(id);
    noteChanges(list);
    if (!list.length) {
      clear(tbody, h("tr", { class: "empty" }, h("td", { colspan: String(COLUMNS.length + 1) },
        saved.name || saved.state ? "No instances match the search." : `There are no instances in ${session.region} yet. `
          + "Create some with RunInstances (SDK or tccli).")));
    } else {
      clear(tbody, list.map(row));
    }
    renderSelection();
    renderPager();
  };

  const noteChanges = (list) => {
    const news = [];
    for (const inst of list) {
      const before = st.states.get(inst.InstanceId);
      if (before && before !== inst.InstanceState) {
        news.push(`${inst.InstanceName || inst.InstanceId}: ${(INSTANCE_STATES[inst.InstanceState] || {}).label || inst.InstanceState}`);
      }
      st.states.set(inst.InstanceId, inst.InstanceState);
    }
    if (news.length) announce(`State changed. ${news.join(". ")}.`);
  };

  const row = (inst) => {
    const id = inst.InstanceId;
    const name = inst.InstanceName || id;
    const checked = st.selected.has(id);
    const box = h("input", { type: "checkbox", checked, "data-key": `sel:${id}`, "aria-label": `Select ${name} (${id})` });
    box.addEventListener("change", () => {
      if (box.checked) st.selected.add(id);
      else st.selected.delete(id);
      box.closest("tr").classList.toggle("selected", box.checked);
      renderSelection();
    });
    const failed = inst.LatestOperationState === "FAILED" && inst.LatestOperationErrorMsg;
    return h("tr", { "data-id": id, "data-state": inst.InstanceState, class: checked ? "selected" : "" },
      h("td", { class: "col-select" }, box),
      h("td", { class: "col-name" },
        h("a", { href: `#/instances/${id}`, "data-key": `link:${id}` }, name), h("div", {}, mono(id))),
      h("td", { class: "col-state" }, stateBadge(inst.InstanceState)),
      h("td", { class: "col-zone", "data-label": "Zone" }, inst.Placement.Zone),
      h("td", { class: "col-type", "data-label": "Type" }, h("div", {}, inst.InstanceType),
        h("div", { class: "muted" }, `${inst.CPU} vCPU · ${inst.Memory} GiB`)),
      h("td", { class: "col-ips", "data-label": "IP addresses" }, ips(inst)),
      h("td", { class: "col-op", "data-label": "Latest operation" },
        inst.LatestOperation ? h("div", { title: inst.LatestOperation }, OPERATION_LABELS[inst.LatestOperation] || inst.LatestOperation) : "—",
        inst.LatestOperationState ? statusBadge(inst.LatestOperationState, failed || inst.LatestOperationState) : null,
        failed ? h("div", { class: "op-error", title: failed }, failed) : null),
      h("td", { class: "col-actions" }, actionBar(inst, { keyPrefix: "row", onChanged: refresh })),
    );
  };

  const ips = (inst) => {
    const lines = (inst.PrivateIpAddresses || []).map((ip) => h("li", {}, mono(ip), " ", h("span", { class: "tag" }, "Private")));
    for (const ip of inst.PublicIpAddresses || []) {
      const eip = st.eips.get(ip);
      lines.push(h("li", {}, mono(ip), " ", eip
        ? h("span", { class: "tag tag-eip", title: eip.AddressId }, "EIP")
        : h("span", { class: "tag" }, "Public")));
    }
    return h("ul", { class: "ip-list" }, lines);
  };

  const visibleIds = () => (st.data ? st.data.InstanceSet.map((i) => i.InstanceId) : []);

  const renderSelection = () => {
    const n = st.selected.size;
    selection.textContent = n ? `${n} selected` : "None selected";
    const ids = visibleIds();
    selectAll.checked = ids.length > 0 && ids.every((id) => st.selected.has(id));
    selectAll.indeterminate = n > 0 && !selectAll.checked;
    const picked = () => visibleIds().filter((id) => st.selected.has(id));
    const none = n === 0 ? { allowed: false, reason: "Tick one or more instances in the list first." } : {};
    const item = (labelText, key, action) => ({ label: labelText, key, ...none,
      onSelect: () => openBatchDialog(action, picked(), { onChanged: refresh }) });
    keepFocus(() => clear(batchSlot, menuButton("More", [
      item("Start", "start", "StartInstances"),
      item("Shutdown", "stop", "StopInstances"),
      item("Restart", "reboot", "RebootInstances"),
      item("Terminate", "terminate", "TerminateInstances"),
    ], { key: "batch:more", cls: "button", menuLabel: "Actions for the selected instances" })));
  };

  const renderPager = () => {
    const total = st.data.TotalCount;
    const first = total ? saved.offset + 1 : 0;
    const last = Math.min(saved.offset + saved.limit, total);
    const pages = Math.max(1, Math.ceil(total / saved.limit));
    const page = Math.floor(saved.offset / saved.limit) + 1;
    const go = (offset) => { saved.offset = offset; st.selected.clear(); refresh(); };
    const size = h("select", { id: "page-size", "data-key": "pager:size" },
      [10, 20, 50, 100].map((n) => h("option", { value: String(n), selected: n === saved.limit }, String(n))));
    size.addEventListener("change", () => { saved.limit = Number(size.value); go(0); });
    clear(pager,
      h("span", { class: "range", "data-role": "range" }, total ? `${first}–${last} of ${total}` : "0 instances"),
      h("label", { class: "page-size", for: "page-size" }, "Rows per page"), size,
      h("button", { type: "button", class: "button", "data-key": "pager:prev", disabled: page <= 1,
        onclick: () => go(Math.max(0, saved.offset - saved.limit)) }, "‹ Previous"),
      h("span", { class: "page-no" }, `Page ${page} of ${pages}`),
      h("button", { type: "button", class: "button", "data-key": "pager:next", disabled: page >= pages,
        onclick: () => go(saved.offset + saved.limit) }, "Next ›"));
  };

  return {
    title: "Instances",
    mount(root) {
      const search = h("input", { type: "search", id: "search-name", name: "name", value: saved.name, placeholder: "Search by name",
        autocomplete: "off" });
      const stateSelect = h("select", { id: "state-filter", name: "state" },
        STATE_FILTERS.map(([value, text]) => h("option", { value, selected: value === saved.state }, text)));
      let debounce = 0;
      const apply = () => {
        saved.name = search.value.trim();
        saved.state = stateSelect.value;
        saved.offset = 0;
        st.selected.clear();
        refresh();
      };
      search.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(apply, 350); });
      stateSelect.addEventListener("change", apply);
      selectAll = h("input", { type: "checkbox", "aria-label": "Select all instances on this page", "data-key": "sel:all" });
      selectAll.addEventListener("change", () => {
        for (const id of visibleIds()) {
          if (selectAll.checked) st.selected.add(id);
          else st.selected.delete(id);
        }
        keepFocus(render);
      });
      selection = h("span", { class: "selection", "aria-live": "polite" });
      batchSlot = h("span", { class: "batch-slot" });
      message = h("div", { class: "banner error", role: "alert", hidden: true });
      tbody = h("tbody", {}, h("tr", { class: "empty" }, h("td", { colspan: String(COLUMNS.length + 1) }, "Loading…")));
      pager = h("nav", { class: "pager", "aria-label": "Instance list pages" });
      clear(root, h("div", { class: "page" },
        h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, "Instances"),
          h("p", { class: "sub" }, `Region ${session.region}. Tick instances and use More → Shutdown to shut several down at once.`)),
        h("div", { class: "toolbar" },
          h("div", { class: "toolbar-group" }, batchSlot, selection),
          h("form", { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); clearTimeout(debounce); apply(); } },
            h("label", { for: "search-name", class: "visually-hidden" }, "Search by name"), search,
            h("label", { for: "state-filter", class: "visually-hidden" }, "Filter by state"), stateSelect,
            h("button", { type: "submit", class: "button" }, "Search"))),
        message,
        h("div", { class: "table-wrap" }, h("table", { class: "table instances" },
          h("caption", { class: "visually-hidden" }, `Instances in ${session.region}`),
          h("thead", {}, h("tr", {}, h("th", { class: "col-select", scope: "col" }, h("label", { class: "select-all" }, selectAll,
            h("span", { class: "narrow-only", "aria-hidden": "true" }, "Select all"))),
            COLUMNS.map((c, i) => h("th", { scope: "col", class: i === COLUMNS.length - 1 ? "col-actions" : "" }, c)))),
          tbody)),
        pager));
      renderSelection();
      document.addEventListener("toggle", onToggle, true);
      // Events carry most changes, but an action accepted through the API (SDK, tccli) publishes none
      // until its first step ends: a slow re-read catches those, faster while something is in transition.
      let ticks = 0;
      st.timer = setInterval(() => {
        ticks += 1;
        const busy = st.data && st.data.InstanceSet.some((i) => BUSY.has(i.InstanceState) || i.LatestOperationState === "OPERATING");
        if (document.visibilityState === "visible" && (busy || ticks % 4 === 0)) refresh();
      }, 2500);
      refresh();
    },
    refresh,
    unmount() {
      clearInterval(st.timer);
      document.removeEventListener("toggle", onToggle, true);
    },
  };
}
