// Customers: list, add/edit/delete, and the autocomplete picker used by quotes.
import { h, mount, field, nextId } from "../dom.js";
import { api } from "../api.js";
import { busy, emptyState, errorBox, messageArea, pageHeader, spinner, toast, date } from "../ui.js";

const cache = new Map();

export function rememberCustomer(customer) {
  if (customer?.id) cache.set(customer.id, customer);
  return customer;
}

/** The customer with this id (cached), or null when it is gone. */
export async function getCustomer(id) {
  if (!id) return null;
  if (cache.has(id)) return cache.get(id);
  try {
    return rememberCustomer(await api("GET", `/api/customers/${encodeURIComponent(id)}`));
  } catch (err) {
    if (err.status === 404) { cache.set(id, null); return null; }
    throw err;
  }
}

/** Fill the cache with one page of customers so lists can show names. */
export async function warmCustomers() {
  try {
    const page = await api("GET", "/api/customers?limit=100");
    page.items.forEach(rememberCustomer);
  } catch { /* names fall back to per-id lookups */ }
}

export function customerName(id) {
  if (!id) return "No customer";
  const c = cache.get(id);
  return c ? c.name : "—";
}

/**
 * The "Customer" field: suggests the contractor's customers as they type
 * (GET /api/customers/search), keyboard-usable (↑ ↓ Enter Esc), and offers to
 * add a new customer with the typed name.
 */
export function customerPicker({ initial = null, onChange = () => {}, label = "Customer" } = {}) {
  const listId = nextId("customer-list");
  const input = h("input", {
    type: "text", role: "combobox", autocomplete: "off", "aria-autocomplete": "list",
    "aria-expanded": "false", "aria-controls": listId, placeholder: "Start typing a name, email or phone",
  });
  const list = h("ul.suggestions", { id: listId, role: "listbox", "aria-label": "Suggestions" });
  list.hidden = true;
  const status = h("span.picker-status.muted.small", { "aria-live": "polite" });
  const clear = h("button.picker-clear", { type: "button", "aria-label": "Clear selection" }, "×");
  clear.hidden = true;
  let selected = initial;
  let options = [];
  let active = -1;
  let timer = null;
  let seq = 0;

  const wrap = field(label, h("div.picker", {}, input, clear, list), null, input);
  wrap.append(status);
  if (initial) { input.value = initial.name; clear.hidden = false; }

  function choose(customer) {
    selected = customer;
    input.value = customer ? customer.name : "";
    clear.hidden = !customer;
    close();
    status.textContent = customer ? "" : "";
    onChange(customer);
  }

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function highlight(index) {
    active = index;
    options.forEach((opt, i) => {
      opt.el.classList.toggle("active", i === index);
      opt.el.setAttribute("aria-selected", i === index ? "true" : "false");
    });
    if (index >= 0) {
      input.setAttribute("aria-activedescendant", options[index].el.id);
      options[index].el.scrollIntoView({ block: "nearest" });
    }
  }

  function render(items, query) {
    options = items.map((customer) => ({
      customer,
      el: h("li.suggestion", { id: nextId("opt"), role: "option", "aria-selected": "false" },
        h("span.suggestion-name", {}, customer.name),
        customer.email || customer.phone ? h("span.suggestion-meta", {}, customer.email || customer.phone) : null),
    }));
    const exact = items.some((c) => c.name.toLowerCase() === query.toLowerCase());
    if (query && !exact) {
      options.push({
        create: query,
        el: h("li.suggestion.suggestion-create", { id: nextId("opt"), role: "option", "aria-selected": "false" },
          h("span", {}, "+ Add "), h("strong", {}, `“${query}”`), h("span", {}, " as a new customer")),
      });
    }
    options.forEach((opt, i) => {
      opt.el.addEventListener("mousedown", (e) => { e.preventDefault(); pick(i); });
    });
    mount(list, ...options.map((o) => o.el));
    list.hidden = options.length === 0;
    input.setAttribute("aria-expanded", String(!list.hidden));
    active = -1;
  }

  async function pick(index) {
    const opt = options[index];
    if (!opt) return;
    if (opt.customer) { choose(opt.customer); return; }
    close();
    status.textContent = "Adding customer…";
    try {
      const created = rememberCustomer(await api("POST", "/api/customers", { body: { name: opt.create } }));
      status.textContent = `Added ${created.name}.`;
      choose(created);
    } catch (err) {
      status.textContent = err.detail || "Could not add the customer.";
    }
  }

  async function search() {
    const query = input.value.trim();
    const mine = ++seq;
    if (!query) { render([], ""); close(); return; }
    status.textContent = "Searching…";
    try {
      const result = await api("GET", `/api/customers/search?q=${encodeURIComponent(query)}&limit=10`);
      if (mine !== seq) return;
      result.items.forEach(rememberCustomer);
      status.textContent = result.items.length ? "" : "No matching customers.";
      render(result.items, query);
    } catch (err) {
      if (mine !== seq) return;
      status.textContent = err.detail || "Search failed.";
    }
  }

  input.addEventListener("input", () => {
    if (selected) { selected = null; clear.hidden = true; onChange(null); }
    clearTimeout(timer);
    timer = setTimeout(search, 150);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") { e.preventDefault(); if (list.hidden) search(); else highlight(Math.min(active + 1, options.length - 1)); }
    else if (e.key === "ArrowUp") { e.preventDefault(); highlight(Math.max(active - 1, 0)); }
    else if (e.key === "Enter" && !list.hidden && active >= 0) { e.preventDefault(); pick(active); }
    else if (e.key === "Escape") { close(); }
  });
  input.addEventListener("blur", () => setTimeout(close, 120));
  clear.addEventListener("click", () => { choose(null); input.focus(); });

  return { el: wrap, input, get value() { return selected; } };
}

