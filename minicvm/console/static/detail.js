// One instance: configuration, disks, addresses, load balancer memberships with health, its Auto Scaling
// group, and its operation log; with the same action bar as its row.

import { actionBar, OPERATION_LABELS } from "./actions.js";
import { get } from "./api.js";
import { clear, fmtTime, h, keepFocus, mono, muted, stateBadge, statusBadge, anyMenuOpen } from "./dom.js";

function table(caption, headers, rows, empty) {
  if (!rows.length) return h("p", { class: "muted empty-note" }, empty);
  return h("div", { class: "table-wrap" }, h("table", { class: "table compact" },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c)))))));
}

function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}

const card = (title, id, ...content) => h("section", { class: "card", "aria-labelledby": id, "data-section": id },
  h("h2", { id }, title), ...content);

export function detailView(instanceId) {
  let root;
  let body;
  let pending = false;
  let seq = 0;
  const refresh = async () => {
    if (anyMenuOpen()) { pending = true; return; }
    pending = false;
    const mine = ++seq;
    let data;
    try {
      data = await get(`/console/api/instances/${encodeURIComponent(instanceId)}`);
    } catch (exc) {
      if (mine !== seq || !body.isConnected) return;
      clear(body, h("div", { class: "banner error", role: "alert" },
        exc.code === "InvalidInstanceId.NotFound" ? `${instanceId} does not exist in this region (or was terminated).` : exc.message),
        h("p", {}, h("a", { href: "#/instances" }, "Back to the instances")));
      return;
    }
    if (mine !== seq || !body.isConnected) return;
    if (anyMenuOpen()) {
      pending = true;
      return;
    }
    keepFocus(() => render(data));
  };
  const onToggle = (event) => { if (pending && event.newState === "closed") setTimeout(refresh, 0); };

  const render = ({ Instance: inst, Disks: disks, Addresses: addresses, LoadBalancers: lbs, AutoScaling: member, Log: log }) => {
    const name = inst.InstanceName || inst.InstanceId;
    document.title = `${name} · minicvm console`;
    root.querySelector("[data-role=crumb-name]").textContent = name;
    const heading = root.querySelector("h1");
    clear(heading, name, " ", stateBadge(inst.InstanceState));
    // "Log in": the instance's console in a window of its own, while its OS is up.
    const login = inst.InstanceState === "RUNNING"
      ? h("a", { class: "button", href: `/console/instances/${encodeURIComponent(inst.InstanceId)}/terminal`,
        target: "_blank", rel: "noopener", "data-key": "detail:login" }, "Log in")
      : null;
    clear(root.querySelector("[data-role=head-actions]"), login,
      actionBar(inst, { keyPrefix: "detail", onChanged: refresh }));
    clear(root.querySelector("[data-role=head-id]"), mono(inst.InstanceId), " · ", inst.Placement.Zone, " · ",
      `${inst.InstanceType} (${inst.CPU} vCPU, ${inst.Memory} GiB)`);
    const op = inst.LatestOperation;
    clear(body,
      h("div", { class: "cards" },
        card("Configuration", "sec-config", facts([
          ["Zone", inst.Placement.Zone],
          ["Instance type", `${inst.InstanceType} · ${inst.CPU} vCPU · ${inst.Memory} GiB`],
          ["Image", `${inst.OsName || ""} (${inst.ImageId})`],
          ["Billing", inst.InstanceChargeType],
          ["When shut down", inst.StopChargingMode === "NOT_APPLICABLE" ? "—" : inst.StopChargingMode],
          ["Host name", inst.HostName],
          ["Login", `user ${inst.DefaultLoginUser}, port ${inst.DefaultLoginPort}`],
          ["Key pairs", (inst.LoginSettings?.KeyIds || []).join(", ") || "none"],
          ["Created", fmtTime(inst.CreatedTime)],
          ["Latest operation", op ? h("span", {}, `${OPERATION_LABELS[op] || op} `, statusBadge(inst.LatestOperationState),
            inst.LatestOperationErrorMsg ? h("span", { class: "op-error" }, ` ${inst.LatestOperationErrorMsg}`) : "") : "—"],
        ])),
        card("Network", "sec-network", facts([
          ["Private IP", (inst.PrivateIpAddresses || []).join(", ")],
          ["VPC / subnet", `${inst.VirtualPrivateCloud.VpcId || "—"} / ${inst.VirtualPrivateCloud.SubnetId || "—"}`],
        ]), table("Public addresses", ["Address", "Kind", "ID", "Status"], addresses.map((a) => [
          h("span", { class: "mono plain" }, a.AddressIp), a.AddressType === "EIP" ? h("span", { class: "tag tag-eip" }, "EIP") : h("span", { class: "tag" }, "Public IP"),
          a.AddressType === "EIP" ? h("a", { href: "#/eips" }, a.AddressId) : mono(a.AddressId), statusBadge(a.AddressStatus),
        ]), "No public IP and no EIP.")),
        card("Auto Scaling", "sec-as", member ? facts([
          ["Group", h("a", { href: "#/as" }, `${member.AutoScalingGroupName} (${member.AutoScalingGroupId})`)],
          ["Life-cycle state", statusBadge(member.LifeCycleState)],
          ["Health", statusBadge(member.HealthStatus)],
          ["Joined", `${member.CreationType === "AUTO_CREATION" ? "created by the group" : "attached by hand"}, ${fmtTime(member.AddTime)}`],
          ["Protected from scale-in", member.ProtectedFromScaleIn ? "Yes" : "No"],
        ]) : h("p", { class: "muted empty-note" }, "Not in an Auto Scaling group.")),
        card("Disks", "sec-disks", table("Disks", ["Disk", "Use", "Type", "Size", "State", "Deleted with instance"], disks.map((d) => [
          h("div", {}, d.DiskName, h("div", {}, mono(d.DiskId))),
          d.DiskUsage === "SYSTEM_DISK" ? "System" : d.Portable ? "Data (elastic)" : "Data",
          d.DiskType, h("span", { "data-role": "size" }, `${d.DiskSize} GiB`), statusBadge(d.DiskState), d.DeleteWithInstance ? "Yes" : "No",
        ]), "No disks.")),
        card("Load balancers", "sec-lbs", table("Load balancer memberships",
          ["Load balancer", "Listener", "Target port", "Weight", "Health"], lbs.map((m) => [
            h("div", {}, h("a", { href: "#/lb" }, m.LoadBalancerName || m.LoadBalancerId), h("div", {}, mono(m.LoadBalancerId), " · ", mono(m.Vip))),
            `${m.Protocol}:${m.ListenerPort}${m.LocationId ? ` · rule ${m.LocationId}` : ""}`, String(m.Port), String(m.Weight),
            statusBadge(m.Health),
          ]), "Not a target of any load balancer.")),
      ),
      card("Operation log", "sec-log", table("Operation log", ["Time", "What", "Result", "Details"], log.map((e) => [
        h("span", { class: "nowrap" }, fmtTime(e.Time)), OPERATION_LABELS[e.Kind] ? `${OPERATION_LABELS[e.Kind]} (${e.Kind})` : e.Kind,
        e.State ? statusBadge(e.State) : muted("event"),
        h("div", {}, e.Message, e.RequestId ? h("div", { class: "muted small" }, "Request ", mono(e.RequestId)) : null),
      ]), "Nothing yet.")));
  };

  return {
    title: instanceId,
    mount(el) {
      root = el;
      body = h("div", { class: "detail-body" }, h("p", { class: "loading" }, "Loading…"));
      clear(root, h("div", { class: "page" },
        h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/instances" }, "Instances"), " / ",
          h("span", { "data-role": "crumb-name", "aria-current": "page" }, instanceId)),
        h("div", { class: "page-head detail-head" },
          h("div", {}, h("h1", { tabindex: "-1" }, instanceId), h("p", { class: "sub", "data-role": "head-id" })),
          h("div", { "data-role": "head-actions" })),
        body));
      document.addEventListener("toggle", onToggle, true);
      refresh();
    },
    refresh,
    unmount() { document.removeEventListener("toggle", onToggle, true); },
  };
}
