// Instance actions: the row's action bar and the batch dialog (shutdown, start, restart, terminate).
// Whether an action is possible, and why not, always comes from the server's verdicts (inst.Console),
// which the lifecycle table decides, and where an action leads from the table the server serves;
// nothing here re-derives a rule from the state.

import { call, freshInstances, lifecycle } from "./api.js";
import { actionButton, badge, clear, errorBox, h, menuButton, mono, openDialog, stateBadge, toast } from "./dom.js";
import { openFollowUp } from "./followups.js";

export const OPERATION_LABELS = {
  RunInstances: "Create", StartInstances: "Start", StopInstances: "Shutdown", RebootInstances: "Restart",
  TerminateInstances: "Terminate", ResetInstancesType: "Change type", ResizeInstanceDisks: "Resize disk",
  ResetInstancesPassword: "Reset password", AssociateInstancesKeyPairs: "Load key",
  DisassociateInstancesKeyPairs: "Unload key", ModifyInstancesAttribute: "Modify attributes",
};

// The console starts on "soft, then forced" while the API's default is soft: from here a person expects the
// shutdown to finish, and a plain soft shutdown of an operating system that does not respond ends as failed
// with the instance still running. The dialog says so.
const DEFAULT_STOP_TYPE = "SOFT_FIRST";
const STOP_DEFAULT_WHY = "Soft, then forced is chosen for you so that the shutdown finishes even if the operating system "
  + "does not respond; a soft shutdown alone (the API's default) would then fail and leave the instance running.";

const STOP_MODES = [
  ["SOFT", "Soft", "Asks the operating system to shut down cleanly. If it has not within the timeout, the shutdown fails and the instance keeps running."],
  ["SOFT_FIRST", "Soft, then forced", "Asks the operating system first; if it has not shut down within the timeout, the power is cut."],
  ["HARD", "Forced", "Cuts the power at once, like pulling the plug: quickest, but data not yet written to disk may be lost."],
];

const BATCH = {
  StopInstances: {
    title: "Shut down", past: "shut down", ing: "Shutting down",
    lead: "Shutting down is like shutting down a computer: all services stop, the state changes to Shutting down and then to Shut down.",
  },
  StartInstances: {
    title: "Start", past: "started", ing: "Starting",
    lead: "The instances boot again with their disks and data as they were when shut down.",
  },
  RebootInstances: {
    title: "Restart", past: "restarted", ing: "Restarting",
    lead: "Restarting shuts the operating system down and boots it again; data in memory is lost, disks keep their data.",
  },
  TerminateInstances: {
    title: "Terminate", past: "terminated", ing: "Terminating",
    lead: "Terminating deletes the instance and the disks bought with it. This cannot be undone.",
  },
};

const label = (inst) => inst.InstanceName || inst.InstanceId;

/** The state `action` leaves this instance in, as the server's lifecycle table says. */
function finalState(table, action, inst) {
  const outcomes = table.Actions[action].ByState[inst.InstanceState]?.Outcomes || {};
  return outcomes[inst.InstanceChargeType]?.Final;
}

function instanceLine(inst, extra) {
  return h("li", { class: "instance-line", "data-id": inst.InstanceId },
    h("div", { class: "instance-line-name" }, h("strong", {}, label(inst)), " ", mono(inst.InstanceId)),
    h("div", { class: "instance-line-state" }, stateBadge(inst.InstanceState)),
    extra);
}

/** The action bar at the right of a row (and on the detail page). */
export function actionBar(inst, { keyPrefix, onChanged }) {
  const act = inst.Console.Actions;
  const key = `${keyPrefix}:${inst.InstanceId}`;
  const verdict = (name) => ({ allowed: act[name].Allowed, reason: act[name].Reason });
  // A change made while shut down is available on a running instance too: its dialog says that the instance
  // will be shut down first and started again. Only what cannot be done at all is disabled.
  const follow = (name) => {
    const allowed = act[name].Allowed || act[name].ForceStopAllowed;
    return { allowed, reason: allowed ? undefined : act[name].Reason,
      onSelect: () => openFollowUp(name, inst.InstanceId, { onChanged }) };
  };
  return h("div", { class: "actionbar" },
    actionButton({ label: "Start", key: `${key}:start`, ...verdict("StartInstances"),
      onClick: () => startNow(inst, onChanged) }),
    actionButton({ label: "Shutdown", key: `${key}:stop`, ...verdict("StopInstances"),
      onClick: () => openBatchDialog("StopInstances", [inst.InstanceId], { onChanged }) }),
    actionButton({ label: "Restart", key: `${key}:reboot`, ...verdict("RebootInstances"),
      onClick: () => openBatchDialog("RebootInstances", [inst.InstanceId], { onChanged }) }),
    menuButton("More", [
      { label: "Terminate", key: "terminate", ...verdict("TerminateInstances"),
        onSelect: () => openBatchDialog("TerminateInstances", [inst.InstanceId], { onChanged }) },
      { label: "Change type", key: "type", ...follow("ResetInstancesType") },
      { label: "Resize disk", key: "resize", ...follow("ResizeInstanceDisks") },
      { label: "Reset password", key: "password", ...follow("ResetInstancesPassword") },
      { label: "Load key", key: "loadkey", ...follow("AssociateInstancesKeyPairs") },
      { label: "Unload key", key: "unloadkey", ...follow("DisassociateInstancesKeyPairs") },
    ], { key: `${key}:more`, menuLabel: `More actions for ${label(inst)}` }),
  );
}

