// SSH key pairs: create (the private key is offered for download once, then forgotten), import a public
// key, delete, and which instances each key is loaded on.

import { call, session } from "./api.js";
import { confirmDialog, errorBox, fmtTime, h, mono, muted, openDialog, toast, uid } from "./dom.js";
import { listPage } from "./storage.js";

const NAME_RULE = "Up to 25 letters, digits and underscores.";

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "application/x-pem-file" }));
  const a = h("a", { href: url, download: `${name}.pem`, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A small form dialog: fields, then `submit(values)`; errors stay in the dialog. */
function formDialog({ title, intro, fields, submitLabel, submit }) {
  const d = openDialog({ title });
  const error = errorBox();
  const formId = uid("form");
  const controls = fields.map(([name, labelText, help, multiline]) => {
    const id = uid(name);
    const control = multiline ? h("textarea", { id, name, rows: "5", spellcheck: "false", class: "mono-input" })
      : h("input", { id, name, autocomplete: "off", spellcheck: "false" });
    return [name, control, h("div", { class: "field" }, h("label", { for: id }, labelText), control,
      help ? h("p", { class: "help" }, help) : null)];
  });
  const form = h("form", { id: formId, class: "form", novalidate: true }, intro ? h("p", {}, intro) : null,
    controls.map(([, , el]) => el), error.el);
  const ok = h("button", { type: "submit", class: "button primary", form: formId, "data-role": "submit" }, submitLabel);
  d.body.append(form);
  d.footer.append(h("button", { type: "button", class: "button", onclick: () => d.close() }, "Cancel"), ok);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hide();
    ok.disabled = true;
    try {
      await submit(Object.fromEntries(controls.map(([name, control]) => [name, control.value.trim()])), d);
    } catch (exc) {
      error.show(exc.message);
      ok.disabled = false;
    }
  });
  controls[0][1].focus();
  return d;
}

function createKey(refresh) {
  formDialog({
    title: "Create SSH key pair", submitLabel: "Create",
    intro: "minicvm makes the key pair and keeps only its public half: the private key is offered for download once.",
    fields: [["KeyName", "Name", NAME_RULE]],
    submit: async ({ KeyName }, d) => {
      const { KeyPair } = await call("cvm", "CreateKeyPair", { KeyName, ProjectId: 0 });
      refresh();
      // The only moment the private key exists outside the person's machine: download it now.
      d.body.replaceChildren(
        h("p", {}, "Created ", h("strong", {}, KeyPair.KeyName), " ", mono(KeyPair.KeyId), "."),
        h("div", { class: "note warn", "data-role": "private-key-once" },
          h("p", {}, h("strong", {}, "Download the private key now. "),
            "This is the only time it is shown: minicvm does not keep it, and it cannot be downloaded again.")));
      const save = h("button", { type: "button", class: "button primary", "data-role": "download",
        onclick: () => download(KeyPair.KeyName, KeyPair.PrivateKey) }, `Download ${KeyPair.KeyName}.pem`);
      d.footer.replaceChildren(h("button", { type: "button", class: "button", onclick: () => d.close() }, "Close"), save);
      save.focus();
    },
  });
}

function importKey(refresh) {
  formDialog({
    title: "Import SSH public key", submitLabel: "Import",
    fields: [["KeyName", "Name", NAME_RULE],
      ["PublicKey", "Public key", "An OpenSSH public key: one line starting with ssh-rsa.", true]],
    submit: async ({ KeyName, PublicKey }, d) => {
      const { KeyId } = await call("cvm", "ImportKeyPair", { KeyName, PublicKey, ProjectId: 0 });
      d.close();
      toast(`Imported ${KeyName} (${KeyId}).`, "ok");
      refresh();
    },
  });
}

export function keysView() {
  return listPage({
    title: "SSH key pairs",
    sub: () => `Region ${session.region}. Load a key on an instance from its More menu; it takes effect at the next boot.`,
    load: async () => (await call("cvm", "DescribeKeyPairs", { Limit: 100 })).KeyPairSet,
    headers: ["Key pair", "Loaded on", "Created", "Operations"],
    empty: () => "No key pairs yet: create one, or import the public key of one you have.",
    tools: (refresh) => h("div", { class: "toolbar-group" },
      h("button", { type: "button", class: "button primary", "data-key": "key:create", onclick: () => createKey(refresh) },
        "Create key pair"),
      h("button", { type: "button", class: "button", "data-key": "key:import", onclick: () => importKey(refresh) },
        "Import public key")),
    row: (k, refresh) => {
      const used = k.AssociatedInstanceIds || [];
      const remove = h("button", { type: "button", class: "link-button danger", "data-key": `key:${k.KeyId}:delete`,
        onclick: () => confirmDialog({
          title: "Delete key pair", confirmLabel: "Delete", danger: true,
          message: [`Delete ${k.KeyName} (${k.KeyId})?`, used.length
            ? `It is loaded on ${used.join(", ")}: unload it from them first.`
            : "Instances it was loaded on keep no copy of it here. This cannot be undone."],
          action: async () => {
            await call("cvm", "DeleteKeyPairs", { KeyIds: [k.KeyId] });
            toast(`Deleted ${k.KeyName}.`, "ok");
            refresh();
          },
        }) }, "Delete");
      return h("tr", { "data-key-id": k.KeyId },
        h("td", {}, h("strong", {}, k.KeyName), h("div", {}, mono(k.KeyId))),
        h("td", { "data-role": "used-by" }, used.length
          ? h("ul", { class: "ip-list" }, used.map((id) => h("li", {}, h("a", { href: `#/instances/${id}` }, id))))
          : muted("No instance")),
        h("td", { class: "nowrap" }, fmtTime(k.CreatedTime)),
        h("td", {}, h("div", { class: "actionbar" }, remove)));
    },
  });
}
