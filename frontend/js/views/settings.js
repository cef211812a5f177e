// Settings: business profile, quote terms, logo, password.
import { h, mount, field } from "../dom.js";
import { api, setContractor } from "../api.js";
import { busy, errorBox, messageArea, notAvailableBox, pageHeader, percentFromRate, spinner, toast } from "../ui.js";
import { TRADES } from "./auth.js";

function profileCard(me) {
  const name = h("input", { type: "text", value: me.business_name, required: true, maxlength: 200 });
  const trade = h("select", {}, ...TRADES.map(([v, l]) => h("option", { value: v, selected: v === me.trade }, l)));
  const phone = h("input", { type: "tel", value: me.phone || "", autocomplete: "tel" });
  const address = h("input", { type: "text", value: me.address || "", autocomplete: "street-address" });
  const tax = h("input.num", { type: "text", inputmode: "decimal", value: percentFromRate(me.tax_rate) });
  const currency = h("input", { type: "text", value: me.currency, maxlength: 3, pattern: "[A-Za-z]{3}" });
  const save = h("button.btn.btn-primary", { type: "submit" }, "Save profile");
  const msg = messageArea();
  const form = h("form.card", { "aria-label": "Business profile" },
    h("h2.card-title", {}, "Business profile"), msg.el,
    h("div.form-grid", {}, field("Business name", name), field("Trade", trade), field("Phone", phone),
      field("Address", address), field("Sales tax %", tax, "e.g. 8.25 — applied to new quotes"), field("Currency", currency)),
    h("p.small.muted", {}, `Signed in as ${me.email}`),
    h("div.form-actions", {}, save));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    msg.clear();
    const pct = tax.value.trim().replace(/%$/, "") || "0";
    // percent → fraction by moving the decimal point (string math, no floats)
    const [w, f = ""] = pct.split(".");
    const digits = w.padStart(3, "0");
    const rate = `${String(Number(digits.slice(0, -2)))}.${digits.slice(-2)}${f}`;
    try {
      const saved = await busy(save, () => api("PATCH", "/api/contractors/me", { body: {
        business_name: name.value.trim(), trade: trade.value, phone: phone.value.trim() || null,
        address: address.value.trim() || null, tax_rate: rate, currency: currency.value.trim().toUpperCase(),
      } }), "Saving…");
      setContractor(saved);
      toast("Profile saved.");
    } catch (err) { msg.show(err); }
  });
  return form;
}

function termsCard(terms) {
  const text = h("textarea", { rows: 5, maxlength: 10000, placeholder: "Payment terms, warranty, what is not included…" });
  text.value = terms.terms_text || "";
  const deposit = h("input.num", { type: "text", inputmode: "decimal", value: terms.deposit_percent });
  const valid = h("input", { type: "number", min: 1, max: 365, value: terms.quote_valid_days });
  const save = h("button.btn.btn-primary", { type: "submit" }, "Save terms");
  const msg = messageArea();
  const form = h("form.card", { "aria-label": "Quote terms" },
    h("h2.card-title", {}, "Quote terms"), msg.el,
    field("Terms shown on every quote", text),
    h("div.form-grid", {}, field("Deposit %", deposit), field("Quotes valid for (days)", valid)),
    h("div.form-actions", {}, save));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    msg.clear();
    try {
      await busy(save, () => api("PUT", "/api/contractors/me/terms", { body: {
        terms_text: text.value, deposit_percent: deposit.value.trim().replace(/%$/, "") || "0",
        quote_valid_days: Number(valid.value) || 30,
      } }), "Saving…");
      toast("Terms saved.");
    } catch (err) { msg.show(err); }
  });
  return form;
}

function logoCard() {
  const slot = h("div", {}, spinner("Loading logo…"));
  const cardEl = h("section.card", {}, h("h2.card-title", {}, "Logo"),
    h("p.small.muted", {}, "Shown on your PDFs and share pages. PNG or JPEG, up to 2 MB."), slot);
  const input = h("input", { type: "file", accept: "image/png,image/jpeg" });
  const upload = h("button.btn.btn-primary", { type: "submit" }, "Upload logo");
  const msg = messageArea();

  function show(url) {
    const remove = h("button.btn.btn-danger-ghost", { type: "button" }, "Remove logo");
    remove.addEventListener("click", async () => {
      try { await busy(remove, () => api("DELETE", "/api/contractors/me/logo")); toast("Logo removed."); show(null); }
      catch (err) { msg.show(err); }
    });
    const form = h("form.stack", { "aria-label": "Upload logo" }, msg.el,
      url ? h("div.logo-preview", {}, h("img", { src: url, alt: "Your current logo" })) : h("p.muted", {}, "No logo yet."),
      field(url ? "Replace with" : "Choose an image", input), h("div.form-actions", {}, upload, url ? remove : null));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      msg.clear();
      const file = input.files[0];
      if (!file) { msg.show("Choose a PNG or JPEG file first."); return; }
      if (file.size > 2 * 1024 * 1024) { msg.show("That file is over 2 MB. Choose a smaller image."); return; }
      const body = new FormData();
      body.append("file", file);
      try {
        const result = await busy(upload, () => api("POST", "/api/contractors/me/logo", { body }), "Uploading…");
        toast("Logo uploaded.");
        show(result?.url || null);
      } catch (err) { msg.show(err); }
    });
    mount(slot, form);
  }

  (async () => {
    try {
      const result = await api("GET", "/api/contractors/me/logo");
      show(result?.url || null);
    } catch (err) {
      if (err.notAvailable) mount(slot, notAvailableBox("Logo upload"));
      else if (err.status === 404) show(null);
      else mount(slot, errorBox(err));
    }
  })();
  return cardEl;
}

function passwordCard() {
  const current = h("input", { type: "password", autocomplete: "current-password", required: true });
  const next = h("input", { type: "password", autocomplete: "new-password", required: true, minlength: 10 });
  const save = h("button.btn", { type: "submit" }, "Change password");
  const msg = messageArea();
  const form = h("form.card", { "aria-label": "Change password" },
    h("h2.card-title", {}, "Password"), msg.el,
    h("div.form-grid", {}, field("Current password", current), field("New password", next, "At least 10 characters.")),
    h("p.small.muted", {}, "Changing it signs you out everywhere."),
    h("div.form-actions", {}, save));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    msg.clear();
    try {
      await busy(save, () => api("POST", "/api/auth/change-password", { body: {
        current_password: current.value, new_password: next.value } }), "Changing…");
      toast("Password changed. Log in with the new one.");
      setTimeout(() => window.location.reload(), 800);
    } catch (err) { msg.show(err); }
  });
  return form;
}

export function renderSettings(root) {
  const body = h("div", {}, spinner("Loading settings…"));
  mount(root, pageHeader("Settings", "How your business appears on quotes and invoices."), body);
  (async function load() {
    try {
      const [me, terms] = await Promise.all([api("GET", "/api/contractors/me"), api("GET", "/api/contractors/me/terms")]);
      mount(body, h("div.settings-grid", {}, profileCard(me), termsCard(terms), logoCard(), passwordCard()));
    } catch (err) { mount(body, errorBox(err, load)); }
  })();
}
