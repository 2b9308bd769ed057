// The follow-up actions of a shutdown, each a dialog: change type, resize disk, reset password, load/unload key.
// They are offered while the instance is shut down; on a running one, only with the documented
// ForceStop choice (the server's verdict says which).

import { call, freshInstances } from "./api.js";
import { clear, errorBox, h, mono, openDialog, stateBadge, toast, uid } from "./dom.js";

const label = (inst) => inst.InstanceName || inst.InstanceId;

// ResetInstancesPassword's rules, shown and checked before submitting (the server checks them again).
const SPECIAL = "()`~!@#$%^&*-+=_|{}[]:;'<>,.?/";
export const PASSWORD_RULES = [
  ["length", "8 to 30 characters", (p) => p.length >= 8 && p.length <= 30],
  ["slash", "does not start with “/”", (p) => p.length > 0 && !p.startsWith("/")],
  ["charset", `only letters, digits and the special characters ${SPECIAL}`,
    (p) => p.length > 0 && [...p].every((c) => /[A-Za-z0-9]/.test(c) || SPECIAL.includes(c))],
  ["classes", "at least three of: lower-case letters, upper-case letters, digits, special characters",
    (p) => [/[a-z]/, /[A-Z]/, /[0-9]/].filter((r) => r.test(p)).length + ([...p].some((c) => SPECIAL.includes(c)) ? 1 : 0) >= 3],
];

// `what`: the change in words, for "To <what>, the instance is shut down first…".
const FOLLOW_UPS = {
  ResetInstancesType: { title: "Change instance type", submit: "Change type", build: buildType, what: "change its type" },
  ResizeInstanceDisks: { title: "Resize disk", submit: "Resize", build: buildResize, what: "grow the disk", online: true },
  ResetInstancesPassword: { title: "Reset password", submit: "Reset password", build: buildPassword, what: "reset the password" },
  AssociateInstancesKeyPairs: { title: "Load SSH key", submit: "Load key", build: (inst, form, d) => buildKeys(inst, form, true, d),
    what: "load the key" },
  DisassociateInstancesKeyPairs: { title: "Unload SSH key", submit: "Unload key", build: (inst, form, d) => buildKeys(inst, form, false, d),
    what: "unload the key" },
};

/** Until the operation `requestId` started on the instance has ended; the instance as it is then. */
async function finished(instanceId, requestId) {
  const deadline = Date.now() + 10 * 60 * 1000;
  for (;;) {
    const [inst] = await freshInstances([instanceId]);
    if (!inst || (inst.LatestOperationRequestId === requestId && inst.LatestOperationState !== "OPERATING")) return inst;
    if (Date.now() > deadline) throw new Error("it is taking longer than ten minutes; see the instance's log");
    await new Promise((resolve) => setTimeout(resolve, 700));
  }
}

