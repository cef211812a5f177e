// Quotes: list, new quote (text or voice), and the quote page with its editor.
import { h, mount, field } from "../dom.js";
import { api, ApiError } from "../api.js";
import {
  badge, busy, date, dateTime, docHeader, emptyState, errorBox, errorText, messageArea, money, pageHeader, qty,
  spinner, toast,
} from "../ui.js";
import { customerName, customerPicker, getCustomer, warmCustomers } from "./customers.js";
import { deliveryPanel } from "./delivery.js";
import { card, totalsBlock } from "./common.js";

const POLL_MS = 2000;
const STATUSES = ["draft", "processing", "sent", "viewed", "accepted", "rejected", "failed"];

export function quotesTable(items) {
  return h("table.table.table-cards.quotes-table", {},
    h("thead", {}, h("tr", {}, ...["Quote", "Customer", "Status", "Date", "Total"].map((t, i) =>
      h(i === 4 ? "th.num" : "th", { scope: "col" }, t)))),
    h("tbody", {}, ...items.map((q) => {
      const open = h("a.row-link", { href: `#/quotes/${q.id}` },
        h("span.doc-number", {}, q.number), h("span.doc-title", {}, q.title || "Untitled quote"));
      return h("tr", { dataset: { href: `#/quotes/${q.id}` } },
        h("td", { "data-label": "Quote" }, open),
        h("td", { "data-label": "Customer" }, customerName(q.customer_id)),
        h("td", { "data-label": "Status" }, badge(q.status)),
        h("td", { "data-label": "Date" }, date(q.created_at)),
        h("td.num.strong", { "data-label": "Total" }, q.status === "processing" ? "…" : money(q.total, q.currency)));
    })));
}

export function renderQuotes(root) {
  const filter = h("select", { "aria-label": "Filter by status" },
    h("option", { value: "" }, "All statuses"), ...STATUSES.map((s) => h("option", { value: s }, badge(s).textContent)));
  const listSlot = h("div");
  let items = [];
  let cursor = null;

  async function load(after = null) {
    if (!after) mount(listSlot, spinner("Loading quotes…"));
    const params = new URLSearchParams({ limit: "25" });
    if (filter.value) params.set("status", filter.value);
    if (after) params.set("cursor", after);
    try {
      const [page] = await Promise.all([api("GET", `/api/quotes?${params}`), after ? null : warmCustomers()]);
      items = after ? items.concat(page.items) : page.items;
      cursor = page.next_cursor;
      if (!items.length) {
        mount(listSlot, emptyState(filter.value ? "No quotes with this status" : "No quotes yet",
          "Describe a job in your own words and Quoted prices it with your rates.",
          h("a.btn.btn-primary", { href: "#/quotes/new" }, "Create a quote")));
        return;
      }
      const more = cursor ? h("button.btn", { type: "button" }, "Load more") : null;
      more?.addEventListener("click", () => busy(more, () => load(cursor)));
      mount(listSlot, h("div.card.card-flush", {}, quotesTable(items)), more ? h("div.center", {}, more) : null);
    } catch (err) { mount(listSlot, errorBox(err, () => load())); }
  }
  filter.addEventListener("change", () => load());
  mount(root, pageHeader("Quotes", "Every quote, newest first.", filter,
    h("a.btn.btn-primary", { href: "#/quotes/new" }, "+ New quote")), listSlot);
  load();
}

// -- new quote ---------------------------------------------------------------------

function quotaMessage(err) {
  if (err instanceof ApiError && err.status === 402) {
    return h("div.alert.alert-warn", { role: "alert" }, h("p", {}, err.detail),
      h("a.btn.btn-small.btn-primary", { href: "#/billing" }, "See plans"));
  }
  return null;
}

