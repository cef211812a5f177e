// Billing: current plan and usage, upgrade through Stripe Checkout, the portal.
import { h, mount } from "../dom.js";
import { api } from "../api.js";
import { badge, busy, date, errorBox, errorText, money, notAvailableBox, pageHeader, spinner, toast } from "../ui.js";

function usageBar(used, limit) {
  if (!limit) return h("p.muted", {}, `${used} quotes this month · unlimited`);
  const meter = h("meter", { min: 0, max: limit, value: Math.min(used, limit), "aria-label": "Quotes used this month" });
  return h("div.usage", {}, h("p", {}, h("strong", {}, String(used)), ` of ${limit} quotes used`), meter);
}

export function renderBilling(root) {
  const statusSlot = h("div", {}, spinner("Loading your plan…"));
  const plansSlot = h("div", {}, spinner("Loading plans…"));
  mount(root, pageHeader("Billing", "Your plan, your usage, your invoices from us."), statusSlot,
    h("section.section", {}, h("div.section-header", {}, h("h2", {}, "Plans")), plansSlot));
  let current = null;

  async function go(button, path, body) {
    try {
      const { url } = await busy(button, () => api("POST", path, { body }), "Opening…");
      window.location.assign(url);
    } catch (err) { toast(errorText(err), "error"); }
  }

  async function loadStatus() {
    try {
      const s = await api("GET", "/api/billing/status");
      current = s.plan;
      const portal = h("button.btn", { type: "button" }, "Manage payment and invoices");
      portal.addEventListener("click", () => go(portal, "/api/billing/portal"));
      mount(statusSlot, h("section.card.plan-card", {},
        h("div.plan-head", {}, h("div", {}, h("p.muted.small", {}, "Current plan"),
          h("p.plan-name", {}, s.plan === "trial" ? "Free trial" : s.plan)), badge(s.subscription_status)),
        usageBar(s.quotes_used, s.quotes_limit),
        s.current_period_end ? h("p.small.muted", {}, `${s.plan === "trial" ? "Trial ends" : "Renews"} ${date(s.current_period_end)}`) : null,
        s.plan !== "trial" ? h("div.button-row", {}, portal) : null));
    } catch (err) {
      mount(statusSlot, err.notAvailable ? notAvailableBox("Billing") : errorBox(err, loadStatus));
    }
  }

  async function loadPlans() {
    try {
      const { items } = await api("GET", "/api/billing/plans", { auth: false });
      mount(plansSlot, h("div.plans", {}, ...items.map((p) => {
        const choose = h("button.btn.btn-primary.btn-block", { type: "button" }, current === p.key ? "Current plan" : `Choose ${p.name}`);
        choose.disabled = current === p.key;
        choose.addEventListener("click", () => go(choose, "/api/billing/checkout", { plan: p.key }));
        return h("div.card.plan", { dataset: { plan: p.key } },
          h("h3", {}, p.name),
          h("p.price", {}, h("span.price-amount", {}, money(p.monthly_price)), h("span.muted", {}, " / month")),
          h("p.muted", {}, p.quotes_per_month ? `${p.quotes_per_month} quotes a month` : "Unlimited quotes"),
          choose);
      })));
    } catch (err) {
      mount(plansSlot, err.notAvailable ? notAvailableBox("Plans and upgrades") : errorBox(err, loadPlans));
    }
  }
  loadStatus().then(loadPlans);
}
