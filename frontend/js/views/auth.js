// Log in and sign up (signed-out screens).
import { h, mount, field } from "../dom.js";
import * as session from "../api.js";
import { busy, messageArea } from "../ui.js";

export const TRADES = [
  ["general", "General contractor"], ["plumbing", "Plumbing"], ["electrical", "Electrical"],
  ["painting", "Painting"], ["carpentry", "Carpentry"], ["roofing", "Roofing"], ["hvac", "HVAC"],
  ["landscaping", "Landscaping"], ["flooring", "Flooring"], ["remodeling", "Remodeling"], ["cleaning", "Cleaning"],
];

function authFrame(title, subtitle, form, footer) {
  return h("div.auth-page", {},
    h("div.auth-brand", {},
      h("span.logo-mark", { "aria-hidden": "true" }, "Q"),
      h("span.logo-word", {}, "Quoted")),
    h("main.auth-card", { id: "main" },
      h("h1", {}, title),
      h("p.muted", {}, subtitle),
      form,
      h("p.auth-footer", {}, ...footer)),
    h("p.auth-tagline.muted", {}, "Describe the job. Get a priced, professional quote in under a minute."));
}

export function renderLogin(root, { notice, onSignedIn }) {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const submit = h("button.btn.btn-primary.btn-block", { type: "submit" }, "Log in");
  const msg = messageArea();
  const form = h("form.stack", { novalidate: false, "aria-label": "Log in" },
    msg.el, field("Email", email), field("Password", password), submit);
  if (notice) msg.show(notice, "info");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    msg.clear();
    try {
      await busy(submit, () => session.login(email.value.trim(), password.value), "Logging in…");
      onSignedIn();
    } catch (err) {
      msg.show(err);
      password.select();
    }
  });
  mount(root, authFrame("Log in", "Welcome back. Your quotes are waiting.", form,
    ["New to Quoted? ", h("a", { href: "#/signup" }, "Create an account")]));
}

export function renderSignup(root, { onSignedIn }) {
  const business = h("input", { type: "text", name: "business_name", autocomplete: "organization", required: true, maxlength: 200 });
  const trade = h("select", { name: "trade" }, ...TRADES.map(([value, label]) => h("option", { value }, label)));
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password", required: true, minlength: 10 });
  const submit = h("button.btn.btn-primary.btn-block", { type: "submit" }, "Create account");
  const msg = messageArea();
  const form = h("form.stack", { "aria-label": "Sign up" },
    msg.el,
    field("Business name", business),
    field("Trade", trade, "We start your pricing brain with sensible rates for your trade."),
    field("Email", email),
    field("Password", password, "At least 10 characters."),
    submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    msg.clear();
    try {
      await busy(submit, () => session.register({
        email: email.value.trim(), password: password.value,
        business_name: business.value.trim(), trade: trade.value,
      }), "Creating account…");
      onSignedIn();
    } catch (err) {
      msg.show(err);
    }
  });
  mount(root, authFrame("Create your account", "14-day free trial with 10 quotes. No card needed.", form,
    ["Already have an account? ", h("a", { href: "#/login" }, "Log in")]));
}