async function startNow(inst, onChanged) {
  try {
    await call("cvm", "StartInstances", { InstanceIds: [inst.InstanceId] });
    toast(`Starting ${label(inst)}.`, "ok");
  } catch (exc) {
    toast(`${label(inst)} was not started: ${exc.message}`, "error");
  }
  onChanged?.();
}

function radios(name, choices, checked, onChange) {
  return choices.map(([value, title, help]) => {
    const id = `${name}-${value}`;
    return h("div", { class: "choice" },
      h("input", { type: "radio", name, id, value, checked: value === checked, "aria-describedby": `${id}-help`,
        onchange: () => onChange(value) }),
      h("label", { for: id }, h("strong", {}, title), " ", h("span", { class: "code" }, value)),
      h("p", { class: "help", id: `${id}-help` }, help));
  });
}

/** The dialog of "More → Shutdown", as in Tencent's console: what will be shut down, what cannot and why, the modes,
 * then each instance's progress and result, live. Also used for start, restart and terminate. */
export async function openBatchDialog(action, ids, { onChanged } = {}) {
  const meta = BATCH[action];
  const d = openDialog({ title: `${meta.title} ${ids.length === 1 ? "instance" : `${ids.length} instances`}`, wide: true });
  d.dialog.dataset.action = action;
  const error = errorBox();
  const lists = h("div", { class: "batch-lists" }, h("p", { class: "loading" }, "Checking the instances…"));
  const choices = { StopType: DEFAULT_STOP_TYPE, StoppedMode: "KEEP_CHARGING", ReleaseAddress: false };
  const options = h("div", { class: "batch-options" });
  const confirm = h("button", { type: "button", class: `button ${action === "TerminateInstances" ? "danger" : "primary"}`,
    "data-role": "confirm", disabled: true }, meta.title);
  const cancel = h("button", { type: "button", class: "button", onclick: () => d.close() }, "Cancel");
  d.body.append(h("p", { class: "lead" }, meta.lead), lists, options, error.el);
  d.footer.append(cancel, confirm);
  let eligible = [];
  let table;
  let members = new Map(); // instance id -> its Auto Scaling membership (DescribeAutoScalingInstances)

  const render = (instances) => {
    eligible = instances.filter((i) => i.Console.Actions[action].Allowed);
    const refused = instances.filter((i) => !i.Console.Actions[action].Allowed);
    const gone = ids.filter((id) => !instances.some((i) => i.InstanceId === id));
    clear(lists,
      h("section", { class: "batch-group", "data-group": "eligible", "aria-labelledby": "batch-eligible" },
        h("h3", { id: "batch-eligible" }, `Will be ${meta.past} (${eligible.length})`),
        eligible.length ? h("ul", { class: "instance-list" }, eligible.map((i) => instanceLine(i, h("div", { class: "progress" }))))
          : h("p", { class: "muted" }, `None of the selected instances can be ${meta.past} now.`)),
      refused.length || gone.length ? h("section", { class: "batch-group refused", "data-group": "refused", "aria-labelledby": "batch-refused" },
        h("h3", { id: "batch-refused" }, `Cannot be ${meta.past} (${refused.length + gone.length})`),
        h("ul", { class: "instance-list" },
          refused.map((i) => instanceLine(i, h("p", { class: "reason" },
            h("span", { class: "shape shape-triangle", "aria-hidden": "true" }), i.Console.Actions[action].Reason))),
          gone.map((id) => h("li", { class: "instance-line", "data-id": id }, mono(id),
            h("p", { class: "reason" }, "the instance no longer exists"))))) : null);
    renderOptions();
    confirm.disabled = eligible.length === 0;
    confirm.textContent = `${meta.title} ${eligible.length === 1 ? "1 instance" : `${eligible.length} instances`}`;
  };

  const renderOptions = () => {
    if (action === "StopInstances") {
      // Stop charging applies per instance: those that cannot are named with their reason and keep charging.
      const noCharge = eligible.filter((i) => !i.Console.StopCharging.Allowed);
      const canStopCharging = eligible.length > noCharge.length;
      if (!canStopCharging && choices.StoppedMode === "STOP_CHARGING") choices.StoppedMode = "KEEP_CHARGING";
      const stopChargingHelp = "CPU and memory are released and no longer billed, and so is the plain public IP: "
        + "the instance gets a new public IP when it starts. An EIP stays bound.";
      const chargingNote = h("div", { class: "note", "data-role": "stop-charging-refusal", hidden: !noCharge.length },
        h("p", {}, canStopCharging
          ? `Stop charging applies to ${eligible.length - noCharge.length} of ${eligible.length}; these keep charging while shut down:`
          : "Stop charging is not available for the selected instances:"),
        h("ul", {}, noCharge.map((i) => h("li", { "data-id": i.InstanceId }, h("strong", {}, label(i)), " ",
          mono(i.InstanceId), ": ", i.Console.StopCharging.Reason))));
      clear(options,
        h("fieldset", { class: "choices" }, h("legend", {}, "Shutdown mode"),
          radios("StopType", STOP_MODES, choices.StopType, (v) => { choices.StopType = v; }),
          h("p", { class: "help", "data-role": "stop-default" }, STOP_DEFAULT_WHY)),
        h("fieldset", { class: "choices" }, h("legend", {}, "When shut down"),
          radios("StoppedMode", [
            ["KEEP_CHARGING", "Keep charging", "The instance keeps its CPU, memory and public IP reserved, and billing continues."],
            ["STOP_CHARGING", "Stop charging", stopChargingHelp],
          ], choices.StoppedMode, (v) => { choices.StoppedMode = v; }),
          chargingNote),
        h("p", { class: "help keep" }, "Disks stay attached and keep all their data; data in memory is lost. The private "
          + "IP, EIPs and load balancer memberships are kept; a load balancer stops sending traffic to it."),
        scalingNote());
      if (!canStopCharging) {
        const input = options.querySelector("#StoppedMode-STOP_CHARGING");
        input.disabled = true;
        input.closest(".choice").classList.add("is-disabled");
      }
    } else if (action === "RebootInstances") {
      clear(options, h("fieldset", { class: "choices" }, h("legend", {}, "Shutdown mode for the restart"),
        radios("StopType", STOP_MODES, choices.StopType, (v) => { choices.StopType = v; })));
    } else if (action === "TerminateInstances") {
      clear(options, h("div", { class: "choice" },
        h("input", { type: "checkbox", id: "release-address", onchange: (e) => { choices.ReleaseAddress = e.target.checked; } }),
        h("label", { for: "release-address" }, "Also release its EIP ", h("span", { class: "code" }, "ReleaseAddress")),
        h("p", { class: "help" }, "Otherwise a bound EIP is unbound and kept.")));
    }
  };

  // What an Auto Scaling group does when one of its instances is shut down from here.
  const scalingNote = () => {
    const inGroups = eligible.filter((i) => members.has(i.InstanceId));
    if (!inGroups.length) return null;
    return h("div", { class: "note warn", "data-role": "auto-scaling" },
      h("p", {}, h("strong", {}, "Auto Scaling. "), "A group counts a shut-down instance as unhealthy at once:"),
      h("ul", {}, inGroups.map((i) => {
        const m = members.get(i.InstanceId);
        const group = `${m.AutoScalingGroupName} (${m.AutoScalingGroupId})`;
        const fate = m.ProtectedFromScaleIn
          ? `is protected in group ${group}: it stays in the group, marked unhealthy, and is not replaced.`
          : `leaves group ${group}, which launches a replacement within a second or two; `
            + (m.CreationType === "AUTO_CREATION" ? "because the group created it, it is then terminated."
              : "because it was added by hand, it is detached and stays shut down.");
        return h("li", { "data-id": i.InstanceId }, h("strong", {}, label(i)), " ", fate);
      })),
      h("p", { class: "help" }, "To take a member out of service without a replacement, stop it from its group on the "
        + "Auto Scaling page instead."));
  };

  const load = async () => {
    try {
      const [instances, served, scaling] = await Promise.all([freshInstances(ids), lifecycle(),
        action === "StopInstances" ? call("as", "DescribeAutoScalingInstances", { InstanceIds: ids, Limit: 100 })
          .catch(() => null) : null]);
      table = served;
      members = new Map((scaling?.AutoScalingInstanceSet || []).map((m) => [m.InstanceId, m]));
      render(instances);
    } catch (exc) {
      clear(lists);
      error.show(exc.message);
    }
  };
  await load();
  if (d.isOpen()) (action === "TerminateInstances" || confirm.disabled ? cancel : confirm).focus();

  confirm.addEventListener("click", async () => {
    const targets = eligible.map((i) => i.InstanceId);
    if (!targets.length) return;
    const finals = new Map(eligible.map((i) => [i.InstanceId, finalState(table, action, i)]));
    // Usually one request. Stopping charging is per instance: those that cannot are shut down in a second
    // request that keeps charging, so the choice does not fail the whole batch.
    const requests = [[targets, {}]];
    if (action === "StopInstances") {
      const common = { StopType: choices.StopType, StoppedMode: choices.StoppedMode };
      const keep = choices.StoppedMode === "STOP_CHARGING"
        ? eligible.filter((i) => !i.Console.StopCharging.Allowed).map((i) => i.InstanceId) : [];
      const rest = targets.filter((id) => !keep.includes(id));
      requests.splice(0, 1, ...[[rest, common], [keep, { ...common, StoppedMode: "KEEP_CHARGING" }]].filter(([list]) => list.length));
    }
    if (action === "RebootInstances") requests[0][1].StopType = choices.StopType;
    if (action === "TerminateInstances") requests[0][1].ReleaseAddress = choices.ReleaseAddress;
    confirm.disabled = true;
    error.hide();
    const requestIds = new Map();
    for (const [list, extra] of requests) {
      try {
        const { RequestId } = await call("cvm", action, { InstanceIds: list, ...extra });
        list.forEach((id) => requestIds.set(id, RequestId));
      } catch (exc) {
        // All or nothing per request: nothing of this one happened. Show why and what is true now.
        error.show(requestIds.size ? `${list.length} of them were not ${meta.past}: ${exc.message}`
          : `Nothing was ${meta.past}: ${exc.message}`);
        if (!requestIds.size) {
          await load();
          return;
        }
        break;
      }
    }
    onChanged?.();
    follow(d, lists, options, cancel, confirm, [...requestIds.keys()], finals, requestIds, action, meta, onChanged);
  });
  return d;
}

