/* Gallery: the personalised feed, trending, new and top lists, and title/tag search. */
(function () {
  "use strict";
  const api = window.ffApi;
  const grid = document.getElementById("ff-grid");
  const status = document.getElementById("ff-status");
  const more = document.getElementById("ff-more");
  const form = document.getElementById("ff-search");
  const PAGE = 24;
  let state = { feed: "feed", offset: 0, search: null };

  function path() {
    const page = { limit: PAGE, offset: state.offset };
    if (state.search) return "/shaders" + api.query(Object.assign({ sort: state.search.sort }, state.search, page));
    if (state.feed === "feed") return "/feed" + api.query(Object.assign({ session_id: api.sessionId() }, page));
    if (state.feed === "top") return "/shaders" + api.query(Object.assign({ sort: "top" }, page));
    return "/feed/" + state.feed + api.query(page);
  }

  function card(shader) {
    const link = api.el("a", { href: "/shaders/" + shader.id + "/", class: "ff-card" });
    if (shader.preview_url || shader.thumbnail_url) {
      const img = api.el("img", { src: shader.thumbnail_url || shader.preview_url, alt: shader.title, loading: "lazy" });
      if (shader.preview_url) {
        link.addEventListener("mouseenter", function () { img.src = shader.preview_url; });
        link.addEventListener("mouseleave", function () { img.src = shader.thumbnail_url || shader.preview_url; });
      }
      link.appendChild(img);
    } else {
      link.appendChild(api.el("div", { class: "ff-placeholder", text: shader.render_status === "pending" ? "rendering…" : "no preview" }));
    }
    link.appendChild(api.el("div", { class: "ff-card-body" }, [
      api.el("strong", { text: shader.title }),
      api.el("span", { class: "ff-muted", text: "by " + shader.author_username + " · ▲" + shader.upvotes + " · " + shader.view_count + " views" }),
      api.el("span", { class: "ff-tags", text: (shader.tags || []).map(function (t) { return "#" + t; }).join(" ") }),
    ]));
    return link;
  }

  async function load(append) {
    status.textContent = "Loading…";
    try {
      const shaders = await api.get(path());
      if (!append) grid.textContent = "";
      shaders.forEach(function (shader) { grid.appendChild(card(shader)); });
      status.textContent = grid.children.length ? "" : "Nothing here yet.";
      more.hidden = shaders.length < PAGE;
    } catch (error) {
      status.textContent = error.message;
    }
  }

  document.querySelectorAll("[data-feed]").forEach(function (button) {
    button.addEventListener("click", function () {
      document.querySelectorAll("[data-feed]").forEach(function (b) { b.classList.remove("active"); });
      button.classList.add("active");
      state = { feed: button.dataset.feed, offset: 0, search: null };
      load(false);
    });
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const data = new FormData(form);
    const active = document.querySelector("[data-feed].active");
    const sort = active && ["trending", "new", "top"].indexOf(active.dataset.feed) >= 0 ? active.dataset.feed : "trending";
    state = { feed: state.feed, offset: 0, search: { q: data.get("q"), tags: data.get("tags"), shader_type: data.get("shader_type"), sort: sort } };
    load(false);
  });

  more.addEventListener("click", function () { state.offset += PAGE; load(true); });
  load(false);
})();
