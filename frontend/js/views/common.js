// Pieces shared by the quote, invoice and public views.
import { h } from "../dom.js";
import { money, qty, percentFromRate } from "../ui.js";

/** Read-only line items: a table on desktop that becomes cards on phones (CSS). */
export function lineItemsTable(items, currency) {
  if (!items.length) return h("p.muted", {}, "No line items.");
  return h("table.table.table-cards.line-items", {},
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Item"), h("th.num", { scope: "col" }, "Qty"),
      h("th.num", { scope: "col" }, "Unit price"), h("th.num", { scope: "col" }, "Amount"))),
    h("tbody", {}, ...items.map((item) => h("tr", {},
      h("td", { "data-label": "Item" }, h("div.item-name", {}, item.name),
        item.description ? h("div.item-desc.muted", {}, item.description) : null),
      h("td.num", { "data-label": "Qty" }, `${qty(item.quantity)} ${item.unit || ""}`.trim()),
      h("td.num", { "data-label": "Unit price" }, money(item.unit_price, currency)),
      h("td.num.strong", { "data-label": "Amount" }, money(item.amount, currency))))));
}

/** Subtotal / tax / total exactly as the server computed them. */
export function totalsBlock(doc, extraRows = []) {
  const rate = percentFromRate(doc.tax_rate);
  return h("dl.totals", { "data-testid": "totals" },
    h("div", {}, h("dt", {}, "Subtotal"), h("dd", { "data-testid": "subtotal" }, money(doc.subtotal, doc.currency))),
    h("div", {}, h("dt", {}, `Tax (${rate}%)`), h("dd", {}, money(doc.tax, doc.currency))),
    h("div.grand", {}, h("dt", {}, "Total"), h("dd", { "data-testid": "total" }, money(doc.total, doc.currency))),
    ...extraRows.map(([label, value]) => h("div", {}, h("dt", {}, label), h("dd", {}, value))));
}

export function definitionList(rows) {
  return h("dl.facts", {}, ...rows.filter(Boolean).map(([label, value]) =>
    h("div", {}, h("dt", {}, label), h("dd", {}, value ?? "—"))));
}

export function card(title, ...children) {
  return h("section.card", {}, title ? h("h2.card-title", {}, title) : null, ...children);
}
