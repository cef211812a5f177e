// Pricing brain: default rates, categories with unit prices, and what it learned.
import { h, mount, field } from "../dom.js";
import { api } from "../api.js";
import {
  busy, dateTime, emptyState, errorBox, messageArea, money, notAvailableBox, pageHeader, spinner, toast,
} from "../ui.js";

const clean = (v) => v.trim().replace(/^\$/, "").replace(/,/g, "").replace(/%$/, "");

function settingsCard(settings) {
  const rate = h("input.num", { type: "text", inputmode: "decimal", value: settings.default_labor_rate });
  const markup = h("input.num", { type: "text", inputmode: "decimal", value: settings.default_markup_percent });
  const learning = h("input", { type: "checkbox", checked: settings.learning_enabled, id: "learning-enabled" });
  const save = h("button.btn.btn-primary", { type: "submit" }, "Save defaults");
  const msg = messageArea();
  const form = h("form.card", { "aria-label": "Pricing defaults" },
    h("h2.card-title", {}, "Defaults"),
    h("p.small.muted", {}, "Used when a job does not fit any of your categories."),
    msg.el,
    h("div.form-grid", {}, field("Labour rate per hour", rate), field("Markup %", markup)),
    h("div.check", {}, learning, h("label", { for: "learning-enabled" }, "Learn from my edits"),
      h("p.hint", {}, "When you change a generated unit price, Quoted prices the next job your way.")),
    h("div.form-actions", {}, save));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    msg.clear();
    try {
      await busy(save, () => api("PUT", "/api/pricing-brain/settings", { body: {
        default_labor_rate: clean(rate.value), default_markup_percent: clean(markup.value),
        learning_enabled: learning.checked,
      } }), "Saving…");
      toast("Defaults saved.");
    } catch (err) { msg.show(err); }
  });
  return form;
}

function unitPriceRows(prices) {
  const body = h("div.unit-prices");
  const rows = [];
  function add(item = "", price = "", focus = false) {
    const name = h("input", { type: "text", value: item, "aria-label": "Item name" });
    const value = h("input.num", { type: "text", inputmode: "decimal", value: price, "aria-label": `Price for ${item || "new item"}` });
    const remove = h("button.btn-icon", { type: "button", "aria-label": `Remove ${item || "item"}` }, "×");
    const row = { name, value, el: h("div.unit-price-row", {}, name, value, remove) };
    remove.addEventListener("click", () => { rows.splice(rows.indexOf(row), 1); row.el.remove(); });
    rows.push(row);
    body.append(row.el);
    if (focus) name.focus();
  }
  Object.entries(prices || {}).forEach(([k, v]) => add(k, v));
  const addBtn = h("button.btn.btn-small", { type: "button", on: { click: () => add("", "", true) } }, "+ Add unit price");
  return {
    el: h("fieldset.unit-fieldset", {}, h("legend", {}, "Unit prices"),
      h("div.unit-price-head.small.muted", { "aria-hidden": "true" }, h("span", {}, "Item"), h("span", {}, "Price")),
      body, addBtn),
    value: () => Object.fromEntries(rows.filter((r) => r.name.value.trim())
      .map((r) => [r.name.value.trim(), clean(r.value.value) || "0"])),
  };
}

function categoryCard(cat, { onDeleted, isNew = false }) {
  const key = h("input", { type: "text", value: cat.key || "", pattern: "[a-z0-9_]+", required: true, placeholder: "e.g. tile_work" });
  const name = h("input", { type: "text", value: cat.display_name || "", required: true });
  const rate = h("input.num", { type: "text", inputmode: "decimal", value: cat.labor_rate || "" });
  const markup = h("input.num", { type: "text", inputmode: "decimal", value: cat.markup_percent || "" });
  const min = h("input.num", { type: "text", inputmode: "decimal", value: cat.min_charge || "" });
  const notes = h("textarea", { rows: 2 });
  notes.value = cat.notes || "";
  const prices = unitPriceRows(cat.unit_prices);
  const save = h("button.btn.btn-primary", { type: "submit" }, isNew ? "Add category" : "Save");
  const del = isNew ? null : h("button.btn.btn-danger-ghost", { type: "button" }, "Delete");
  const msg = messageArea();
  const form = h("form.card.category", { "aria-label": cat.display_name || "New category" },
    h("div.category-head", {}, h("h3", {}, cat.display_name || "New category"),
      cat.updated_at ? h("span.small.muted", {}, `Updated ${dateTime(cat.updated_at)}`) : null),
    msg.el,
    h("div.form-grid.form-grid-3", {},
      isNew ? field("Key", key, "Lowercase letters, digits and _") : null,
      field("Name", name), field("Labour rate / hour", rate), field("Markup %", markup), field("Minimum charge", min)),
    prices.el,
    field("Notes", notes),
    h("div.form-actions", {}, save, del));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    msg.clear();
    const k = isNew ? key.value.trim() : cat.key;
    try {
      const saved = await busy(save, () => api("PUT", `/api/pricing-brain/categories/${encodeURIComponent(k)}`, { body: {
        display_name: name.value.trim(), labor_rate: clean(rate.value) || "0", markup_percent: clean(markup.value) || "0",
        min_charge: clean(min.value) || "0", unit_prices: prices.value(), notes: notes.value.trim(),
      } }), "Saving…");
      toast(`${saved.display_name} saved.`);
      if (isNew) onDeleted(true);
    } catch (err) { msg.show(err); }
  });
  del?.addEventListener("click", async () => {
    if (!window.confirm(`Delete the category “${cat.display_name}”?`)) return;
    try {
      await busy(del, () => api("DELETE", `/api/pricing-brain/categories/${encodeURIComponent(cat.key)}`));
      toast("Category deleted.");
      onDeleted();
    } catch (err) { msg.show(err); }
  });
  return form;
}