function voiceRecorder({ getCustomerId, onQuote, onError }) {
  const supported = typeof window.MediaRecorder === "function" && navigator.mediaDevices?.getUserMedia;
  const section = h("section.card.voice", {}, h("h2.card-title", {}, "Or say it"));
  if (!supported) {
    section.append(h("p.muted", {}, "Voice recording is not supported in this browser. Type the job instead."));
    return section;
  }
  const button = h("button.btn.btn-record", { type: "button", "aria-pressed": "false" },
    h("span.rec-dot", { "aria-hidden": "true" }), h("span.rec-label", {}, "Record a voice note"));
  const timer = h("span.rec-timer.muted", { "aria-live": "off" });
  const status = h("p.small.muted", { "aria-live": "polite" },
    "Talk through the job like you would to a helper: what, where, how much.");
  let recorder = null;
  let chunks = [];
  let started = 0;
  let tick = null;
  const label = button.querySelector(".rec-label");

  async function start() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      status.textContent = "Quoted could not use the microphone. Allow it in the browser, or type the job instead.";
      return;
    }
    chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.addEventListener("dataavailable", (e) => { if (e.data.size) chunks.push(e.data); });
    recorder.addEventListener("stop", () => { stream.getTracks().forEach((t) => t.stop()); upload(); });
    recorder.start();
    started = Date.now();
    button.classList.add("recording");
    button.setAttribute("aria-pressed", "true");
    label.textContent = "Stop and create quote";
    tick = setInterval(() => {
      const s = Math.floor((Date.now() - started) / 1000);
      timer.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
    }, 250);
    status.textContent = "Recording… press the button again when you are done.";
  }

  async function upload() {
    clearInterval(tick);
    button.classList.remove("recording");
    button.setAttribute("aria-pressed", "false");
    label.textContent = "Record a voice note";
    timer.textContent = "";
    const type = recorder.mimeType || "audio/webm";
    const ext = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
    const form = new FormData();
    form.append("audio", new Blob(chunks, { type }), `job-description.${ext}`);
    const customerId = getCustomerId();
    if (customerId) form.append("customer_id", customerId);
    try {
      const quote = await busy(button, () => api("POST", "/api/quotes/generate-from-audio", { body: form }), "Transcribing…");
      onQuote(quote);
    } catch (err) {
      status.textContent = err instanceof ApiError && err.status === 503
        ? `${err.detail}`
        : errorText(err);
      onError(err);
    }
  }

  button.addEventListener("click", () => {
    if (recorder && recorder.state === "recording") recorder.stop(); else start();
  });
  section.append(h("div.rec-row", {}, button, timer), status);
  return section;
}

export function renderNewQuote(root, _params, { navigate }) {
  const picker = customerPicker();
  const description = h("textarea", {
    rows: 6, required: true, maxlength: 10000,
    placeholder: "e.g. Replace the kitchen faucet, new supply lines, haul away the old one.",
  });
  const submit = h("button.btn.btn-primary.btn-large", { type: "submit" }, "Generate quote");
  const msg = messageArea();
  const extra = h("div");
  const created = (quote) => { toast(`${quote.number} created.`); navigate(`/quotes/${quote.id}`); };
  const form = h("form.card.stack", { "aria-label": "New quote" },
    msg.el, extra,
    picker.el,
    field("Describe the job", description, "Plain words are fine. Quoted prices it with your pricing brain."),
    h("div.form-actions", {}, submit));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    msg.clear();
    extra.replaceChildren();
    if (!description.value.trim()) { msg.show("Describe the job first."); description.focus(); return; }
    const body = { description: description.value.trim() };
    if (picker.value) body.customer_id = picker.value.id;
    try {
      created(await busy(submit, () => api("POST", "/api/quotes/generate", { body }), "Pricing your job…"));
    } catch (err) {
      const quota = quotaMessage(err);
      if (quota) mount(extra, quota); else msg.show(err);
    }
  });
  mount(root,
    pageHeader("New quote", "Type or say what the job is. You can edit every line afterwards."),
    h("div.new-quote-grid", {}, form, voiceRecorder({
      getCustomerId: () => picker.value?.id || null,
      onQuote: created,
      onError: (err) => { const quota = quotaMessage(err); if (quota) mount(extra, quota); },
    })));
  setTimeout(() => picker.input.focus(), 0);
}

// -- the quote page ------------------------------------------------------------------