export async function openFollowUp(action, instanceId, { onChanged } = {}) {
  const spec = FOLLOW_UPS[action];
  const d = openDialog({ title: spec.title });
  d.dialog.dataset.action = action;
  const error = errorBox();
  const close = h("button", { type: "button", class: "button", onclick: () => d.close() }, "Cancel");
  d.footer.append(close);
  d.body.append(h("p", { class: "loading" }, "Loading…"));
  let inst;
  try {
    [inst] = await freshInstances([instanceId]);
    if (!inst) throw new Error(`${instanceId} no longer exists.`);
  } catch (exc) {
    clear(d.body, error.el);
    error.show(exc.message);
    return d;
  }
  const verdict = inst.Console.Actions[action];
  const head = h("p", { class: "lead" }, h("strong", {}, label(inst)), " ", mono(inst.InstanceId), " ", stateBadge(inst.InstanceState));
  if (!verdict.Allowed && !verdict.ForceStopAllowed) {
    clear(d.body, head, error.el);
    error.show(`${spec.title} is not available: ${verdict.Reason}`);
    close.textContent = "Close";
    return d;
  }
  const formId = uid("form");
  const form = h("form", { id: formId, class: "form", novalidate: true });
  const running = !verdict.Allowed;
  let forceBox = null;
  if (running) {
    // Said in the console's words: what will happen to the instance, and a choice to agree to it.
    const name = uid("force");
    const cycle = `To ${spec.what}, the instance is shut down first (the operating system is asked to shut down, and the `
      + "power is cut if it does not respond in time), then the change is made and the instance is started again. "
      + "What runs on it is unavailable meanwhile and data in memory is lost; disks keep their data.";
    forceBox = h("div", { class: "note warn", "data-role": "force-stop" },
      h("p", {}, h("span", { class: "shape shape-triangle", "aria-hidden": "true" }), " ", h("strong", {}, "This instance is running. "), cycle),
      spec.online
        ? h("fieldset", { class: "choices" }, h("legend", {}, "Grow the disk:"),
          [["ResizeOnline", "Now, while the instance keeps running"],
            ["ForceStop", "Shut the instance down, grow the disk and start it again"]].map(([value, text]) => h("div", { class: "choice" },
            h("input", { type: "radio", id: `${name}-${value}`, name, value }), h("label", { for: `${name}-${value}` }, text))))
        : h("div", { class: "choice" }, h("input", { type: "checkbox", id: `${name}-ForceStop`, name, value: "ForceStop" }),
          h("label", { for: `${name}-ForceStop` }, "Shut the instance down, make the change and start it again")));
  }
  clear(d.body, head, running ? null : h("p", { class: "help" }, "Changes like this are made while the instance is shut down."),
    forceBox, form, error.el);
  let part;
  try {
    part = await spec.build(inst, form, d);
  } catch (exc) {
    error.show(exc.message);
    return d;
  }
  const submit = h("button", { type: "submit", class: "button primary", form: formId, "data-role": "submit",
    disabled: part.ready === false }, spec.submit);
  d.footer.append(submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hide();
    const extra = {};
    if (running) {
      const picked = forceBox.querySelector("input:checked");
      if (!picked) {
        error.show(spec.online ? "This instance is running: choose how to grow the disk."
          : "This instance is running: tick the box to agree that it is shut down and started again.");
        forceBox.querySelector("input")?.focus();
        return;
      }
      extra[picked.value] = true;
    }
    const problem = part.validate();
    if (problem) {
      error.show(problem);
      part.focus?.();
      return;
    }
    submit.disabled = true;
    let requestId;
    try {
      const { service = "cvm", params } = part.request();
      requestId = (await call(service, action, { ...params, ...extra })).RequestId;
    } catch (exc) {
      error.show(exc.message);
      submit.disabled = false;
      return;
    }
    d.close();
    onChanged?.();
    // The toast tells what happened once it has: the change is made (and the instance restarted) after the
    // request was accepted, not when this dialog closes.
    if (extra.ForceStop) toast(`${label(inst)} is shutting down to ${spec.what}; it starts again afterwards.`, "info");
    try {
      const after = await finished(inst.InstanceId, requestId);
      if (after && after.LatestOperationState === "FAILED") {
        toast(`${spec.title} of ${label(inst)} failed: ${after.LatestOperationErrorMsg || "see the instance's log"}`, "error");
      } else {
        toast(part.done(after), "ok");
      }
    } catch (exc) {
      toast(`${spec.title} of ${label(inst)}: ${exc.message}`, "info");
    }
    onChanged?.();
  });
  form.querySelector("input:not([type=hidden]), select")?.focus();
  return d;
}

function field(labelText, control, help) {
  const helpId = help ? uid("help") : null;
  if (helpId) control.setAttribute("aria-describedby", helpId);
  return h("div", { class: "field" }, h("label", { for: control.id }, labelText), control,
    help ? h("p", { class: "help", id: helpId }, help) : null);
}

