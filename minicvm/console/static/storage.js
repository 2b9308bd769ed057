// Disks (attach, detach, terminate elastic disks) and EIPs (allocate, bind, unbind, release).
// Which action is offered follows the resource's status field; the server decides and explains refusals.

import { call, session } from "./api.js";
import { clear, confirmDialog, errorBox, fmtTime, h, keepFocus, mono, muted, openDialog, statusBadge, toast, uid } from "./dom.js";

/** A dialog to choose one of the region's instances (optionally of one zone), then run `action(id)`. */
async function pickInstanceDialog({ title, intro, zone, submitLabel, extra, action }) {
  const d = openDialog({ title });
  const error = errorBox();
  d.body.append(h("p", { class: "loading" }, "Loading the instances…"));
  d.footer.append(h("button", { type: "button", class: "button", onclick: () => d.close() }, "Cancel"));
  let list;
  try {
    const filters = [{ Name: "instance-state", Values: ["RUNNING", "STOPPED"] }];
    if (zone) filters.push({ Name: "zone", Values: [zone] });
    list = (await call("cvm", "DescribeInstances", { Filters: filters, Limit: 100 })).InstanceSet;
  } catch (exc) {
    clear(d.body, error.el);
    error.show(exc.message);
    return;
  }
  const id = uid("instance");
  const select = h("select", { id }, list.map((i) => h("option", { value: i.InstanceId },
    `${i.InstanceName || i.InstanceId} (${i.InstanceId}) · ${i.InstanceState === "RUNNING" ? "running" : "shut down"}`)));
  const formId = uid("form");
  const form = h("form", { id: formId, class: "form", novalidate: true }, h("p", {}, intro),
    list.length ? h("div", { class: "field" }, h("label", { for: id }, "Instance"), select)
      : h("p", { class: "muted" }, `No running or shut-down instance${zone ? ` in ${zone}` : ""}.`),
    extra, error.el);
  const submit = h("button", { type: "submit", class: "button primary", form: formId, disabled: !list.length, "data-role": "submit" }, submitLabel);
  clear(d.body, form);
  d.footer.append(submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hide();
    submit.disabled = true;
    try {
      await action(select.value);
      d.close();
    } catch (exc) {
      error.show(exc.message);
      submit.disabled = false;
    }
  });
  select.focus();
}

export function listPage({ title, sub, load, headers, row, empty, tools }) {
  let tbody;
  let message;
  let seq = 0;
  const refresh = async () => {
    const mine = ++seq;
    try {
      const items = await load();
      if (mine !== seq || !tbody.isConnected) return;
      message.hidden = true;
      keepFocus(() => clear(tbody, items.length ? items.map((item) => row(item, refresh))
        : h("tr", { class: "empty" }, h("td", { colspan: String(headers.length) }, empty()))));
    } catch (exc) {
      if (mine !== seq) return;
      message.hidden = false;
      clear(message, exc.message);
    }
  };
  return {
    title,
    mount(root) {
      message = h("div", { class: "banner error", role: "alert", hidden: true });
      tbody = h("tbody", {}, h("tr", { class: "empty" }, h("td", { colspan: String(headers.length) }, "Loading…")));
      clear(root, h("div", { class: "page" },
        h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, title), h("p", { class: "sub" }, sub())),
        tools ? h("div", { class: "toolbar" }, tools(refresh)) : null,
        message,
        h("div", { class: "table-wrap" }, h("table", { class: "table" }, h("caption", { class: "visually-hidden" }, title),
          h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))), tbody))));
      refresh();
    },
    refresh,
    unmount() {},
  };
}

const done = (text, refresh) => { toast(text, "ok"); refresh(); };

export function disksView() {
  return listPage({
    title: "Disks",
    sub: () => `Region ${session.region}. Disks bought with an instance go with it; elastic disks can be attached, detached and terminated.`,
    load: async () => (await call("cbs", "DescribeDisks", { Limit: 100 })).DiskSet,
    headers: ["Disk", "Use", "Type", "Size", "State", "Instance", "Zone", "Operations"],
    empty: () => `No disks in ${session.region}.`,
    row: (d, refresh) => {
      const key = `disk:${d.DiskId}`;
      const actions = [];
      if (!d.Portable) {
        actions.push(muted("Goes with its instance"));
      } else if (d.DiskState === "UNATTACHED") {
        actions.push(h("button", { type: "button", class: "link-button", "data-key": `${key}:attach`, onclick: () => pickInstanceDialog({
          title: "Attach disk", submitLabel: "Attach", zone: d.Placement.Zone,
          intro: `Attach ${d.DiskName} (${d.DiskId}, ${d.DiskSize} GiB) to an instance in ${d.Placement.Zone}.`,
          action: async (instanceId) => {
            await call("cbs", "AttachDisks", { DiskIds: [d.DiskId], InstanceId: instanceId });
            done(`Attaching ${d.DiskId} to ${instanceId}.`, refresh);
          },
        }) }, "Attach"));
        actions.push(h("button", { type: "button", class: "link-button danger", "data-key": `${key}:terminate`, onclick: () => confirmDialog({
          title: "Terminate disk", confirmLabel: "Terminate", danger: true,
          message: [`Terminate ${d.DiskName} (${d.DiskId})?`, "The disk and all its data are deleted. This cannot be undone."],
          action: async () => {
            await call("cbs", "TerminateDisks", { DiskIds: [d.DiskId] });
            done(`Terminated ${d.DiskId}.`, refresh);
          },
        }) }, "Terminate"));
      } else if (d.DiskState === "ATTACHED") {
        actions.push(h("button", { type: "button", class: "link-button", "data-key": `${key}:detach`, onclick: () => confirmDialog({
          title: "Detach disk", confirmLabel: "Detach",
          message: [`Detach ${d.DiskName} (${d.DiskId}) from ${d.InstanceId}?`, "The disk keeps its data and can be attached again."],
          action: async () => {
            await call("cbs", "DetachDisks", { DiskIds: [d.DiskId] });
            done(`Detaching ${d.DiskId}.`, refresh);
          },
        }) }, "Detach"));
      } else {
        actions.push(muted("Wait until it settles"));
      }
      return h("tr", { "data-disk": d.DiskId, "data-status": d.DiskState },
        h("td", {}, d.DiskName, h("div", {}, mono(d.DiskId))),
        h("td", {}, d.DiskUsage === "SYSTEM_DISK" ? "System" : d.Portable ? "Data (elastic)" : "Data"),
        h("td", {}, d.DiskType), h("td", { class: "nowrap" }, `${d.DiskSize} GiB`), h("td", {}, statusBadge(d.DiskState)),
        h("td", { class: "nowrap" }, d.InstanceId ? h("a", { href: `#/instances/${d.InstanceId}` }, d.InstanceId) : "—"),
        h("td", { class: "nowrap" }, d.Placement.Zone), h("td", {}, h("div", { class: "actionbar" }, actions)));
    },
  });
}