function lineEditor(items, currency, onDirty) {
  const rows = [];
  const body = h("tbody");
  const table = h("table.table.table-cards.line-editor", {},
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Item"), h("th.num.col-qty", { scope: "col" }, "Qty"),
      h("th.col-unit", { scope: "col" }, "Unit"), h("th.num.col-price", { scope: "col" }, "Unit price"),
      h("th.num", { scope: "col" }, "Amount"), h("th", { scope: "col" }, h("span.sr-only", {}, "Remove")))),
    body);

  function addRow(item, focus = false) {
    const n = () => rows.indexOf(row) + 1;
    const name = h("input", { type: "text", value: item.name || "", required: true, maxlength: 200 });
    const desc = h("input.item-desc-input", { type: "text", value: item.description || "", placeholder: "Details (optional)" });
    const quantity = h("input.num", { type: "text", inputmode: "decimal", value: qty(item.quantity ?? "1"), required: true });
    const unit = h("input", { type: "text", value: item.unit || "", maxlength: 32 });
    const price = h("input.num", { type: "text", inputmode: "decimal", value: item.unit_price ?? "0.00", required: true });
    const amount = h("span.amount", {}, item.amount !== undefined ? money(item.amount, currency) : "—");
    const remove = h("button.btn-icon", { type: "button" }, "×");
    const row = { item, name, desc, quantity, unit, price, el: null };
    const labels = () => {
      name.setAttribute("aria-label", `Line ${n()} name`);
      desc.setAttribute("aria-label", `Line ${n()} details`);
      quantity.setAttribute("aria-label", `Line ${n()} quantity`);
      unit.setAttribute("aria-label", `Line ${n()} unit`);
      price.setAttribute("aria-label", `Line ${n()} unit price`);
      remove.setAttribute("aria-label", `Remove line ${n()}`);
    };
    row.el = h("tr", {},
      h("td", { "data-label": "Item" }, name, desc),
      h("td.num", { "data-label": "Qty" }, quantity),
      h("td", { "data-label": "Unit" }, unit),
      h("td.num", { "data-label": "Unit price" }, price),
      h("td.num.strong", { "data-label": "Amount" }, amount),
      h("td.row-actions", {}, remove));
    for (const input of [name, desc, quantity, unit, price]) {
      input.addEventListener("input", () => { amount.textContent = "—"; amount.title = "Save to recalculate"; onDirty(); });
    }
    remove.addEventListener("click", () => {
      rows.splice(rows.indexOf(row), 1);
      row.el.remove();
      rows.forEach((r) => r.relabel());
      onDirty();
    });
    row.relabel = labels;
    rows.push(row);
    labels();
    body.append(row.el);
    if (focus) name.focus();
  }

  items.forEach((item) => addRow(item));
  const add = h("button.btn.btn-small", { type: "button" }, "+ Add line");
  add.addEventListener("click", () => { addRow({ name: "", quantity: "1", unit: "each", unit_price: "0.00" }, true); onDirty(); });

  return {
    el: h("div.line-editor-wrap", {}, table, h("div.line-editor-actions", {}, add)),
    value: () => rows.map((r) => ({
      name: r.name.value.trim(),
      description: r.desc.value.trim() || null,
      category: r.item.category ?? null,
      quantity: r.quantity.value.trim() || "0",
      unit: r.unit.value.trim() || null,
      unit_price: r.price.value.trim().replace(/^\$/, "").replace(/,/g, "") || "0",
    })),
  };
}

function processingCard(quote) {
  return h("section.card.processing", { role: "status", "data-testid": "processing" },
    h("span.spinner.spinner-large", { "aria-hidden": "true" }),
    h("div", {}, h("h2.card-title", {}, "Pricing your job…"),
      h("p.muted", {}, "Quoted is working on it. This page updates by itself; you can leave and come back."),
      quote.description ? h("blockquote.job-description", {}, quote.description) : null));
}

function failedCard(quote, onRetry) {
  const retry = h("button.btn.btn-primary", { type: "button" }, "Try again");
  retry.addEventListener("click", () => onRetry(retry));
  return h("section.card.alert-error-card", { role: "alert" },
    h("h2.card-title", {}, "We could not price this quote"),
    h("p", {}, quote.error || "The pricing service gave up after several attempts."),
    retry);
}

function insightsCard(quote) {
  const confidence = quote.confidence
    ? h("span.confidence", { dataset: { level: quote.confidence } }, `${quote.confidence[0].toUpperCase()}${quote.confidence.slice(1)} confidence`)
    : null;
  return h("section.card", {},
    h("h2.card-title", {}, "Job details"),
    confidence,
    quote.questions?.length
      ? h("div.questions", {}, h("h3", {}, "Open questions"),
        h("p.small.muted", {}, "Check these with the customer before you send the quote."),
        h("ul", {}, ...quote.questions.map((q) => h("li", {}, q))))
      : h("p.small.muted", {}, "No open questions: the description covered everything."),
    quote.description ? h("div", {}, h("h3", {}, "What you described"), h("blockquote.job-description", {}, quote.description)) : null,
    h("p.small.muted", {}, `Priced by ${quote.generated_by === "claude" ? "AI" : "your pricing brain"} · created ${dateTime(quote.created_at)}`));
}