async function buildType(inst, form) {
  const zone = inst.Placement.Zone;
  // The types this instance may change to, with the reason for each it may not: the rule ResetInstancesType enforces.
  const statuses = (await call("cvm", "DescribeInstancesModification", { InstanceIds: [inst.InstanceId] }))
    .InstanceTypeConfigStatusSet;
  const select = h("select", { id: uid("type"), name: "InstanceType" }, h("option", { value: "" }, "Choose a type…"));
  const families = new Map();
  for (const s of statuses) {
    const family = s.InstanceTypeConfig.InstanceFamily;
    if (!families.has(family)) families.set(family, []);
    families.get(family).push(s);
  }
  for (const [family, list] of families) {
    select.append(h("optgroup", { label: `${family} family` }, list.map(({ Status, Message, InstanceTypeConfig: t }) => {
      const current = t.InstanceType === inst.InstanceType;
      const why = current ? " (current)" : Status === "SELL" ? "" : ` (${Message})`;
      return h("option", { value: t.InstanceType, disabled: Status !== "SELL", title: Message || null },
        `${t.InstanceType} · ${t.CPU} vCPU · ${t.Memory} GiB${why}`);
    })));
  }
  form.append(
    h("p", {}, "Now: ", h("strong", {}, inst.InstanceType), ` (${inst.CPU} vCPU, ${inst.Memory} GiB).`),
    field("New instance type", select, `The types offered in ${zone}.`));
  return {
    validate: () => (select.value ? null : "Choose the new instance type."),
    focus: () => select.focus(),
    request: () => ({ params: { InstanceIds: [inst.InstanceId], InstanceType: select.value } }),
    done: () => `${label(inst)} is now ${select.value}.`,
  };
}

async function buildResize(inst, form) {
  const disks = (await call("cbs", "DescribeDisks", { Filters: [{ Name: "instance-id", Values: [inst.InstanceId] }], Limit: 100 }))
    .DiskSet.filter((d) => !d.Portable);
  const select = h("select", { id: uid("disk"), name: "DiskId" }, disks.map((d) => h("option", { value: d.DiskId },
    `${d.DiskUsage === "SYSTEM_DISK" ? "System disk" : "Data disk"} ${d.DiskId} · ${d.DiskType} · ${d.DiskSize} GiB`)));
  const size = h("input", { id: uid("size"), type: "number", inputmode: "numeric", name: "DiskSize", min: "1", step: "1" });
  const current = () => disks.find((d) => d.DiskId === select.value);
  const sync = () => {
    const disk = current();
    if (disk) {
      size.min = String(disk.DiskSize + 1);
      size.value = String(disk.DiskSize + 10);
    }
  };
  select.addEventListener("change", sync);
  sync();
  form.append(field("Disk", select), field("New size (GiB)", size,
    "Disks only grow. Elastic disks attached to this instance are resized from the Disks page."));
  return {
    ready: disks.length > 0,
    validate: () => {
      const disk = current();
      const value = Number(size.value);
      if (!disk) return "Choose a disk.";
      if (!Number.isInteger(value) || value <= disk.DiskSize) return `The new size must be a whole number of GiB larger than ${disk.DiskSize}.`;
      return null;
    },
    focus: () => size.focus(),
    request: () => {
      const disk = current();
      const value = Number(size.value);
      return { params: disk.DiskUsage === "SYSTEM_DISK"
        ? { InstanceId: inst.InstanceId, SystemDisk: { DiskSize: value } }
        : { InstanceId: inst.InstanceId, DataDisks: [{ DiskId: disk.DiskId, DiskSize: value }] } };
    },
    done: () => `Disk ${select.value} of ${label(inst)} grown to ${size.value} GiB.`,
  };
}

