// The signed-in frame: header with the business name, navigation, main area.
import { h, mount } from "../dom.js";
import * as session from "../api.js";

const NAV = [
  ["dashboard", "#/", "Dashboard"],
  ["quotes", "#/quotes", "Quotes"],
  ["customers", "#/customers", "Customers"],
  ["invoices", "#/invoices", "Invoices"],
  ["pricing", "#/pricing", "Pricing brain"],
  ["billing", "#/billing", "Billing"],
  ["settings", "#/settings", "Settings"],
];

let navLinks = [];

export function renderShell(root, { onLogout }) {
  const businessName = h("span.business-name", { "data-testid": "business-name" });
  const update = (contractor) => {
    businessName.textContent = contractor?.business_name || "";
    businessName.title = businessName.textContent; // full name when the phone header truncates it
  };
  update(session.currentContractor());
  session.onSession(update);

  const logout = h("button.btn.btn-ghost.btn-small", { type: "button" }, "Log out");
  logout.addEventListener("click", async () => {
    logout.disabled = true;
    logout.textContent = "Logging out…";
    await onLogout();
  });
  navLinks = NAV.map(([key, href, label]) => h("a.nav-link", { href, dataset: { nav: key } }, label));
  const main = h("main.main", { id: "main", tabindex: "-1" });
  mount(root,
    h("a.skip-link", { href: "#main", on: { click: (e) => { e.preventDefault(); main.focus(); } } }, "Skip to content"),
    h("header.topbar", {},
      h("div.topbar-inner", {},
        h("a.brand", { href: "#/", "aria-label": "Quoted home" },
          h("span.logo-mark", { "aria-hidden": "true" }, "Q"), h("span.logo-word", {}, "Quoted")),
        h("div.topbar-right", {},
          businessName,
          h("a.btn.btn-primary.btn-small.new-quote-btn", { href: "#/quotes/new" }, "+ New quote"),
          logout)),
      h("nav.nav", { "aria-label": "Main" }, h("div.nav-inner", {}, ...navLinks))),
    main);
  return main;
}

export function setActiveNav(key) {
  for (const link of navLinks) {
    const active = link.dataset.nav === key;
    link.classList.toggle("active", active);
    if (active) {
      link.setAttribute("aria-current", "page");
      link.scrollIntoView({ block: "nearest", inline: "nearest" }); // phones: the nav strip scrolls sideways
    } else {
      link.removeAttribute("aria-current");
    }
  }
}
