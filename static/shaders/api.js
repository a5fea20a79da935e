/* The pages talk to the same /api/v1 endpoints as every client: session cookie + CSRF header. */
(function () {
  "use strict";

  function cookie(name) {
    const match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.detail) || "Request failed (" + status + ")");
      this.status = status;
      this.body = body || {};
    }
  }

  /* Two ways to be signed in: the Django session (cookie + CSRF header), or the access token that the
   * site's /login/ page keeps in this tab (sessionStorage "canvasflow.access"), renewed with the
   * HttpOnly refresh cookie through /api/v1/auth/refresh. */
  const TOKEN_KEY = "canvasflow.access";
  let refreshing = null;

  function token() {
    try { return window.sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }

  /* The API sets "signed_in" beside the HttpOnly refresh cookie: without it there is nothing to refresh, and a
   * signed-out visitor's page makes no call that can only answer 401. */
  function mayRefresh() { return cookie("signed_in") !== ""; }

  function signedOut() {
    const slot = document.getElementById("ff-user");
    return !token() && !mayRefresh() && !(slot && slot.textContent.trim());
  }

  function refreshToken() {
    if (!mayRefresh()) return Promise.resolve("");
    if (!refreshing) {
      const stale = token();
      refreshing = fetch("/api/v1/auth/refresh", {
        method: "POST", credentials: "same-origin", body: "{}",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
      }).then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          const value = data && data.access_token;
          try {
            if (value) window.sessionStorage.setItem(TOKEN_KEY, value);
            else if (token() === stale) window.sessionStorage.removeItem(TOKEN_KEY);  // unless signed in meanwhile
          } catch (e) { /* storage unavailable: the session cookie may still work */ }
          return value || "";
        }).catch(function () { return ""; })
        .finally(function () { refreshing = null; });
    }
    return refreshing;
  }

  async function send(method, path, body, options, bearer) {
    const headers = { Accept: "application/json" };
    if (bearer) headers.Authorization = "Bearer " + bearer;
    else if (method !== "GET") headers["X-CSRFToken"] = cookie("csrftoken");
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch("/api/v1" + path, Object.assign({
      method: method,
      headers: headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    }, options || {}));
  }

  async function request(method, path, body, options) {
    const bearer = token();
    let response = await send(method, path, body, options, bearer);
    if (response.status === 401) {
      const renewed = await refreshToken();
      if (renewed) response = await send(method, path, body, options, renewed);
      else if (bearer) response = await send(method, path, body, options, "");  // the session cookie, if any
    }
    if (response.status === 204) return null;
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  function query(params) {
    const search = new URLSearchParams();
    Object.keys(params).forEach(function (key) {
      const value = params[key];
      if (value !== undefined && value !== null && value !== "") search.set(key, value);
    });
    const text = search.toString();
    return text ? "?" + text : "";
  }

  function sessionId() {
    let id = window.localStorage.getItem("ff-session-id");
    if (!id) {
      id = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Math.random()).slice(2);
      window.localStorage.setItem("ff-session-id", id);
    }
    return id;
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "class") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  let meCache = null;
  function me() {
    if (!meCache) {
      meCache = signedOut() ? Promise.resolve(null) : request("GET", "/me").catch(function () { return null; });
    }
    return meCache;
  }

  window.ffApi = {
    me: me,
    get: function (path) { return request("GET", path); },
    post: function (path, body, options) { return request("POST", path, body, options); },
    put: function (path, body) { return request("PUT", path, body); },
    del: function (path) { return request("DELETE", path); },
    query: query,
    sessionId: sessionId,
    el: el,
    ApiError: ApiError,
  };
})();
