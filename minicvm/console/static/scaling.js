// Auto Scaling groups: sizes, members with health and life-cycle state, recent activities; change the
// desired capacity.

import { call, session } from "./api.js";
import { clear, errorBox, fmtTime, h, humanize, keepFocus, mono, openDialog, statusBadge, toast, uid } from "./dom.js";

function capacityDialog(group, onChanged) {
  const d = openDialog({ title: "Change desired capacity" });
  const error = errorBox();
  const id = uid("desired");
  const input = h("input", { id, type: "number", inputmode: "numeric", min: String(group.MinSize), max: String(group.MaxSize),
    value: String(group.DesiredCapacity), "aria-describedby": `${id}-help` });
  const formId = uid("form");
  const form = h("form", { id: formId, class: "form", novalidate: true },
    h("p", { class: "lead" }, h("strong", {}, group.AutoScalingGroupName), " ", mono(group.AutoScalingGroupId)),
    h("div", { class: "field" }, h("label", { for: id }, "Desired capacity"), input,
      h("p", { class: "help", id: `${id}-help` },
        `Between the minimum ${group.MinSize} and the maximum ${group.MaxSize}. Now ${group.DesiredCapacity}, `
        + `${group.InServiceInstanceCount} in service. The group launches or removes instances to match.`)),
    error.el);
  const submit = h("button", { type: "submit", class: "button primary", form: formId, "data-role": "submit" }, "Change");
  d.body.append(form);
  d.footer.append(h("button", { type: "button", class: "button", onclick: () => d.close() }, "Cancel"), submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hide();
    const value = Number(input.value);
    if (!Number.isInteger(value) || input.value.trim() === "") {
      error.show("Give a whole number.");
      input.focus();
      return;
    }
    submit.disabled = true;
    try {
      await call("as", "ModifyDesiredCapacity", { AutoScalingGroupId: group.AutoScalingGroupId, DesiredCapacity: value });
      toast(`${group.AutoScalingGroupName}: desired capacity ${value}.`, "ok");
      d.close();
      onChanged();
    } catch (exc) {
      error.show(exc.message);
      submit.disabled = false;
    }
  });
  input.focus();
  input.select();
}

export function scalingView() {
  let body;
  let seq = 0;
  let timer = 0;
  const refresh = async () => {
    const mine = ++seq;
    try {
      const groups = (await call("as", "DescribeAutoScalingGroups", { Limit: 100 })).AutoScalingGroupSet;
      const details = await Promise.all(groups.map(async (g) => {
        const filter = [{ Name: "auto-scaling-group-id", Values: [g.AutoScalingGroupId] }];
        const [members, activities] = await Promise.all([
          call("as", "DescribeAutoScalingInstances", { Filters: filter, Limit: 100 }),
          call("as", "DescribeAutoScalingActivities", { Filters: filter, Limit: 8 }),
        ]);
        return { group: g, members: members.AutoScalingInstanceSet, activities: activities.ActivitySet };
      }));
      if (mine !== seq || !body.isConnected) return;
      keepFocus(() => render(details));
    } catch (exc) {
      if (mine !== seq || !body.isConnected) return;
      clear(body, h("div", { class: "banner error", role: "alert" }, `The groups could not be loaded: ${exc.message}`));
    }
  };

  const render = (details) => {
    if (!details.length) {
      clear(body, h("p", { class: "empty-note" }, `No Auto Scaling groups in ${session.region}. Create one with AS CreateAutoScalingGroup.`));
      return;
    }
    clear(body, details.map(({ group: g, members, activities }) => {
      const id = g.AutoScalingGroupId;
      const headingId = `asg-${id}`;
      return h("section", { class: "card group", "data-group": id, "aria-labelledby": headingId },
        h("div", { class: "card-head" },
          h("div", {}, h("h2", { id: headingId }, g.AutoScalingGroupName, " ", mono(id), " ", statusBadge(g.EnabledStatus)),
            h("p", { class: "sub" }, `Launch configuration ${g.LaunchConfigurationName} · `,
              (g.ForwardLoadBalancerSet || []).length ? ["load balancer ", (g.ForwardLoadBalancerSet || []).map((f) => mono(f.LoadBalancerId))] : "no load balancer",
              g.InActivityStatus === "IN_ACTIVITY" ? " · an activity is running" : "")),
          h("button", { type: "button", class: "button", "data-key": `asg:${id}:capacity`, onclick: () => capacityDialog(g, refresh) },
            "Change desired capacity")),
        h("dl", { class: "sizes" },
          [["Minimum", g.MinSize], ["Desired", g.DesiredCapacity], ["Maximum", g.MaxSize], ["In service", g.InServiceInstanceCount],
            ["Instances", g.InstanceCount]].map(([k, v]) => h("div", { "data-size": k.toLowerCase().replace(" ", "-") },
            h("dt", {}, k), h("dd", {}, String(v))))),
        h("h3", {}, "Instances"),
        members.length ? h("div", { class: "table-wrap" }, h("table", { class: "table compact" },
          h("caption", { class: "visually-hidden" }, `Instances of ${g.AutoScalingGroupName}`),
          h("thead", {}, h("tr", {}, ["Instance", "Life-cycle state", "Health", "Joined", "Type", "Zone", "Protected"].map((x) => h("th", { scope: "col" }, x)))),
          h("tbody", {}, members.map((m) => h("tr", { "data-instance": m.InstanceId },
            h("td", {}, h("a", { href: `#/instances/${m.InstanceId}` }, m.InstanceId)),
            h("td", {}, statusBadge(m.LifeCycleState)), h("td", {}, statusBadge(m.HealthStatus)),
            h("td", {}, m.CreationType === "AUTO_CREATION" ? "Created by the group" : "Attached by hand", h("div", { class: "muted small" }, fmtTime(m.AddTime))),
            h("td", {}, m.InstanceType), h("td", {}, m.Zone), h("td", {}, m.ProtectedFromScaleIn ? "Yes" : "No"))))))
          : h("p", { class: "muted empty-note" }, "No instances."),
        h("h3", {}, "Recent activities"),
        activities.length ? h("div", { class: "table-wrap" }, h("table", { class: "table compact" },
          h("caption", { class: "visually-hidden" }, `Activities of ${g.AutoScalingGroupName}`),
          h("thead", {}, h("tr", {}, ["Started", "Activity", "Status", "Cause"].map((x) => h("th", { scope: "col" }, x)))),
          h("tbody", {}, activities.map((a) => h("tr", {},
            h("td", { class: "nowrap" }, fmtTime(a.StartTime)), h("td", { class: "nowrap" }, humanize(a.ActivityType)),
            h("td", {}, statusBadge(a.StatusCode, a.StatusMessage)),
            h("td", {}, a.Cause, a.Description ? h("div", { class: "muted small" }, a.Description) : null))))))
          : h("p", { class: "muted empty-note" }, "No activities yet."));
    }));
  };

  return {
    title: "Auto Scaling",
    mount(root) {
      body = h("div", { class: "group-list" }, h("p", { class: "loading" }, "Loading…"));
      clear(root, h("div", { class: "page" },
        h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, "Auto Scaling"),
          h("p", { class: "sub" }, `Region ${session.region}. A shut-down member is marked unhealthy and replaced.`)),
        body));
      // Group activities have no events of their own; members' instances do (handled by refresh()).
      timer = setInterval(refresh, 3000);
      refresh();
    },
    refresh,
    unmount() { clearInterval(timer); },
  };
}
