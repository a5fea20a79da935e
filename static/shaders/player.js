/* A plain WebGL2 player for Shadertoy-style shaders.
 * The wrapper (prelude, epilogue, vertex shader) comes from the page (shaders.glsl on the server),
 * so the browser runs exactly the source glslangValidator checked and Mesa rendered. */
(function () {
  "use strict";

  const wrapper = JSON.parse(document.getElementById("ff-glsl-wrapper").textContent);
  const PRELUDE_LINES = wrapper.prelude.split("\n").length - 1;
  const VERSION_LINE = /^[ \t]*#[ \t]*version\b.*$/gm;

  /* Compiler logs say "ERROR: 0:LINE: message"; map LINE back to the user's code. */
  function parseLog(log, userLines) {
    const diagnostics = [];
    (log || "").split("\n").forEach(function (raw) {
      const match = raw.match(/^(ERROR|WARNING):\s*\d+:(\d+):\s*(.*)$/);
      if (!match) return;
      let line = parseInt(match[2], 10) - PRELUDE_LINES;
      if (line < 1 || line > userLines) line = null;
      diagnostics.push({ line: line, message: match[3].trim(), severity: match[1].toLowerCase() });
    });
    return diagnostics;
  }

  function noiseTexture(gl) {
    const size = 256;
    const data = new Uint8Array(size * size * 4);
    let seed = 1;
    for (let i = 0; i < data.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      data[i] = seed >> 23;
    }
    const texture = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, size, size, 0, gl.RGBA, gl.UNSIGNED_BYTE, data);
    gl.generateMipmap(gl.TEXTURE_2D);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.REPEAT);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.REPEAT);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR_MIPMAP_LINEAR);
    return texture;
  }

  class ShaderPlayer {
    constructor(canvas) {
      this.canvas = canvas;
      this.gl = canvas.getContext("webgl2", { preserveDrawingBuffer: true });
      this.program = null;
      this.running = false;
      this.start = performance.now();
      this.pausedAt = 0;
      this.frame = 0;
      this.last = 0;
      this.mouse = [0, 0, 0, 0];
      this.onTime = null;
      if (!this.gl) return;
      const gl = this.gl;
      this.buffer = gl.createBuffer();
      gl.bindBuffer(gl.ARRAY_BUFFER, this.buffer);
      gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 3, -1, -1, 3]), gl.STATIC_DRAW);
      this.noise = noiseTexture(gl);
      this.trackMouse();
    }

    get supported() { return !!this.gl; }

    trackMouse() {
      const self = this;
      let down = false;
      function position(event) {
        const rect = self.canvas.getBoundingClientRect();
        return [(event.clientX - rect.left) * self.canvas.width / rect.width,
                (rect.bottom - event.clientY) * self.canvas.height / rect.height];
      }
      this.canvas.addEventListener("mousedown", function (event) {
        down = true;
        const p = position(event);
        self.mouse = [p[0], p[1], p[0], p[1]];
      });
      this.canvas.addEventListener("mousemove", function (event) {
        if (!down) return;
        const p = position(event);
        self.mouse[0] = p[0]; self.mouse[1] = p[1];
      });
      window.addEventListener("mouseup", function () {
        down = false;
        self.mouse[2] = -Math.abs(self.mouse[2]); self.mouse[3] = -Math.abs(self.mouse[3]);
      });
    }

    compile(type, source) {
      const gl = this.gl;
      const shader = gl.createShader(type);
      gl.shaderSource(shader, source);
      gl.compileShader(shader);
      if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
        const log = gl.getShaderInfoLog(shader);
        gl.deleteShader(shader);
        return { shader: null, log: log };
      }
      return { shader: shader, log: "" };
    }

    /* Compile user code; returns {ok, errors}. The previous program keeps running on failure. */
    load(code) {
      if (!this.gl) return { ok: false, errors: [{ line: null, message: "WebGL2 is not available" }] };
      const gl = this.gl;
      const user = code.replace(/\r\n?/g, "\n").replace(VERSION_LINE, "");
      const userLines = user.split("\n").length;
      const vertex = this.compile(gl.VERTEX_SHADER, wrapper.vertex);
      const fragment = this.compile(gl.FRAGMENT_SHADER, wrapper.prelude + user + "\n" + wrapper.epilogue);
      if (!fragment.shader || !vertex.shader) {
        const errors = parseLog(fragment.log || vertex.log, userLines);
        return { ok: false, errors: errors.length ? errors : [{ line: null, message: fragment.log || vertex.log }] };
      }
      const program = gl.createProgram();
      gl.attachShader(program, vertex.shader);
      gl.attachShader(program, fragment.shader);
      gl.bindAttribLocation(program, 0, "cf_position");
      gl.linkProgram(program);
      if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
        return { ok: false, errors: [{ line: null, message: gl.getProgramInfoLog(program) }] };
      }
      if (this.program) gl.deleteProgram(this.program);
      this.program = program;
      this.uniforms = {};
      ["iResolution", "iTime", "iTimeDelta", "iFrameRate", "iFrame", "iMouse", "iDate", "iSampleRate",
       "iChannelTime", "iChannelResolution", "iChannel0", "iChannel1", "iChannel2", "iChannel3"]
        .forEach(function (name) { this.uniforms[name] = gl.getUniformLocation(program, name); }, this);
      this.restart();
      if (!this.running) this.draw(this.pausedAt / 1000);
      return { ok: true, errors: [] };
    }

    draw(time) {
      const gl = this.gl;
      const u = this.uniforms;
      const canvas = this.canvas;
      const width = canvas.clientWidth ? Math.round(canvas.clientWidth * (window.devicePixelRatio || 1)) : canvas.width;
      if (width && canvas.width !== width) {
        canvas.height = Math.round(width * canvas.height / canvas.width);
        canvas.width = width;
      }
      gl.viewport(0, 0, canvas.width, canvas.height);
      gl.useProgram(this.program);
      gl.bindBuffer(gl.ARRAY_BUFFER, this.buffer);
      gl.enableVertexAttribArray(0);
      gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
      for (let unit = 0; unit < 4; unit++) {
        gl.activeTexture(gl.TEXTURE0 + unit);
        gl.bindTexture(gl.TEXTURE_2D, this.noise);
        if (u["iChannel" + unit]) gl.uniform1i(u["iChannel" + unit], unit);
      }
      const now = new Date();
      const delta = Math.max(0, time - this.last);
      this.last = time;
      if (u.iResolution) gl.uniform3f(u.iResolution, canvas.width, canvas.height, 1);
      if (u.iTime) gl.uniform1f(u.iTime, time);
      if (u.iTimeDelta) gl.uniform1f(u.iTimeDelta, delta);
      if (u.iFrameRate) gl.uniform1f(u.iFrameRate, delta > 0 ? 1 / delta : 60);
      if (u.iFrame) gl.uniform1i(u.iFrame, this.frame);
      if (u.iMouse) gl.uniform4fv(u.iMouse, this.mouse);
      if (u.iDate) gl.uniform4f(u.iDate, now.getFullYear(), now.getMonth(), now.getDate(),
                                now.getHours() * 3600 + now.getMinutes() * 60 + now.getSeconds());
      if (u.iSampleRate) gl.uniform1f(u.iSampleRate, 44100);
      if (u.iChannelResolution) gl.uniform3fv(u.iChannelResolution, [256, 256, 1, 256, 256, 1, 256, 256, 1, 256, 256, 1]);
      gl.drawArrays(gl.TRIANGLES, 0, 3);
      this.frame += 1;
      if (this.onTime) this.onTime(time);
    }

    play() {
      if (this.running || !this.program) return;
      this.running = true;
      this.start = performance.now() - this.pausedAt;
      const self = this;
      function tick() {
        if (!self.running) return;
        self.draw((performance.now() - self.start) / 1000);
        self.raf = requestAnimationFrame(tick);
      }
      this.raf = requestAnimationFrame(tick);
    }

    pause() {
      if (!this.running) return;
      this.running = false;
      cancelAnimationFrame(this.raf);
      this.pausedAt = performance.now() - this.start;
    }

    restart() {
      this.start = performance.now();
      this.pausedAt = 0;
      this.frame = 0;
      this.last = 0;
    }
  }

  window.ShaderPlayer = ShaderPlayer;
})();