function buildPassword(inst, form) {
  const user = h("input", { id: uid("user"), name: "UserName", value: inst.DefaultLoginUser || "root", autocomplete: "username" });
  const pw = h("input", { id: uid("pw"), name: "Password", type: "password", autocomplete: "new-password", "data-role": "password" });
  const again = h("input", { id: uid("pw2"), name: "Confirm", type: "password", autocomplete: "new-password", "data-role": "confirm-password" });
  const show = h("input", { type: "checkbox", id: uid("show") });
  show.addEventListener("change", () => { pw.type = again.type = show.checked ? "text" : "password"; });
  const rulesId = uid("rules");
  const rules = h("ul", { class: "rules", id: rulesId, "aria-label": "Password rules" },
    PASSWORD_RULES.map(([key, text]) => h("li", { "data-rule": key, "data-met": "false" },
      h("span", { class: "shape", "aria-hidden": "true" }), h("span", { class: "visually-hidden rule-state" }, "Not met: "), text)));
  pw.setAttribute("aria-describedby", rulesId);
  const check = () => {
    for (const [key, , test] of PASSWORD_RULES) {
      const li = rules.querySelector(`[data-rule="${key}"]`);
      const met = test(pw.value);
      li.dataset.met = String(met);
      li.querySelector(".rule-state").textContent = met ? "Met: " : "Not met: ";
    }
  };
  pw.addEventListener("input", check);
  check();
  form.append(field("User name", user),
    h("div", { class: "field" }, h("label", { for: pw.id }, "New password"), pw,
      h("p", { class: "help" }, "The password must have:"), rules),
    field("Confirm the new password", again),
    h("div", { class: "choice" }, show, h("label", { for: show.id }, "Show the passwords")));
  return {
    validate: () => {
      const failed = PASSWORD_RULES.filter(([, , test]) => !test(pw.value)).map(([, text]) => text);
      pw.setAttribute("aria-invalid", String(failed.length > 0));
      if (failed.length) return `The password does not meet the rules: ${failed.join("; ")}.`;
      if (pw.value !== again.value) return "The two passwords are not the same.";
      if (!user.value.trim()) return "Give the user name.";
      return null;
    },
    focus: () => pw.focus(),
    request: () => ({ params: { InstanceIds: [inst.InstanceId], Password: pw.value, UserName: user.value.trim() } }),
    done: () => `The password of ${label(inst)} was reset.`,
  };
}

async function buildKeys(inst, form, load, d) {
  const keys = (await call("cvm", "DescribeKeyPairs", { Limit: 100 })).KeyPairSet;
  const loaded = new Set(inst.LoginSettings?.KeyIds || []);
  const offered = load ? keys : keys.filter((k) => loaded.has(k.KeyId));
  const fieldset = h("fieldset", { class: "choices" }, h("legend", {}, load ? "Key pairs to load" : "Key pairs to unload"));
  if (!offered.length) {
    fieldset.append(h("p", { class: "muted" }, load ? "There are no key pairs in this region yet." : "No key pair is loaded on this instance."));
  }
  if (load) {
    // Creating a key is its own page (the private key is shown once there); the dialog closes on the way.
    form.append(h("p", { class: "help" }, h("a", { href: "#/keys", "data-role": "create-key", onclick: () => d.close() },
      "Create or import a key pair"), " on the SSH key pairs page, then come back to load it."));
  }
  for (const k of offered) {
    const id = uid("key");
    const already = load && loaded.has(k.KeyId);
    fieldset.append(h("div", { class: "choice" },
      h("input", { type: "checkbox", id, value: k.KeyId, disabled: already }),
      h("label", { for: id }, h("strong", {}, k.KeyName), " ", mono(k.KeyId), already ? " (already loaded)" : "")));
  }
  form.append(fieldset);
  const picked = () => [...fieldset.querySelectorAll("input:checked")].map((i) => i.value);
  return {
    ready: offered.some((k) => !(load && loaded.has(k.KeyId))),
    validate: () => (picked().length ? null : "Choose at least one key pair."),
    focus: () => fieldset.querySelector("input:not(:disabled)")?.focus(),
    request: () => ({ params: { InstanceIds: [inst.InstanceId], KeyIds: picked() } }),
    done: () => `${picked().length === 1 ? "Key pair" : `${picked().length} key pairs`} ${load ? "loaded on" : "unloaded from"} ${label(inst)}.`,
  };
}
