// DOM helpers (SEC-001): every node is built with createElement and every piece
// of text goes in through text nodes, so user data can never become markup.

const BLOCKED_ATTRS = /^(on|style$|srcdoc$)/i;

/**
 * h("button.btn.primary", {type: "submit", on: {click}}, "Save", child…)
 * Strings and numbers become text nodes; null/false children are skipped.
 */
export function h(spec, props = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  applyProps(el, props);
  append(el, children);
  return el;
}

function applyProps(el, props) {
  if (!props) return;
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "on") {
      for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
    } else if (key === "class") {
      el.className = [el.className, value].filter(Boolean).join(" ");
    } else if (key === "text") {
      el.textContent = String(value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" || key === "checked" || key === "hidden" || key === "disabled" || key === "selected") {
      el[key] = value;
    } else if (BLOCKED_ATTRS.test(key)) {
      throw new Error(`h(): attribute ${key} is not allowed (CSP / SEC-001)`);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replace all children of el. */
export function mount(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let uid = 0;
export function nextId(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/**
 * A labelled form field: label above, control, optional hint. `target` is the
 * element the label names when `control` is a wrapper (e.g. input + button).
 */
export function field(labelText, control, hint, target = control) {
  if (!target.id) target.id = nextId("field");
  const wrap = h("div.field", {},
    h("label", { for: target.id }, labelText),
    control,
    hint ? h("p.hint", { id: `${target.id}-hint` }, hint) : null);
  if (hint) target.setAttribute("aria-describedby", `${target.id}-hint`);
  return wrap;
}
