// Boot: public share pages by path (/q/{token}, /i/{token}); everything else is
// the contractor app with hash routes (#/quotes/…), restored from the refresh
// cookie on load so a reload never asks for the password again.
import { h, mount } from "./dom.js";
import * as session from "./api.js";
import { errorBox, spinner } from "./ui.js";
import { renderLogin, renderSignup } from "./views/auth.js";
import { renderShell, setActiveNav } from "./views/shell.js";
import { renderDashboard } from "./views/dashboard.js";
import { renderQuotes, renderNewQuote, renderQuote } from "./views/quotes.js";
import { renderCustomers } from "./views/customers.js";
import { renderInvoices, renderInvoice } from "./views/invoices.js";
import { renderPricing } from "./views/pricing.js";
import { renderBilling } from "./views/billing.js";
import { renderSettings } from "./views/settings.js";
import { renderSharedQuote, renderSharedInvoice } from "./views/public.js";

const root = document.getElementById("app");

const ROUTES = [
  [/^\/?$/, renderDashboard, "dashboard"],
  [/^\/quotes$/, renderQuotes, "quotes"],
  [/^\/quotes\/new$/, renderNewQuote, "quotes"],
  [/^\/quotes\/([\w-]+)$/, renderQuote, "quotes"],
  [/^\/customers$/, renderCustomers, "customers"],
  [/^\/invoices$/, renderInvoices, "invoices"],
  [/^\/invoices\/([\w-]+)$/, renderInvoice, "invoices"],
  [/^\/pricing$/, renderPricing, "pricing"],
  [/^\/billing$/, renderBilling, "billing"],
  [/^\/settings$/, renderSettings, "settings"],
];

let cleanup = null;
let main = null;
let signedOutNotice = "";

function currentPath() {
  return decodeURIComponent(location.hash.replace(/^#/, "")) || "/";
}

export function navigate(path) {
  if (currentPath() === path) route();
  else location.hash = `#${path}`;
}

function runView(container, view, params) {
  if (cleanup) { try { cleanup(); } catch { /* view already gone */ } cleanup = null; }
  const result = view(container, params, { navigate });
  if (typeof result === "function") cleanup = result;
}

function route() {
  const path = currentPath();
  if (!session.isSignedIn()) {
    main = null;
    const view = path === "/signup" ? renderSignup : renderLogin;
    runView(root, view, { notice: signedOutNotice, onSignedIn: signedIn });
    signedOutNotice = "";
    return;
  }
  if (path === "/login" || path === "/signup") { navigate("/"); return; }
  if (!main) main = renderShell(root, { onLogout: logout });
  for (const [pattern, view, nav] of ROUTES) {
    const match = pattern.exec(path);
    if (match) {
      setActiveNav(nav);
      main.replaceChildren();
      runView(main, view, match.slice(1));
      main.focus({ preventScroll: true });
      window.scrollTo(0, 0);
      return;
    }
  }
  setActiveNav("");
  mount(main, h("div.empty", {}, h("p.empty-title", {}, "Page not found"),
    h("a.btn", { href: "#/" }, "Back to the dashboard")));
}

function signedIn() {
  main = null;
  if (["/login", "/signup"].includes(currentPath())) navigate("/");
  else route();
}

async function logout() {
  await session.logout();
  main = null;
  signedOutNotice = "You are signed out.";
  if (currentPath() === "/") route(); else navigate("/");
}

session.onSessionLost(() => {
  main = null;
  signedOutNotice = "Your session has ended. Please log in again.";
  route();
});

async function boot() {
  const shared = /^\/(q|i)\/([^/]+)\/?$/.exec(location.pathname);
  if (shared) {
    const view = shared[1] === "q" ? renderSharedQuote : renderSharedInvoice;
    view(root, decodeURIComponent(shared[2]));
    return;
  }
  mount(root, h("div.boot", {}, spinner("Opening Quoted…")));
  try {
    await session.restoreSession();
  } catch (err) {
    mount(root, h("div.boot", {}, errorBox(err, () => boot())));
    return;
  }
  window.addEventListener("hashchange", route);
  route();
}

boot();
