// PDF, share link and email for quotes and invoices (kind = "quotes" | "invoices").
import { h, mount, field } from "../dom.js";
import { api } from "../api.js";
import { badge, busy, copyText, dateTime, errorText, messageArea, toast } from "../ui.js";

export function deliveryPanel(kind, doc, { defaultEmail = "", onChange = () => {} } = {}) {
  const base = `/api/${kind}/${doc.id}`;
  const msg = messageArea();
  const result = h("div.delivery-result");

  const pdfBtn = h("button.btn", { type: "button", "data-testid": "pdf-button" }, "Download PDF");
  pdfBtn.addEventListener("click", async () => {
    msg.clear();
    try {
      const link = await busy(pdfBtn, () => api("POST", `${base}/pdf`), "Preparing PDF…");
      mount(result, h("p.small", {}, "PDF ready: ",
        h("a", { href: link.url, target: "_blank", rel: "noopener", "data-testid": "pdf-link" }, "open the PDF"),
        h("span.muted", {}, ` (link works until ${dateTime(link.expires_at)})`)));
      window.open(link.url, "_blank", "noopener");
    } catch (err) { msg.show(errorText(err)); }
  });

  const shareBtn = h("button.btn", { type: "button", "data-testid": "share-button" }, "Share link");
  shareBtn.addEventListener("click", async () => {
    msg.clear();
    try {
      const link = await busy(shareBtn, () => api("POST", `${base}/share`), "Creating link…");
      const input = h("input", { type: "text", readonly: true, value: link.url, "data-testid": "share-url" });
      const copy = h("button.btn.btn-small", { type: "button" }, "Copy");
      copy.addEventListener("click", async () => {
        toast(await copyText(link.url, input) ? "Link copied." : "Press Ctrl+C to copy the selected link.");
      });
      mount(result, h("div.share-box", {}, field("Link for your customer", h("div.input-row", {}, input, copy), null, input),
        h("p.hint", {}, "Anyone with this link can view it. Sharing again replaces the old link.")));
      if (await copyText(link.url)) toast("Share link copied.");
    } catch (err) { msg.show(errorText(err)); }
  });

  const sendBtn = h("button.btn", { type: "button" }, "Send by email");
  sendBtn.addEventListener("click", () => {
    msg.clear();
    const email = h("input", { type: "email", value: defaultEmail, required: true, autocomplete: "off" });
    const go = h("button.btn.btn-primary", { type: "submit" }, "Send");
    const form = h("form.send-form", { "aria-label": "Send by email" },
      field("Customer's email", email, "We email the document with its PDF and share link."),
      h("div.form-actions", {}, go,
        h("button.btn.btn-ghost", { type: "button", on: { click: () => result.replaceChildren() } }, "Cancel")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await busy(go, () => api("POST", `${base}/send`, { body: email.value.trim() ? { email: email.value.trim() } : {} }), "Sending…");
        toast("Email queued. It is retried if the mail service is slow.");
        onChange();
      } catch (err) { msg.show(errorText(err)); }
    });
    mount(result, form);
    email.focus();
  });

  const delivery = doc.last_delivery
    ? h("p.small.muted.delivery-status", {}, "Last email: ", badge(doc.last_delivery.status), ` to ${doc.last_delivery.to} · ${dateTime(doc.last_delivery.updated_at)}`
      + (doc.last_delivery.attempts > 1 ? ` · ${doc.last_delivery.attempts} attempts` : ""))
    : null;

  return h("section.card", {},
    h("h2.card-title", {}, "Send to the customer"),
    h("div.button-row", {}, pdfBtn, shareBtn, sendBtn),
    msg.el, result, delivery);
}
