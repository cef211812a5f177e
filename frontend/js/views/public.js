// The customer's pages behind share links: /q/{token} (accept / decline) and
// /i/{token} (view). No account, no access token: only the public endpoints.
import { h, mount, field } from "../dom.js";
import { api, ApiError } from "../api.js";
import { badge, busy, date, dateTime, errorText, messageArea, money, spinner } from "../ui.js";
import { lineItemsTable, totalsBlock } from "./common.js";

function frame(root, ...children) {
  mount(root, h("div.public-page", {}, ...children,
    h("footer.public-footer.muted.small", {}, "Sent with ", h("strong", {}, "Quoted"))));
}

function businessHeader(view, kindLabel) {
  const b = view.business || {};
  return h("header.public-header", {},
    h("div", {}, h("p.public-business", { "data-testid": "business" }, b.name || ""),
      h("p.muted.small", {}, [b.phone, b.address].filter(Boolean).join(" · "))),
    h("div.public-doc", {}, h("p.muted.small", {}, kindLabel), h("p.doc-number", {}, view.number), badge(view.status)));
}

function failure(root, err) {
  const gone = err instanceof ApiError && err.status === 404;
  frame(root, h("main.card.public-card", { id: "main" },
    h("h1", {}, gone ? "This link does not work" : "We could not open this page"),
    h("p", {}, gone ? "It may have expired or been replaced by a newer link. Ask the sender for a new one."
      : errorText(err))));
}

function answerSection(token, view, redraw) {
  if (view.accepted_at) {
    return h("section.card.answer.answer-accepted", { role: "status", "data-testid": "answer" },
      h("h2", {}, "Quote accepted"),
      h("p", {}, `Accepted by ${view.accepted_by_name || "the customer"} on ${dateTime(view.accepted_at)}. `
        + "The contractor has been told and will be in touch."));
  }
  if (view.rejected_at) {
    return h("section.card.answer.answer-rejected", { role: "status", "data-testid": "answer" },
      h("h2", {}, "Quote declined"), h("p", {}, `Declined on ${dateTime(view.rejected_at)}. Thank you for letting us know.`));
  }
  if (!["draft", "sent", "viewed"].includes(view.status)) return null;

  const msg = messageArea();
  const name = h("input", { type: "text", required: true, maxlength: 200, autocomplete: "name" });
  const accept = h("button.btn.btn-primary.btn-large", { type: "submit" }, "Accept quote");
  const acceptForm = h("form.stack", { "aria-label": "Accept quote" },
    field("Your full name", name, "Typing your name is your signature accepting this quote."), accept);
  acceptForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    msg.clear();
    if (!name.value.trim()) { msg.show("Type your name to accept."); name.focus(); return; }
    try {
      redraw(await busy(accept, () => api("POST", `/api/quotes/shared/${encodeURIComponent(token)}/accept`,
        { body: { name: name.value.trim() }, auth: false }), "Accepting…"));
    } catch (err) { msg.show(err); }
  });

  const reason = h("textarea", { rows: 3, maxlength: 2000 });
  const reject = h("button.btn.btn-danger-ghost", { type: "submit" }, "Decline quote");
  const rejectForm = h("form.stack.reject-form", { "aria-label": "Decline quote" },
    field("Reason (optional)", reason, "Helps the contractor improve their offer."), reject);
  rejectForm.hidden = true;
  const showReject = h("button.link-button", { type: "button" }, "Decline this quote");
  showReject.addEventListener("click", () => { rejectForm.hidden = false; showReject.hidden = true; reason.focus(); });
  rejectForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    msg.clear();
    try {
      redraw(await busy(reject, () => api("POST", `/api/quotes/shared/${encodeURIComponent(token)}/reject`,
        { body: reason.value.trim() ? { reason: reason.value.trim() } : {}, auth: false }), "Sending…"));
    } catch (err) { msg.show(err); }
  });
  return h("section.card.answer", {}, h("h2", {}, "Ready to go ahead?"), msg.el, acceptForm, showReject, rejectForm);
}

export function renderSharedQuote(root, token) {
  document.title = "Your quote — Quoted";
  frame(root, spinner("Opening your quote…"));
  const draw = (view) => {
    document.title = `${view.number} from ${view.business?.name || "your contractor"}`;
    const terms = view.terms || {};
    const depositRow = terms.deposit_amount && terms.deposit_amount !== "0.00"
      ? [[`Deposit (${terms.deposit_percent}%)`, money(terms.deposit_amount, view.currency)]] : [];
    frame(root, h("main.public-main", { id: "main" },
      businessHeader(view, "Quote"),
      h("section.card.public-card", {},
        h("h1.public-title", {}, view.title || "Quote"),
        h("p.muted", { "data-testid": "customer-name" }, view.customer_name ? `Prepared for ${view.customer_name}` : ""),
        view.valid_until ? h("p.small.muted", {}, `Valid until ${date(view.valid_until)}`) : null,
        lineItemsTable(view.line_items || [], view.currency),
        totalsBlock(view, depositRow)),
      terms.text ? h("section.card", {}, h("h2.card-title", {}, "Terms"), h("p.terms", {}, terms.text)) : null,
      answerSection(token, view, draw)));
  };
  api("GET", `/api/quotes/shared/${encodeURIComponent(token)}`, { auth: false }).then(draw, (err) => failure(root, err));
}

export function renderSharedInvoice(root, token) {
  document.title = "Your invoice — Quoted";
  frame(root, spinner("Opening your invoice…"));
  api("GET", `/api/invoices/shared/${encodeURIComponent(token)}`, { auth: false }).then((view) => {
    document.title = `${view.number} from ${view.business?.name || "your contractor"}`;
    frame(root, h("main.public-main", { id: "main" },
      businessHeader(view, "Invoice"),
      h("section.card.public-card", {},
        h("h1.public-title", {}, `Invoice ${view.number}`),
        h("p.muted", { "data-testid": "customer-name" }, view.customer_name ? `Billed to ${view.customer_name}` : ""),
        view.due_date ? h("p.small.muted", {}, `Due ${date(view.due_date)}`) : null,
        lineItemsTable(view.line_items || [], view.currency),
        totalsBlock(view, [["Paid", money(view.amount_paid, view.currency)],
          ["Balance due", money(view.balance_due, view.currency)]])),
      view.status === "paid"
        ? h("section.card.answer.answer-accepted", { role: "status" }, h("h2", {}, "Paid — thank you"),
          h("p", {}, view.paid_at ? `Payment recorded on ${dateTime(view.paid_at)}.` : "Payment recorded."))
        : null,
      view.terms_text ? h("section.card", {}, h("h2.card-title", {}, "Terms"), h("p.terms", {}, view.terms_text)) : null));
  }, (err) => failure(root, err));
}
