// Dashboard: what needs attention, recent quotes, open invoices, plan usage.
import { h, mount } from "../dom.js";
import { api, currentContractor } from "../api.js";
import { emptyState, errorBox, money, spinner, badge, date } from "../ui.js";
import { quotesTable } from "./quotes.js";
import { warmCustomers, customerName } from "./customers.js";

function stat(label, value, hint) {
  return h("div.stat", {}, h("p.stat-label", {}, label), h("p.stat-value", {}, value), hint ? h("p.stat-hint", {}, hint) : null);
}

export function renderDashboard(root) {
  const contractor = currentContractor();
  const body = h("div", {}, spinner("Loading your dashboard…"));
  mount(root,
    h("div.page-header", {},
      h("div", {}, h("h1", {}, `Hi, ${contractor?.business_name || "there"}`),
        h("p.muted", {}, "Here is where your quotes stand.")),
      h("div.page-actions", {}, h("a.btn.btn-primary", { href: "#/quotes/new" }, "+ New quote"))),
    body);

  async function load() {
    try {
      const [quotes, invoices, billing] = await Promise.all([
        api("GET", "/api/quotes?limit=8"),
        api("GET", "/api/invoices?limit=50"),
        api("GET", "/api/billing/status").catch(() => null),
        warmCustomers(),
      ]);
      const open = invoices.items.filter((i) => ["draft", "sent", "overdue"].includes(i.status));
      const awaiting = quotes.items.filter((q) => ["sent", "viewed"].includes(q.status)).length;
      const accepted = quotes.items.filter((q) => q.status === "accepted").length;
      const usage = billing ? `${billing.quotes_used} of ${billing.quotes_limit ?? "∞"}` : "—";
      mount(body,
        h("div.stats", {},
          stat("Waiting on customer", String(awaiting), "sent or viewed"),
          stat("Accepted", String(accepted), "ready to invoice"),
          stat("Open invoices", String(open.length), "not paid yet"),
          stat("Quotes this month", usage, billing ? `${billing.plan} plan` : "usage shows here soon")),
        h("section.section", {},
          h("div.section-header", {}, h("h2", {}, "Recent quotes"), h("a", { href: "#/quotes" }, "View all")),
          quotes.items.length
            ? h("div.card.card-flush", {}, quotesTable(quotes.items))
            : emptyState("Your first quote is one sentence away",
              "Describe a job in your own words — Quoted prices it with your rates in seconds.",
              h("a.btn.btn-primary", { href: "#/quotes/new" }, "Create a quote"))),
        open.length ? h("section.section", {},
          h("div.section-header", {}, h("h2", {}, "Open invoices"), h("a", { href: "#/invoices" }, "View all")),
          h("div.card.card-flush", {}, h("ul.simple-list", {}, ...open.slice(0, 5).map((inv) =>
            h("li", {}, h("a.row-link", { href: `#/invoices/${inv.id}` },
              h("span.doc-number", {}, inv.number), h("span.doc-title", {}, customerName(inv.customer_id))),
              h("span.list-meta", {}, badge(inv.status), h("span.muted.small", {}, date(inv.due_date)),
                h("span.strong", {}, money(inv.total, inv.currency)))))))) : null);
    } catch (err) {
      mount(body, errorBox(err, load));
    }
  }
  load();
}