/** After Confirm: each instance's own progress and result, refreshed by live events (and a slow poll). */
function follow(d, lists, options, cancel, confirm, targets, finals, requestIds, action, meta, onChanged) {
  options.replaceChildren();
  confirm.remove();
  cancel.textContent = "Close";
  cancel.classList.add("primary");
  cancel.focus();
  const heading = lists.querySelector("#batch-eligible");
  heading.textContent = `${meta.ing} (${targets.length})`;
  const summary = h("p", { class: "summary", role: "status", "data-role": "summary" }, `${meta.ing}…`);
  lists.querySelector('[data-group="eligible"]').append(summary);
  d.dialog.dataset.phase = "progress";

  let done = false;
  const update = async () => {
    if (done || !d.isOpen()) return;
    let now;
    try {
      now = await freshInstances(targets);
    } catch {
      return; // a transient failure: the next event or poll tries again
    }
    const byId = new Map(now.map((i) => [i.InstanceId, i]));
    let finished = 0;
    let failed = 0;
    for (const id of targets) {
      const row = lists.querySelector(`[data-group="eligible"] [data-id="${id}"]`);
      if (!row) continue;
      const inst = byId.get(id);
      const ours = inst && inst.LatestOperationRequestId === requestIds.get(id);
      let result;
      if (!inst) {
        result = ["done", badge(action === "TerminateInstances" ? "Terminated" : "Gone", "off", "square")];
      } else if (ours && inst.LatestOperationState === "FAILED") {
        result = ["failed", h("span", {}, badge("Failed", "bad", "cross"), " ", inst.LatestOperationErrorMsg || "")];
      } else if (ours && inst.LatestOperationState === "SUCCESS" && inst.InstanceState === finals.get(id)) {
        result = ["done", badge(`Done: ${meta.past}`, "ok", "dot")];
      } else {
        result = ["running", badge(`${meta.ing}…`, "busy", "spin")];
      }
      row.dataset.result = result[0];
      if (inst) row.querySelector(".instance-line-state")?.replaceChildren(stateBadge(inst.InstanceState));
      row.querySelector(".progress")?.replaceChildren(result[1]);
      if (result[0] !== "running") finished += 1;
      if (result[0] === "failed") failed += 1;
    }
    summary.textContent = finished === targets.length
      ? `Finished: ${targets.length - failed} ${meta.past}${failed ? `, ${failed} failed` : ""}.`
      : `${meta.ing}: ${finished} of ${targets.length} finished.`;
    if (finished === targets.length) {
      done = true;
      heading.textContent = `Result (${targets.length})`;
      d.dialog.dataset.phase = "finished";
      onChanged?.();
    }
  };
  const onEvent = () => update();
  window.addEventListener("minicvm:changed", onEvent);
  // Events carry the news; the poll only covers a dropped event stream.
  const timer = setInterval(update, 2000);
  d.dialog.addEventListener("close", () => {
    window.removeEventListener("minicvm:changed", onEvent);
    clearInterval(timer);
  });
  update();
}
