// Load balancers: listeners, rules and targets with live health and request counters; deregister a
// target, delete a load balancer.

import { call, get, session } from "./api.js";
import { clear, confirmDialog, fmtTime, h, keepFocus, mono, statusBadge, toast } from "./dom.js";

const healthKey = (listener, location, instance, port) => `${listener}|${location || ""}|${instance}|${port}`;

async function loadOne(lb) {
  const [listeners, targets, health, counters] = await Promise.all([
    call("clb", "DescribeListeners", { LoadBalancerId: lb.LoadBalancerId }),
    call("clb", "DescribeTargets", { LoadBalancerId: lb.LoadBalancerId }),
    call("clb", "DescribeTargetHealth", { LoadBalancerIds: [lb.LoadBalancerId] }),
    get(`/console/api/clb/${encodeURIComponent(lb.LoadBalancerId)}/counters`, { region: "" }).catch(() => ({ Counters: [] })),
  ]);
  const healthMap = new Map();
  for (const l of health.LoadBalancers[0]?.Listeners || []) {
    for (const r of l.Rules || []) {
      for (const t of r.Targets || []) healthMap.set(healthKey(l.ListenerId, r.LocationId === l.ListenerId ? "" : r.LocationId, t.TargetId, t.Port), t);
    }
  }
  const countMap = new Map();
  const listenerCounts = new Map();
  for (const c of counters.Counters) {
    if (c.Target) countMap.set(`${c.ListenerId}|${c.LocationId || ""}|${c.Target}`, c);
    else if (!c.LocationId) listenerCounts.set(c.ListenerId, c);
  }
  return { lb, listeners: listeners.Listeners, targets: targets.Listeners, healthMap, countMap, listenerCounts };
}

function healthCheckText(check) {
  if (!check || !check.HealthSwitch) return "no health check";
  const what = check.CheckType === "HTTP" || check.HttpCheckPath ? `HTTP ${check.HttpCheckMethod || "GET"} ${check.HttpCheckPath || "/"}` : check.CheckType || "TCP";
  return `health check ${what} every ${check.IntervalTime}s (healthy after ${check.HealthNum}, unhealthy after ${check.UnHealthNum})`;
}

