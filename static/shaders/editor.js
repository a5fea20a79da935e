/* Editor: live preview while typing (WebGL2), save through the API, and glslangValidator's 422
 * diagnostics shown inline next to the lines they name. */
(function () {
  "use strict";
  const api = window.ffApi;
  const form = document.getElementById("ff-editor");
  const source = document.getElementById("ff-source");
  const gutter = document.getElementById("ff-gutter");
  const diagnostics = document.getElementById("ff-diagnostics");
  const message = document.getElementById("ff-message");
  const player = new window.ShaderPlayer(document.getElementById("ff-canvas"));
  let shaderId = form.dataset.shaderId || "";
  let marked = {};

  const STARTER = [
    "void mainImage(out vec4 fragColor, in vec2 fragCoord) {",
    "    vec2 uv = fragCoord / iResolution.xy;",
    "    vec3 col = 0.5 + 0.5 * cos(iTime + uv.xyx + vec3(0.0, 2.0, 4.0));",
    "    fragColor = vec4(col, 1.0);",
    "}",
    "",
  ].join("\n");

  function initial(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  if (initial("ff-initial-type")) form.elements.shader_type.value = initial("ff-initial-type");
  form.elements.status.value = initial("ff-initial-status") || "draft";

  /* A token sign-in is invisible to the server: check it here, and load the shader through the API. */
  async function start() {
    const me = await api.me();
    if (!me) { window.location.href = form.dataset.loginUrl; return; }
    if (shaderId && form.dataset.serverLoaded !== "1") {
      try {
        const shader = await api.get("/shaders/" + shaderId);
        if (shader.author_id !== me.id) {
          message.textContent = "This shader belongs to " + shader.author_username + ": fork it to edit a copy.";
          form.querySelector("button[type=submit]").disabled = true;
        }
        source.value = shader.glsl_code;
        form.elements.title.value = shader.title;
        form.elements.description.value = shader.description;
        form.elements.tags.value = (shader.tags || []).join(", ");
        form.elements.shader_type.value = shader.shader_type;
        form.elements.status.value = shader.status;
      } catch (error) {
        message.textContent = error.message;
        form.querySelector("button[type=submit]").disabled = true;
        return;
      }
    }
    if (!source.value.trim()) source.value = STARTER;
    drawGutter();
    preview();
  }

  function drawGutter() {
    const lines = source.value.split("\n").length;
    let text = "";
    for (let i = 1; i <= lines; i++) text += (marked[i] ? (marked[i] === "error" ? "✖ " : "▲ ") : "  ") + i + "\n";
    gutter.textContent = text;
    gutter.scrollTop = source.scrollTop;
  }

  /* Diagnostics from both compilers: WebGL while typing, glslangValidator (the server's 422) on save.
   * The server's list goes stale as soon as the code changes. */
  const found = { glslang: [], WebGL: [] };

  function show(origin, list) {
    found[origin] = list;
    marked = {};
    diagnostics.textContent = "";
    const seen = {};
    ["glslang", "WebGL"].forEach(function (source) {
      found[source].forEach(function (d) {
        const severity = d.severity || "error";
        const key = severity + ":" + d.line + ":" + d.message;
        if (seen[key]) return;
        seen[key] = true;
        if (d.line && marked[d.line] !== "error") marked[d.line] = severity;
        const item = api.el("li", { class: "ff-" + severity }, [
          api.el("button", { type: "button", class: "ff-link", text: d.line ? "line " + d.line : "shader" }),
          api.el("span", { text: " " + d.message + " (" + source + ")" }),
        ]);
        item.firstChild.addEventListener("click", function () { jumpTo(d.line); });
        diagnostics.appendChild(item);
      });
    });
    drawGutter();
  }

  function jumpTo(line) {
    if (!line) return;
    const lines = source.value.split("\n");
    let start = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
    source.focus();
    source.setSelectionRange(start, start + (lines[line - 1] || "").length);
  }

  let timer = null;
  function preview() {
    const result = player.load(source.value);
    show("WebGL", result.errors);
    if (result.ok) player.play();
  }
  source.addEventListener("input", function () {
    found.glslang = [];
    drawGutter();
    clearTimeout(timer);
    timer = setTimeout(preview, 400);
  });
  source.addEventListener("scroll", function () { gutter.scrollTop = source.scrollTop; });
  source.addEventListener("keydown", function (event) {
    if (event.key === "Tab") {
      event.preventDefault();
      const s = source.selectionStart;
      source.setRangeText("    ", s, source.selectionEnd, "end");
      source.dispatchEvent(new Event("input"));
    }
  });

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const data = new FormData(form);
    const body = {
      title: data.get("title"),
      glsl_code: source.value,
      description: data.get("description"),
      tags: String(data.get("tags") || "").split(",").map(function (t) { return t.trim(); }).filter(Boolean),
      shader_type: data.get("shader_type"),
      status: data.get("status"),
    };
    if (data.get("change_note")) body.change_note = data.get("change_note");
    message.textContent = "Saving…";
    try {
      const saved = shaderId ? await api.put("/shaders/" + shaderId, body) : await api.post("/shaders", body);
      show("glslang", (saved.warnings || []).map(function (w) { return Object.assign({ severity: "warning" }, w); }));
      message.textContent = "Saved version " + saved.current_version + (saved.status === "published" ? " — rendering thumbnail." : ".");
      if (!shaderId) {
        shaderId = saved.id;
        window.history.replaceState(null, "", "/shaders/" + saved.id + "/edit/");
      }
      form.elements.change_note.value = "";
    } catch (error) {
      message.textContent = error.message;
      if (error.status === 422) {
        const errors = (error.body.errors || []).map(function (e) { return Object.assign({ severity: "error" }, e); });
        const warnings = (error.body.warnings || []).map(function (w) { return Object.assign({ severity: "warning" }, w); });
        show("glslang", errors.concat(warnings));
        if (errors.length && errors[0].line) jumpTo(errors[0].line);
      }
    }
  });

  start();
})();
