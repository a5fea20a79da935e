/* Shader page: live WebGL preview, votes, fork, version history (view / restore), similar shaders,
 * and the engagement signals the feed learns from (dwell time, replays). */
(function () {
  "use strict";
  const api = window.ffApi;
  const root = document.getElementById("ff-shader");
  const id = root.dataset.shaderId;
  let isOwner = false;
  let signedIn = false;
  const player = new window.ShaderPlayer(document.getElementById("ff-canvas"));
  const message = document.getElementById("ff-message");
  const glError = document.getElementById("ff-gl-error");
  const playButton = document.getElementById("ff-play");
  const opened = performance.now();
  let shader = null;

  function say(text) { message.textContent = text; }

  function showCode(code, label) {
    document.getElementById("ff-code").textContent = code;
    document.getElementById("ff-code-version").textContent = label;
    const result = player.load(code);
    glError.hidden = result.ok;
    if (!result.ok) glError.textContent = result.errors.map(function (e) { return (e.line ? "line " + e.line + ": " : "") + e.message; }).join("\n");
    player.play();
    playButton.textContent = "Pause";
  }

  function showScore(data) {
    document.getElementById("ff-score").textContent = data.upvotes + " / " + data.downvotes;
  }

  function render(data) {
    shader = data;
    document.title = data.title + " · fractafrag on Canvasflow";
    document.getElementById("ff-title").textContent = data.title;
    document.getElementById("ff-author").textContent = data.author_username;
    document.getElementById("ff-type").textContent = data.shader_type;
    document.getElementById("ff-status-badge").textContent = data.status;
    document.getElementById("ff-fork-of").hidden = !data.forked_from;
    if (data.forked_from) document.getElementById("ff-fork-link").href = "/shaders/" + data.forked_from + "/";
    document.getElementById("ff-description").textContent = data.description;
    document.getElementById("ff-tags").textContent = (data.tags || []).map(function (t) { return "#" + t; }).join(" ");
    document.getElementById("ff-views").textContent = data.view_count + " views";
    showScore(data);
    showCode(data.glsl_code, "(version " + data.current_version + ", current)");
  }

  async function loadVersions() {
    const list = document.getElementById("ff-versions");
    list.textContent = "";
    const versions = await api.get("/shaders/" + id + "/versions");
    versions.forEach(function (version) {
      const view = api.el("button", { type: "button", class: "ff-link", text: "v" + version.version_number });
      view.addEventListener("click", async function () {
        const full = await api.get("/shaders/" + id + "/versions/" + version.version_number);
        showCode(full.glsl_code, "(version " + full.version_number + ")");
      });
      const item = api.el("li", { value: String(version.version_number) }, [
        view,
        api.el("span", { text: " " + (version.change_note || version.title) + " · " + new Date(version.created_at).toLocaleString() }),
      ]);
      if (isOwner && shader && version.version_number !== shader.current_version) {
        const restore = api.el("button", { type: "button", class: "ff-link", text: "restore" });
        restore.addEventListener("click", async function () {
          try {
            render(await api.post("/shaders/" + id + "/versions/" + version.version_number + "/restore"));
            say("Restored version " + version.version_number + " as a new version.");
            loadVersions();
          } catch (error) { say(error.message); }
        });
        item.appendChild(document.createTextNode(" "));
        item.appendChild(restore);
      }
      list.appendChild(item);
    });
  }

  async function loadSimilar() {
    const list = document.getElementById("ff-similar");
    const similar = await api.get("/feed/similar/" + id + "?limit=6");
    list.textContent = "";
    similar.forEach(function (s) {
      list.appendChild(api.el("li", {}, [api.el("a", { href: "/shaders/" + s.id + "/", text: s.title })]));
    });
    if (!similar.length) list.appendChild(api.el("li", { class: "ff-muted", text: "None yet." }));
  }

  async function vote(value) {
    if (!signedIn) { window.location.href = root.dataset.loginUrl; return; }
    try {
      showScore(await api.post("/shaders/" + id + "/vote", { value: value }));
      say(value > 0 ? "Up-voted." : "Down-voted.");
    } catch (error) {
      if (error.status === 409) {  // same vote again: take it back
        showScore(await api.del("/shaders/" + id + "/vote"));
        say("Vote removed.");
      } else { say(error.message); }
    }
  }

  document.getElementById("ff-up").addEventListener("click", function () { vote(1); });
  document.getElementById("ff-down").addEventListener("click", function () { vote(-1); });
  playButton.addEventListener("click", function () {
    if (player.running) { player.pause(); playButton.textContent = "Play"; }
    else { player.play(); playButton.textContent = "Pause"; }
  });
  document.getElementById("ff-restart").addEventListener("click", function () {
    player.restart();
    api.post("/shaders/" + id + "/replay", { session_id: api.sessionId() }).catch(function () {});
  });
  const fork = document.getElementById("ff-fork");
  if (fork) {
    fork.addEventListener("click", async function () {
      if (!signedIn) { window.location.href = root.dataset.loginUrl; return; }
      try {
        const copy = await api.post("/shaders/" + id + "/fork");
        window.location.href = "/shaders/" + copy.id + "/edit/";
      } catch (error) { say(error.message); }
    });
  }
  player.onTime = function (t) { document.getElementById("ff-time").textContent = t.toFixed(2) + " s"; };

  let dwellSent = false;
  function reportDwell() {
    if (dwellSent) return;
    dwellSent = true;
    const secs = (performance.now() - opened) / 1000;
    api.post("/feed/dwell", { shader_id: id, dwell_secs: Math.round(secs * 10) / 10, session_id: api.sessionId() },
             { keepalive: true }).catch(function () {});
  }
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") reportDwell(); });
  window.addEventListener("pagehide", reportDwell);

  (async function () {
    try {
      const me = await api.me();
      const data = await api.get("/shaders/" + id);
      signedIn = !!me;
      isOwner = !!me && me.id === data.author_id;
      document.getElementById("ff-edit").hidden = !isOwner;
      render(data);
      await loadVersions();
      await loadSimilar();
    } catch (error) { say(error.message); }
  })();
})();