export function balancersView() {
  let body;
  let seq = 0;
  let timer = 0;
  const refresh = async () => {
    const mine = ++seq;
    try {
      const lbs = (await call("clb", "DescribeLoadBalancers", { Limit: 100 })).LoadBalancerSet;
      const all = await Promise.all(lbs.map(loadOne));
      if (mine !== seq || !body.isConnected) return;
      keepFocus(() => render(all));
    } catch (exc) {
      if (mine !== seq || !body.isConnected) return;
      clear(body, h("div", { class: "banner error", role: "alert" }, `The load balancers could not be loaded: ${exc.message}`));
    }
  };

  const render = (all) => {
    if (!all.length) {
      clear(body, h("p", { class: "empty-note" }, `No load balancers in ${session.region}. Create one with CLB CreateLoadBalancer.`));
      return;
    }
    clear(body, all.map(renderLb));
  };

  const renderLb = ({ lb, listeners, targets, healthMap, countMap, listenerCounts }) => {
    const id = lb.LoadBalancerId;
    const targetsOf = new Map();
    for (const l of targets) {
      targetsOf.set(`${l.ListenerId}|`, l.Targets || []);
      for (const r of l.Rules || []) targetsOf.set(`${l.ListenerId}|${r.LocationId}`, r.Targets || []);
    }
    const del = h("button", { type: "button", class: "button danger", "data-key": `lb:${id}:delete` }, "Delete load balancer");
    del.addEventListener("click", () => confirmDialog({
      title: "Delete load balancer", confirmLabel: "Delete", danger: true,
      message: [`Delete ${lb.LoadBalancerName} (${id}) with its ${listeners.length} listener(s)?`,
        "Its VIP stops answering at once. The target instances are not touched."],
      action: async () => {
        await call("clb", "DeleteLoadBalancer", { LoadBalancerIds: [id] });
        toast(`Deleted ${lb.LoadBalancerName}.`, "ok");
        refresh();
      },
    }));
    const headingId = `lb-${id}`;
    return h("section", { class: "card lb", "data-lb": id, "aria-labelledby": headingId },
      h("div", { class: "card-head" },
        h("div", {}, h("h2", { id: headingId }, lb.LoadBalancerName, " ", mono(id)),
          h("p", { class: "sub" }, "VIP ", mono((lb.LoadBalancerVips || []).join(", ")), ` · ${lb.LoadBalancerType === "OPEN" ? "public" : "private"}`,
            ` · created ${fmtTime(lb.CreateTime)}`)),
        del),
      listeners.length ? listeners.map((l) => renderListener(id, l, targetsOf, healthMap, countMap, listenerCounts))
        : h("p", { class: "muted empty-note" }, "No listeners."));
  };

  const renderListener = (lbId, l, targetsOf, healthMap, countMap, listenerCounts) => {
    const c = listenerCounts.get(l.ListenerId);
    const groups = l.Rules && l.Rules.length
      ? l.Rules.map((r) => ({ title: `Rule ${r.Domain || "*"}${r.Url} · ${healthCheckText(r.HealthCheck)}`, location: r.LocationId,
        targets: targetsOf.get(`${l.ListenerId}|${r.LocationId}`) || [] }))
      : [{ title: healthCheckText(l.HealthCheck), location: "", targets: targetsOf.get(`${l.ListenerId}|`) || [] }];
    return h("div", { class: "listener", "data-listener": l.ListenerId },
      h("h3", {}, `${l.Protocol}:${l.Port}`, " ", h("span", { class: "muted" }, `${l.ListenerName} · `), mono(l.ListenerId),
        c ? h("span", { class: "muted counters-inline" }, ` · ${c.Requests} requests, ${c.Responses5xx} 5xx, ${c.ActiveConnections} open connections`) : null),
      groups.map((g) => h("div", { class: "rule" },
        h("p", { class: "rule-title" }, g.title, g.location ? [" · ", mono(g.location)] : null),
        g.targets.length ? h("div", { class: "table-wrap" }, h("table", { class: "table compact" },
          h("caption", { class: "visually-hidden" }, `Targets of ${l.Protocol}:${l.Port} ${g.title}`),
          h("thead", {}, h("tr", {}, ["Target", "Port", "Weight", "Health", "Requests", "5xx", "Backend errors", "Open connections", ""]
            .map((x) => h("th", { scope: "col" }, x)))),
          h("tbody", {}, g.targets.map((t) => {
            const health = healthMap.get(healthKey(l.ListenerId, g.location, t.InstanceId, t.Port));
            const counts = countMap.get(`${l.ListenerId}|${g.location}|${t.InstanceId}:${t.Port}`) || {};
            const key = `lb:${lbId}:${l.ListenerId}:${g.location}:${t.InstanceId}:${t.Port}`;
            return h("tr", { "data-target": t.InstanceId },
              h("td", {}, h("a", { href: `#/instances/${t.InstanceId}` }, t.InstanceName || t.InstanceId), h("div", {}, mono(t.InstanceId))),
              h("td", {}, String(t.Port)), h("td", {}, String(t.Weight)),
              h("td", { "data-role": "health" }, statusBadge(health ? health.HealthStatusDetail : "Unknown")),
              h("td", { "data-role": "requests" }, String(counts.Requests ?? 0)), h("td", {}, String(counts.Responses5xx ?? 0)),
              h("td", {}, String(counts.BackendErrors ?? 0)), h("td", {}, String(counts.ActiveConnections ?? 0)),
              h("td", {}, h("button", { type: "button", class: "link-button", "data-key": key, onclick: () => confirmDialog({
                title: "Deregister target", confirmLabel: "Deregister",
                message: `Stop sending traffic from ${l.Protocol}:${l.Port} to ${t.InstanceName || t.InstanceId} port ${t.Port}?`,
                action: async () => {
                  await call("clb", "DeregisterTargets", { LoadBalancerId: lbId, ListenerId: l.ListenerId,
                    ...(g.location ? { LocationId: g.location } : {}), Targets: [{ InstanceId: t.InstanceId, Port: t.Port }] });
                  toast(`Deregistered ${t.InstanceId}:${t.Port}.`, "ok");
                  refresh();
                },
              }) }, "Deregister")));
          })))) : h("p", { class: "muted empty-note" }, "No targets."))));
  };

  return {
    title: "Load balancers",
    mount(root) {
      body = h("div", { class: "lb-list" }, h("p", { class: "loading" }, "Loading…"));
      clear(root, h("div", { class: "page" },
        h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, "Load balancers"),
          h("p", { class: "sub" }, `Region ${session.region}. Health is what the health checks see now; counters since the server started.`)),
        body));
      // Counters move with every request and have no events: re-read them every few seconds.
      timer = setInterval(refresh, 3000);
      refresh();
    },
    refresh,
    unmount() { clearInterval(timer); },
  };
}
