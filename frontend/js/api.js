// The API client (SEC-003 in the browser).
// - The access token lives in this module's memory only: never localStorage or
//   sessionStorage. A reload restores the session through the HttpOnly
//   `quoted_refresh` cookie (POST /api/auth/refresh + X-Requested-With).
// - ONE refresh is in flight at a time, shared by every caller (refreshPromise).
// - Refresh happens when a fraction of the token's lifetime is left (so it works
//   for 5-second test tokens as well as 15-minute ones) or after a 401; the
//   original request is then retried once.
// - `refresh_superseded` means another tab rotated the cookie first: retry the
//   refresh shortly with the new cookie, never sign out for it.

const REFRESH_PATH = "/api/auth/refresh";
const CSRF_HEADER = { "X-Requested-With": "quoted" };
const REFRESH_WHEN_LEFT = 0.25; // refresh once less than 25 % of the lifetime remains
const SUPERSEDED_RETRIES = 4;

let accessToken = null;
let expiresAt = 0; // ms epoch
let lifetimeMs = 0;
let contractor = null;
let refreshPromise = null;
const listeners = { session: new Set(), lost: new Set() };

export class ApiError extends Error {
  constructor(status, code, detail, extra = {}) {
    super(detail);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.requestId = extra.requestId || null;
    this.retryAfter = extra.retryAfter || null;
  }

  /** The endpoint is not deployed yet (or not configured on this server). */
  get notAvailable() {
    return this.status === 404 && this.code === "not_found" && this.detail === "There is nothing at this address."
      || this.status === 405 || this.status === 501;
  }
}

export class SessionLost extends ApiError {}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function onSession(fn) { listeners.session.add(fn); return () => listeners.session.delete(fn); }
export function onSessionLost(fn) { listeners.lost.add(fn); return () => listeners.lost.delete(fn); }
export function currentContractor() { return contractor; }
export function isSignedIn() { return accessToken !== null; }

export function setContractor(value) {
  contractor = value;
  for (const fn of listeners.session) fn(contractor);
}

function acceptTokenPair(pair) {
  accessToken = pair.access_token;
  lifetimeMs = Math.max(1, Number(pair.expires_in) || 900) * 1000;
  expiresAt = Date.now() + lifetimeMs;
  setContractor(pair.contractor);
}

function forget() {
  accessToken = null;
  expiresAt = 0;
  contractor = null;
}

async function readError(res) {
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  const fallback = res.status >= 500
    ? "The server could not answer right now. Try again in a moment."
    : `The request failed (${res.status}).`;
  return new ApiError(res.status, body?.code || "http_error", body?.detail || fallback, {
    requestId: body?.request_id || res.headers.get("X-Request-ID"),
    retryAfter: res.headers.get("Retry-After"),
  });
}

function networkError() {
  return new ApiError(0, "network_error", "Could not reach Quoted. Check your connection and try again.");
}

async function refreshOnce() {
  for (let attempt = 0; ; attempt += 1) {
    let res;
    try {
      res = await fetch(REFRESH_PATH, { method: "POST", credentials: "same-origin", headers: CSRF_HEADER });
    } catch {
      throw networkError(); // keep the session: the cookie may still be fine
    }
    if (res.ok) {
      acceptTokenPair(await res.json());
      return accessToken;
    }
    const err = await readError(res);
    if (err.status === 401 && err.code === "refresh_superseded" && attempt < SUPERSEDED_RETRIES) {
      await sleep(250 * (attempt + 1)); // another tab won the race; its new cookie is ours too
      continue;
    }
    if ((err.status === 429 || err.status === 503) && attempt < 2) {
      await sleep(Math.min(5, Number(err.retryAfter) || 1) * 1000);
      continue;
    }
    if (err.status === 401 || err.status === 403) {
      forget();
      throw new SessionLost(err.status, err.code, err.detail);
    }
    throw err;
  }
}

/** Refresh the access token; concurrent callers share one request. */
export function refresh() {
  if (!refreshPromise) {
    refreshPromise = refreshOnce().finally(() => { refreshPromise = null; });
  }
  return refreshPromise;
}

function needsRefresh() {
  return accessToken !== null && expiresAt - Date.now() < lifetimeMs * REFRESH_WHEN_LEFT;
}

function sessionLost(err) {
  forget();
  for (const fn of listeners.lost) fn(err);
  return err;
}

/**
 * Call the API. `body` is sent as JSON (or as-is for FormData).
 * Resolves with the parsed JSON (or null for 204/202 without body); rejects with ApiError.
 */
export async function api(method, path, { body, auth = true, signal } = {}) {
  if (auth && refreshPromise) await refreshPromise.catch(() => {});
  if (auth && needsRefresh()) {
    try { await refresh(); } catch (err) { if (err instanceof SessionLost) throw sessionLost(err); }
  }
  let res = await send(method, path, body, auth, signal);
  if (auth && res.status === 401) {
    const err = await readError(res);
    if (["token_expired", "token_invalid", "not_authenticated"].includes(err.code)) {
      const used = res.usedToken;
      try {
        // Someone may already have refreshed while this request was out.
        if (accessToken === null || accessToken === used) await refresh();
      } catch (refreshErr) {
        if (refreshErr instanceof SessionLost) throw sessionLost(refreshErr);
        throw refreshErr;
      }
      res = await send(method, path, body, auth, signal);
      if (res.status === 401) throw sessionLost(await readError(res));
    } else {
      throw err;
    }
  }
  if (!res.ok) throw await readError(res);
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

async function send(method, path, body, auth, signal) {
  const headers = {};
  const token = accessToken;
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, credentials: "same-origin", signal });
  } catch (err) {
    if (err?.name === "AbortError") throw err;
    throw networkError();
  }
  res.usedToken = token;
  return res;
}

// -- sessions -----------------------------------------------------------------

export async function login(email, password) {
  acceptTokenPair(await api("POST", "/api/auth/login", { body: { email, password }, auth: false }));
  return contractor;
}

export async function register(fields) {
  acceptTokenPair(await api("POST", "/api/auth/register", { body: fields, auth: false }));
  return contractor;
}

/** On boot: restore the session from the refresh cookie. Resolves true/false. */
export async function restoreSession() {
  try {
    await refresh();
    return true;
  } catch (err) {
    if (err instanceof SessionLost) return false;
    throw err;
  }
}

export async function logout() {
  try {
    await fetch("/api/auth/logout", { method: "POST", credentials: "same-origin", headers: CSRF_HEADER });
  } finally {
    forget();
  }
}