export function renderQuote(root, [id], { navigate }) {
  let pollTimer = null;
  let alive = true;

  async function load(showSpinner = true) {
    if (showSpinner) mount(root, spinner("Loading quote…"));
    try {
      const quote = await api("GET", `/api/quotes/${encodeURIComponent(id)}`);
      if (!alive) return;
      const customer = await getCustomer(quote.customer_id).catch(() => null);
      if (!alive) return;
      draw(quote, customer);
    } catch (err) {
      if (!alive) return;
      if (err.status === 404) {
        mount(root, emptyState("Quote not found", "It may have been deleted.", h("a.btn", { href: "#/quotes" }, "All quotes")));
      } else if (showSpinner) {
        mount(root, errorBox(err, () => load()));
      } else {
        pollTimer = setTimeout(() => load(false), POLL_MS * 2); // transient: keep polling
      }
    }
  }

  function draw(quote, customer) {
    clearTimeout(pollTimer);
    const header = docHeader(`${quote.number}${quote.title ? ` · ${quote.title}` : ""}`,
      customer ? `For ${customer.name}` : "No customer yet", quote.status, "quote-heading");

    if (quote.status === "processing") {
      mount(root, header, processingCard(quote));
      pollTimer = setTimeout(() => load(false), POLL_MS);
      return;
    }
    if (quote.status === "failed") {
      mount(root, header, failedCard(quote, async (button) => {
        try {
          await busy(button, () => api("POST", `/api/quotes/${quote.id}/retry`), "Queuing…");
          load(false);
        } catch (err) { toast(errorText(err), "error"); }
      }));
      return;
    }
    mount(root, header, h("div.quote-layout", {},
      h("div.quote-main", {}, editorCard(quote, customer)),
      h("aside.quote-side", {},
        h("section.card.total-card", {}, totalsBlock(quote)),
        deliveryPanel("quotes", quote, { defaultEmail: customer?.email || "", onChange: () => load(false) }),
        nextStepCard(quote),
        insightsCard(quote))));
  }

  function nextStepCard(quote) {
    const invoiceBtn = h("button.btn.btn-primary", { type: "button" }, "Create invoice");
    invoiceBtn.addEventListener("click", async () => {
      try {
        const invoice = await busy(invoiceBtn, () => api("POST", `/api/invoices/from-quote/${quote.id}`), "Creating…");
        toast(`${invoice.number} created.`);
        navigate(`/invoices/${invoice.id}`);
      } catch (err) { toast(errorText(err), "error"); }
    });
    const del = h("button.btn.btn-danger-ghost", { type: "button" }, "Delete quote");
    del.addEventListener("click", async () => {
      if (!window.confirm(`Delete ${quote.number}? This cannot be undone.`)) return;
      try {
        await busy(del, () => api("DELETE", `/api/quotes/${quote.id}`), "Deleting…");
        toast(`${quote.number} deleted.`);
        navigate("/quotes");
      } catch (err) { toast(errorText(err), "error"); }
    });
    const canInvoice = ["draft", "sent", "viewed", "accepted"].includes(quote.status);
    return h("section.card", {}, h("h2.card-title", {}, "Next step"),
      quote.status === "accepted" ? h("p.small", {}, "The customer accepted this quote. Time to invoice.") : null,
      quote.status === "rejected" ? h("p.small", {}, "The customer declined this quote.") : null,
      h("div.button-row", {}, canInvoice ? invoiceBtn : null, del));
  }

  function editorCard(quote, customer) {
    const msg = messageArea();
    const dirtyNote = h("span.dirty-note", {}, "Unsaved changes — totals update when you save.");
    dirtyNote.hidden = true;
    const markDirty = () => { dirtyNote.hidden = false; };
    const title = h("input", { type: "text", value: quote.title || "", maxlength: 200 });
    const picker = customerPicker({ initial: customer, onChange: markDirty });
    const lines = lineEditor(quote.line_items || [], quote.currency, markDirty);
    const days = h("input", { type: "number", min: 0, max: 3650, step: 1, value: quote.estimated_days ?? "" });
    const crew = h("input", { type: "number", min: 1, max: 1000, step: 1, value: quote.crew_size ?? "" });
    const validUntil = h("input", { type: "date", value: quote.valid_until || "" });
    const notes = h("textarea", { rows: 3, maxlength: 5000, placeholder: "Shown on the quote" });
    notes.value = quote.notes || "";
    for (const input of [title, days, crew, validUntil, notes]) input.addEventListener("input", markDirty);
    const save = h("button.btn.btn-primary", { type: "submit", "data-testid": "save-quote" }, "Save changes");
    const form = h("form.card.quote-editor", { "aria-label": "Edit quote" },
      h("h2.card-title", {}, "Quote"),
      msg.el,
      h("div.form-grid", {}, field("Title", title), picker.el),
      h("h3.section-label", {}, "Line items"),
      lines.el,
      h("div.form-grid.form-grid-3", {},
        field("Estimated days", days), field("Crew size", crew), field("Valid until", validUntil)),
      field("Notes shown on the quote", notes),
      h("div.form-actions.sticky-actions", {}, save, dirtyNote));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      msg.clear();
      const body = {
        title: title.value.trim(),
        notes: notes.value.trim() || null,
        customer_id: picker.value?.id ?? null,
        line_items: lines.value(),
        valid_until: validUntil.value || null,
        estimated_days: days.value === "" ? null : Number(days.value),
        crew_size: crew.value === "" ? null : Number(crew.value),
      };
      try {
        const saved = await busy(save, () => api("PATCH", `/api/quotes/${quote.id}`, { body }), "Saving…");
        toast("Quote saved. Totals are up to date.");
        draw(saved, picker.value);
      } catch (err) { msg.show(err); msg.el.scrollIntoView({ block: "center" }); }
    });
    return form;
  }

  load();
  return () => { alive = false; clearTimeout(pollTimer); };
}