function adjustmentRow(adj, reload) {
  const reverted = Boolean(adj.reverted_at);
  const revert = h("button.btn.btn-small", { type: "button" }, "Revert");
  revert.disabled = reverted;
  revert.addEventListener("click", async () => {
    try {
      await busy(revert, () => api("POST", `/api/pricing-brain/adjustments/${adj.id}/revert`), "Reverting…");
      toast("Reverted. The old price is back.");
      reload();
    } catch (err) { toast(err.detail || "Could not revert.", "error"); }
  });
  const what = [adj.category_name || adj.category || adj.category_key, adj.item || adj.item_name || adj.field]
    .filter(Boolean).join(" · ");
  const from = adj.old_value ?? adj.old_price ?? adj.previous_price;
  const to = adj.new_value ?? adj.new_price ?? adj.learned_price;
  return h("li.adjustment", {},
    h("div", {}, h("p.strong", {}, what || "Price change"),
      h("p.small.muted", {}, `${from !== undefined ? `${money(from)} → ${money(to)}` : ""}  ·  ${dateTime(adj.created_at)}`)),
    reverted ? h("span.badge", {}, "Reverted") : revert);
}

export function renderPricing(root) {
  const settingsSlot = h("div", {}, spinner());
  const categoriesSlot = h("div", {}, spinner("Loading categories…"));
  const learnedSlot = h("div", {}, spinner("Loading what Quoted learned…"));
  const newSlot = h("div");
  const addBtn = h("button.btn", { type: "button" }, "+ Add category");
  addBtn.addEventListener("click", () => mount(newSlot, categoryCard({}, { isNew: true, onDeleted: () => { newSlot.replaceChildren(); loadCategories(); } })));

  async function loadSettings() {
    try { mount(settingsSlot, settingsCard(await api("GET", "/api/pricing-brain/settings"))); }
    catch (err) { mount(settingsSlot, errorBox(err, loadSettings)); }
  }
  async function loadCategories() {
    try {
      const { items } = await api("GET", "/api/pricing-brain/categories");
      mount(categoriesSlot, items.length
        ? h("div.categories", {}, ...items.map((c) => categoryCard(c, { onDeleted: loadCategories })))
        : emptyState("No categories", "Add one for each kind of work you price differently."));
    } catch (err) { mount(categoriesSlot, errorBox(err, loadCategories)); }
  }
  async function loadLearned() {
    try {
      const page = await api("GET", "/api/pricing-brain/adjustments?limit=50");
      mount(learnedSlot, page.items.length
        ? h("ul.card.adjustments", {}, ...page.items.map((a) => adjustmentRow(a, loadLearned)))
        : emptyState("Nothing learned yet", "Change a unit price on a generated quote and Quoted remembers it here."));
    } catch (err) {
      mount(learnedSlot, err.notAvailable ? notAvailableBox("The learning history") : errorBox(err, loadLearned));
    }
  }

  mount(root,
    pageHeader("Pricing brain", "Your rates. Every quote is priced with them."),
    settingsSlot,
    h("section.section", {}, h("div.section-header", {}, h("h2", {}, "Categories"), addBtn), newSlot, categoriesSlot),
    h("section.section", {}, h("div.section-header", {}, h("h2", {}, "What Quoted learned")), learnedSlot));
  loadSettings();
  loadCategories();
  loadLearned();
}