// -- the customers page ----------------------------------------------------------

function customerForm(existing, onSaved, onCancel) {
  const name = h("input", { type: "text", required: true, maxlength: 200, value: existing?.name || "" });
  const email = h("input", { type: "email", autocomplete: "off", value: existing?.email || "" });
  const phone = h("input", { type: "tel", value: existing?.phone || "" });
  const address = h("input", { type: "text", value: existing?.address || "" });
  const notes = h("textarea", { rows: 2 });
  notes.value = existing?.notes || "";
  const submit = h("button.btn.btn-primary", { type: "submit" }, existing ? "Save customer" : "Add customer");
  const msg = messageArea();
  const form = h("form.card.form-grid", { "aria-label": existing ? "Edit customer" : "Add customer" },
    h("h2.card-title", {}, existing ? "Edit customer" : "New customer"),
    msg.el,
    field("Name", name), field("Email", email), field("Phone", phone), field("Address", address),
    h("div.span-all", {}, field("Notes", notes)),
    h("div.form-actions.span-all", {}, submit,
      h("button.btn.btn-ghost", { type: "button", on: { click: onCancel } }, "Cancel")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    msg.clear();
    const body = {
      name: name.value.trim(), email: email.value.trim() || null, phone: phone.value.trim() || null,
      address: address.value.trim() || null, notes: notes.value.trim() || null,
    };
    try {
      const saved = await busy(submit, () => existing
        ? api("PATCH", `/api/customers/${existing.id}`, { body })
        : api("POST", "/api/customers", { body }), "Saving…");
      rememberCustomer(saved);
      toast(existing ? "Customer saved." : "Customer added.");
      onSaved(saved);
    } catch (err) { msg.show(err); }
  });
  setTimeout(() => name.focus(), 0);
  return form;
}

export function renderCustomers(root) {
  const formSlot = h("div");
  const listSlot = h("div");
  const addBtn = h("button.btn.btn-primary", { type: "button" }, "+ Add customer");
  let items = [];
  let cursor = null;

  const showForm = (existing) => {
    mount(formSlot, customerForm(existing, () => { formSlot.replaceChildren(); load(); }, () => formSlot.replaceChildren()));
  };
  addBtn.addEventListener("click", () => showForm(null));

  function row(c) {
    const edit = h("button.btn.btn-small", { type: "button", on: { click: () => showForm(c) } }, "Edit");
    const del = h("button.btn.btn-small.btn-danger-ghost", { type: "button" }, "Delete");
    del.addEventListener("click", async () => {
      if (!window.confirm(`Delete ${c.name}? Their quotes stay.`)) return;
      try {
        await busy(del, () => api("DELETE", `/api/customers/${c.id}`));
        toast("Customer deleted.");
        load();
      } catch (err) { toast(err.detail || "Could not delete.", "error"); }
    });
    return h("tr", {},
      h("td", { "data-label": "Name" }, h("span.strong", {}, c.name)),
      h("td", { "data-label": "Email" }, c.email || "—"),
      h("td", { "data-label": "Phone" }, c.phone || "—"),
      h("td", { "data-label": "Added" }, date(c.created_at)),
      h("td.row-actions", {}, edit, del));
  }

  function draw() {
    if (!items.length) {
      mount(listSlot, emptyState("No customers yet", "Add the people you quote for; they show up as you type on a new quote.",
        h("button.btn.btn-primary", { type: "button", on: { click: () => showForm(null) } }, "Add your first customer")));
      return;
    }
    const more = cursor ? h("button.btn", { type: "button" }, "Load more") : null;
    more?.addEventListener("click", () => busy(more, () => load(cursor)));
    mount(listSlot, h("div.card.card-flush", {},
      h("table.table.table-cards", {},
        h("thead", {}, h("tr", {}, ...["Name", "Email", "Phone", "Added", ""].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, ...items.map(row)))), more ? h("div.center", {}, more) : null);
  }

  async function load(after = null) {
    if (!after) mount(listSlot, spinner("Loading customers…"));
    try {
      const page = await api("GET", `/api/customers?limit=50${after ? `&cursor=${encodeURIComponent(after)}` : ""}`);
      page.items.forEach(rememberCustomer);
      items = after ? items.concat(page.items) : page.items;
      cursor = page.next_cursor;
      draw();
    } catch (err) { mount(listSlot, errorBox(err, () => load())); }
  }

  mount(root, pageHeader("Customers", "Everyone you quote for.", addBtn), formSlot, listSlot);
  load();
}
