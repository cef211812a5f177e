// Invoices: list, detail with mark-paid, PDF / share / email.
import { h, mount, field } from "../dom.js";
import { api } from "../api.js";
import { badge, busy, date, dateTime, docHeader, emptyState, errorBox, errorText, messageArea, money, pageHeader, spinner, toast } from "../ui.js";
import { customerName, getCustomer, warmCustomers } from "./customers.js";
import { deliveryPanel } from "./delivery.js";
import { card, definitionList, lineItemsTable, totalsBlock } from "./common.js";

export function renderInvoices(root) {
  const listSlot = h("div", {}, spinner("Loading invoices…"));
  mount(root, pageHeader("Invoices", "Create one from any quote; mark it paid when the money is in."), listSlot);
  let items = [];
  async function load(after = null) {
    try {
      const [page] = await Promise.all([
        api("GET", `/api/invoices?limit=25${after ? `&cursor=${encodeURIComponent(after)}` : ""}`),
        after ? null : warmCustomers()]);
      items = after ? items.concat(page.items) : page.items;
      if (!items.length) {
        mount(listSlot, emptyState("No invoices yet", "Open a quote and choose “Create invoice”.",
          h("a.btn", { href: "#/quotes" }, "Go to quotes")));
        return;
      }
      const more = page.next_cursor ? h("button.btn", { type: "button" }, "Load more") : null;
      more?.addEventListener("click", () => busy(more, () => load(page.next_cursor)));
      mount(listSlot, h("div.card.card-flush", {}, h("table.table.table-cards", {},
        h("thead", {}, h("tr", {}, ...["Invoice", "Status", "Due", "Total", "Paid"].map((t, i) =>
          h(i >= 3 ? "th.num" : "th", { scope: "col" }, t)))),
        h("tbody", {}, ...items.map((inv) => h("tr", {},
          h("td", { "data-label": "Invoice" }, h("a.row-link", { href: `#/invoices/${inv.id}` },
            h("span.doc-number", {}, inv.number), h("span.doc-title", {}, customerName(inv.customer_id)))),
          h("td", { "data-label": "Status" }, badge(inv.status)),
          h("td", { "data-label": "Due" }, date(inv.due_date)),
          h("td.num.strong", { "data-label": "Total" }, money(inv.total, inv.currency)),
          h("td.num", { "data-label": "Paid" }, money(inv.amount_paid, inv.currency))))))),
      more ? h("div.center", {}, more) : null);
    } catch (err) { mount(listSlot, errorBox(err, () => load())); }
  }
  load();
}

function markPaidCard(invoice, onPaid) {
  if (invoice.status === "paid" || invoice.status === "void") {
    return card("Payment", h("p", {}, invoice.status === "paid"
      ? `Paid ${money(invoice.amount_paid, invoice.currency)} on ${dateTime(invoice.paid_at)}.`
      : "This invoice is void."));
  }
  const amount = h("input.num", { type: "text", inputmode: "decimal", placeholder: invoice.total });
  const paidOn = h("input", { type: "date" });
  const submit = h("button.btn.btn-primary", { type: "submit", "data-testid": "mark-paid" }, "Mark as paid");
  const msg = messageArea();
  const form = h("form.stack", { "aria-label": "Mark as paid" }, msg.el,
    h("div.form-grid", {},
      field("Amount received", amount, "Leave empty for the full total."),
      field("Paid on", paidOn, "Leave empty for today.")),
    submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    msg.clear();
    const body = {};
    if (amount.value.trim()) body.amount = amount.value.trim().replace(/^\$/, "").replace(/,/g, "");
    if (paidOn.value) body.paid_at = new Date(`${paidOn.value}T12:00:00`).toISOString();
    try {
      const paid = await busy(submit, () => api("POST", `/api/invoices/${invoice.id}/mark-paid`, { body }), "Saving…");
      toast(`${paid.number} marked as paid.`);
      onPaid(paid);
    } catch (err) { msg.show(err); }
  });
  return card("Record a payment", form);
}

export function renderInvoice(root, [id]) {
  let alive = true;
  async function load() {
    mount(root, spinner("Loading invoice…"));
    try {
      const invoice = await api("GET", `/api/invoices/${encodeURIComponent(id)}`);
      const customer = await getCustomer(invoice.customer_id).catch(() => null);
      if (alive) draw(invoice, customer);
    } catch (err) {
      if (!alive) return;
      mount(root, err.status === 404
        ? emptyState("Invoice not found", "It may have been deleted.", h("a.btn", { href: "#/invoices" }, "All invoices"))
        : errorBox(err, load));
    }
  }
  function draw(invoice, customer) {
    const header = docHeader(invoice.number, customer ? `For ${customer.name}` : "No customer", invoice.status,
      "invoice-heading");
    mount(root, header, h("div.quote-layout", {},
      h("div.quote-main", {},
        card("Line items", lineItemsTable(invoice.line_items, invoice.currency)),
        card("Details", definitionList([
          ["Issued", date(invoice.created_at)],
          ["Due", date(invoice.due_date)],
          ["From quote", h("a", { href: `#/quotes/${invoice.quote_id}` }, "Open the quote")],
          invoice.notes ? ["Notes", invoice.notes] : null,
        ]))),
      h("aside.quote-side", {},
        h("section.card.total-card", {}, totalsBlock(invoice, [["Paid", money(invoice.amount_paid, invoice.currency)]])),
        markPaidCard(invoice, (paid) => draw(paid, customer)),
        deliveryPanel("invoices", invoice, { defaultEmail: customer?.email || "", onChange: load }))));
  }
  load();
  return () => { alive = false; };
}