export function eipsView() {
  return listPage({
    title: "EIPs",
    sub: () => `Region ${session.region}. An EIP stays yours, and bound, across shutdowns; unbind it to move it, release it to give it back.`,
    load: async () => (await call("vpc", "DescribeAddresses", { Limit: 100 })).AddressSet,
    headers: ["EIP", "Address", "Status", "Bound to", "Bandwidth", "Created", "Operations"],
    empty: () => `No EIPs in ${session.region}.`,
    tools: (refresh) => h("button", { type: "button", class: "button primary", "data-key": "eip:allocate", onclick: async () => {
      try {
        const made = await call("vpc", "AllocateAddresses", { AddressCount: 1 });
        done(`Allocated ${made.AddressSet.join(", ")}.`, refresh);
      } catch (exc) {
        toast(`No EIP was allocated: ${exc.message}`, "error");
      }
    } }, "Allocate EIP"),
    row: (a, refresh) => {
      const key = `eip:${a.AddressId}`;
      const actions = [];
      if (a.AddressStatus === "UNBIND") {
        actions.push(h("button", { type: "button", class: "link-button", "data-key": `${key}:bind`, onclick: () => pickInstanceDialog({
          title: "Bind EIP", submitLabel: "Bind", intro: `Bind ${a.AddressIp} (${a.AddressId}) to an instance. It replaces the instance's plain public IP.`,
          action: async (instanceId) => {
            await call("vpc", "AssociateAddress", { AddressId: a.AddressId, InstanceId: instanceId });
            done(`Binding ${a.AddressIp} to ${instanceId}.`, refresh);
          },
        }) }, "Bind"));
        actions.push(h("button", { type: "button", class: "link-button danger", "data-key": `${key}:release`, onclick: () => confirmDialog({
          title: "Release EIP", confirmLabel: "Release", danger: true,
          message: `Release ${a.AddressIp} (${a.AddressId})? The address goes back to the pool and may not come back.`,
          action: async () => {
            await call("vpc", "ReleaseAddresses", { AddressIds: [a.AddressId] });
            done(`Releasing ${a.AddressIp}.`, refresh);
          },
        }) }, "Release"));
      } else if (a.AddressStatus === "BIND") {
        const id = uid("realloc");
        const box = h("input", { type: "checkbox", id, checked: true });
        actions.push(h("button", { type: "button", class: "link-button", "data-key": `${key}:unbind`, onclick: () => confirmDialog({
          title: "Unbind EIP", confirmLabel: "Unbind",
          message: `Unbind ${a.AddressIp} (${a.AddressId}) from ${a.InstanceId}? The EIP stays in your account.`,
          extra: h("div", { class: "choice" }, box, h("label", { for: id }, "Give the instance a new plain public IP ",
            h("span", { class: "code" }, "ReallocateNormalPublicIp"))),
          action: async () => {
            await call("vpc", "DisassociateAddress", { AddressId: a.AddressId, ReallocateNormalPublicIp: box.checked });
            done(`Unbinding ${a.AddressIp}.`, refresh);
          },
        }) }, "Unbind"));
      } else {
        actions.push(muted("Wait until it settles"));
      }
      return h("tr", { "data-eip": a.AddressId, "data-status": a.AddressStatus },
        h("td", {}, a.AddressName, h("div", {}, mono(a.AddressId))), h("td", {}, h("span", { class: "mono plain" }, a.AddressIp)),
        h("td", {}, statusBadge(a.AddressStatus)),
        h("td", { class: "nowrap" }, a.InstanceId ? h("a", { href: `#/instances/${a.InstanceId}` }, a.InstanceId) : "—"),
        h("td", { class: "nowrap" }, `${a.Bandwidth} Mbps`), h("td", { class: "nowrap" }, fmtTime(a.CreatedTime)),
        h("td", {}, h("div", { class: "actionbar" }, actions)));
    },
  });
}
