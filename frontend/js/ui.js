// Shared UI pieces: money and date formatting, badges, busy buttons, toasts,
// loading / empty / error states. All text goes in through text nodes.
import { h, mount } from "./dom.js";
import { ApiError } from "./api.js";

const SYMBOLS = { USD: "$", CAD: "$", AUD: "$", NZD: "$", EUR: "€", GBP: "£" };

/**
 * Display a decimal string from the API ("1234.5" → "$1,234.50") without
 * converting through floats: totals are the server's, we only add separators.
 */
export function money(value, currency = "USD") {
  if (value === null || value === undefined || value === "") return "—";
  let text = String(value).trim();
  const negative = text.startsWith("-");
  if (negative) text = text.slice(1);
  let [whole, frac = ""] = text.split(".");
  frac = frac.length < 2 ? frac.padEnd(2, "0") : frac;
  whole = whole.replace(/^0+(?=\d)/, "").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const symbol = SYMBOLS[currency] ?? "";
  const amount = `${symbol}${whole}.${frac}`;
  const suffix = symbol ? "" : ` ${currency}`;
  return `${negative ? "−" : ""}${amount}${suffix}`;
}

/** Trim trailing zeros of a decimal quantity string: "1.50" → "1.5", "2.000" → "2". */
export function qty(value) {
  const text = String(value ?? "");
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

export function percentFromRate(rate) {
  // "0.0825" → "8.25" (string arithmetic: shift the decimal point two places)
  const text = String(rate ?? "0");
  const [w, f = ""] = text.split(".");
  const digits = (f + "00").slice(0, 2);
  const rest = f.slice(2).replace(/0+$/, "");
  const whole = String(Number(w) * 100 + Number(digits));
  return rest ? `${whole}.${rest}` : whole;
}

const dateFmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function date(value) {
  if (!value) return "—";
  const d = /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(`${value}T12:00:00`) : new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : dateFmt.format(d);
}

export function dateTime(value) {
  if (!value) return "—";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : dateTimeFmt.format(d);
}

const STATUS_LABELS = {
  processing: "Processing", failed: "Failed", draft: "Draft", sent: "Sent", viewed: "Viewed",
  accepted: "Accepted", rejected: "Declined", paid: "Paid", overdue: "Overdue", void: "Void",
  trialing: "Trial", active: "Active", past_due: "Past due", canceled: "Canceled",
  queued: "Queued",
};

export function badge(status) {
  return h(`span.badge.badge-${String(status).replace(/[^a-z_]/g, "")}`, {}, STATUS_LABELS[status] || String(status));
}

export function spinner(label = "Loading…") {
  return h("div.loading", { role: "status" }, h("span.spinner", { "aria-hidden": "true" }), h("span", {}, label));
}

export function emptyState(title, text, action) {
  return h("div.empty", {}, h("p.empty-title", {}, title), text ? h("p.muted", {}, text) : null, action || null);
}

export function errorText(err) {
  if (err instanceof ApiError) {
    if (err.notAvailable) return "This feature is not available on this server yet.";
    return err.detail;
  }
  return "Something unexpected happened. Reload the page and try again.";
}

export function errorBox(err, retry) {
  const box = h("div.alert.alert-error", { role: "alert" }, h("p", {}, errorText(err)));
  if (err instanceof ApiError && err.requestId && err.status >= 500) {
    box.append(h("p.muted.small", {}, `Reference: ${err.requestId}`));
  }
  if (retry) box.append(h("button.btn.btn-small", { type: "button", on: { click: retry } }, "Try again"));
  return box;
}

export function notAvailableBox(what) {
  return h("div.alert.alert-info", { role: "status" },
    h("p", {}, h("strong", {}, what), " — not available on this server yet."),
    h("p.muted.small", {}, "It is on its way; everything else keeps working."));
}

/** Run fn while the button shows a spinner and is disabled. */
export async function busy(button, fn, busyLabel) {
  const label = button.textContent;
  button.disabled = true;
  button.classList.add("is-busy");
  button.setAttribute("aria-busy", "true");
  if (busyLabel) button.textContent = busyLabel;
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.classList.remove("is-busy");
    button.removeAttribute("aria-busy");
    if (busyLabel) button.textContent = label;
  }
}

/** A form-level message area: show(err|text, kind). */
export function messageArea() {
  const el = h("div.form-message", { "aria-live": "polite" });
  el.hidden = true;
  return {
    el,
    show(content, kind = "error") {
      el.hidden = false;
      el.className = `form-message alert alert-${kind}`;
      el.setAttribute("role", kind === "error" ? "alert" : "status");
      mount(el, h("p", {}, typeof content === "string" ? content : errorText(content)));
    },
    clear() { el.hidden = true; el.replaceChildren(); },
  };
}

let toastRoot = null;
export function toast(text, kind = "ok") {
  if (!toastRoot) {
    toastRoot = h("div.toasts", { "aria-live": "polite", role: "status" });
    document.body.append(toastRoot);
  }
  const item = h(`div.toast.toast-${kind}`, {}, text);
  toastRoot.append(item);
  setTimeout(() => item.classList.add("leaving"), 3200);
  setTimeout(() => item.remove(), 3600);
}

export function pageHeader(title, subtitle, ...actions) {
  return h("div.page-header", {},
    h("div", {}, h("h1", {}, title), subtitle ? h("p.muted", {}, subtitle) : null),
    actions.length ? h("div.page-actions", {}, ...actions) : null);
}

/** Header of a quote or invoice page: title with its status badge beside it. */
export function docHeader(title, subtitle, status, testId) {
  return h("div.page-header.doc-header", {},
    h("div", {},
      h("div.doc-title-row", {}, h("h1", { "data-testid": testId }, title), badge(status)),
      subtitle ? h("p.muted", {}, subtitle) : null));
}

export function link(href, text, cls = "") {
  return h(`a${cls ? "." + cls.split(" ").join(".") : ""}`, { href }, text);
}

/** Copy text; falls back to selecting an input when the clipboard API is unavailable. */
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (input) { input.focus(); input.select(); }
    return false;
  }
}
