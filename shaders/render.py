"""CPU rendering of shaders through Mesa (moderngl, EGL, llvmpipe): a thumbnail and a short animated preview.

A user's shader can loop forever or crash the GL driver, so rendering runs in a child process
(``python -m shaders.render``) that the worker kills after ``RENDER_TIMEOUT_S``. The child imports
neither Django nor the project's settings: it reads a JSON job on stdin and writes image files.

The fragment shader is ``shaders.glsl.wrap(code)`` — the same source glslangValidator accepted and the
browser runs — and Mesa compiles ``#version 300 es`` in its desktop core context.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

RENDER_TIMEOUT_S = int(os.environ.get("SHADER_RENDER_TIMEOUT_S", "60"))
THUMBNAIL_SIZE = (480, 270)
THUMBNAIL_TIME = 1.5
PREVIEW_SIZE = (240, 135)
PREVIEW_FPS = 12
PREVIEW_FRAMES = 24  # two seconds
NOISE_SIZE = 256
FIXED_DATE = (2026.0, 0.0, 1.0, 12 * 3600.0)  # iDate: renders are reproducible


class RenderError(Exception):
    pass


@dataclass
class RenderOutput:
    thumbnail: bytes  # PNG
    preview: bytes  # animated WebP
    preview_format: str


def _noise_texture(ctx):  # noqa: ANN001 - moderngl types are optional at import time
    import numpy as np

    data = np.random.RandomState(0).randint(0, 256, size=(NOISE_SIZE, NOISE_SIZE, 4), dtype=np.uint8)
    texture = ctx.texture((NOISE_SIZE, NOISE_SIZE), 4, data.tobytes())
    texture.build_mipmaps()
    texture.repeat_x = texture.repeat_y = True
    return texture


def _set(program, name: str, value) -> None:  # noqa: ANN001
    # The GLSL compiler drops uniforms the shader never reads; setting those is not an error.
    if name in program:
        program[name].value = value


def _render_frames(
    fragment_source: str, vertex_source: str, size: tuple[int, int], times: list[float], fps: float
) -> list:
    import moderngl
    import numpy as np
    from PIL import Image

    ctx = moderngl.create_standalone_context(backend="egl")
    try:
        try:
            program = ctx.program(vertex_shader=vertex_source, fragment_shader=fragment_source)
        except moderngl.Error as exc:
            raise RenderError(f"GL compile failed: {exc}") from exc
        triangle = ctx.buffer(np.array([-1, -1, 3, -1, -1, 3], dtype="f4").tobytes())
        vao = ctx.vertex_array(program, [(triangle, "2f", "cf_position")])
        fbo = ctx.simple_framebuffer(size, components=4)
        fbo.use()
        noise = _noise_texture(ctx)
        for unit in range(4):
            noise.use(location=unit)
            _set(program, f"iChannel{unit}", unit)
        if "iChannelResolution" in program:
            program["iChannelResolution"].write(
                np.array([[NOISE_SIZE, NOISE_SIZE, 1]] * 4, dtype="f4").tobytes()
            )
        _set(program, "iResolution", (float(size[0]), float(size[1]), 1.0))
        _set(program, "iMouse", (0.0, 0.0, 0.0, 0.0))
        _set(program, "iDate", FIXED_DATE)
        _set(program, "iSampleRate", 44100.0)
        _set(program, "iFrameRate", float(fps))
        _set(program, "iTimeDelta", 1.0 / fps)
        frames = []
        for index, t in enumerate(times):
            _set(program, "iTime", float(t))
            _set(program, "iFrame", index)
            fbo.clear(0.0, 0.0, 0.0, 1.0)
            vao.render(moderngl.TRIANGLES)
            raw = fbo.read(components=3, alignment=1)
            # GL's origin is bottom-left; images start at the top.
            frames.append(Image.frombytes("RGB", size, raw).transpose(Image.Transpose.FLIP_TOP_BOTTOM))
        return frames
    finally:
        ctx.release()


def render_in_process(fragment_source: str, vertex_source: str) -> RenderOutput:
    import io

    thumb = _render_frames(fragment_source, vertex_source, THUMBNAIL_SIZE, [THUMBNAIL_TIME], PREVIEW_FPS)[0]
    times = [i / PREVIEW_FPS for i in range(PREVIEW_FRAMES)]
    frames = _render_frames(fragment_source, vertex_source, PREVIEW_SIZE, times, PREVIEW_FPS)
    thumb_buf = io.BytesIO()
    thumb.save(thumb_buf, format="PNG", optimize=True)
    preview_buf = io.BytesIO()
    duration = int(round(1000 / PREVIEW_FPS))
    try:
        frames[0].save(
            preview_buf,
            format="WEBP",
            save_all=True,
            append_images=frames[1:],
            duration=duration,
            loop=0,
            quality=75,
            method=4,
        )
        fmt = "webp"
    except (OSError, ValueError):  # a Pillow built without animated WebP: fall back to GIF
        preview_buf = io.BytesIO()
        frames[0].save(
            preview_buf, format="GIF", save_all=True, append_images=frames[1:], duration=duration, loop=0
        )
        fmt = "gif"
    return RenderOutput(thumb_buf.getvalue(), preview_buf.getvalue(), fmt)


def render(fragment_source: str, vertex_source: str, timeout: int | None = None) -> RenderOutput:
    """Render in a child process; raises RenderError on a GL error, a crash or a timeout."""
    timeout = timeout or RENDER_TIMEOUT_S
    with tempfile.TemporaryDirectory(prefix="shader-render-") as tmp:
        job = {"fragment": fragment_source, "vertex": vertex_source, "out": tmp}
        env = dict(os.environ, EGL_PLATFORM=os.environ.get("EGL_PLATFORM", "surfaceless"))
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "shaders.render"],
                input=json.dumps(job),
                text=True,
                capture_output=True,
                timeout=timeout,
                env=env,
                cwd=str(Path(__file__).resolve().parent.parent),
            )
        except subprocess.TimeoutExpired as exc:
            raise RenderError(f"Render timed out after {timeout}s") from exc
        if proc.returncode != 0:
            message = (proc.stderr or proc.stdout).strip().splitlines()
            raise RenderError(message[-1] if message else f"renderer exited with status {proc.returncode}")
        meta = json.loads(proc.stdout.strip().splitlines()[-1])
        out = Path(tmp)
        return RenderOutput(
            (out / "thumbnail.png").read_bytes(),
            (out / f"preview.{meta['preview_format']}").read_bytes(),
            meta["preview_format"],
        )


def _main() -> int:
    job = json.loads(sys.stdin.read())
    try:
        result = render_in_process(job["fragment"], job["vertex"])
    except RenderError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    out = Path(job["out"])
    (out / "thumbnail.png").write_bytes(result.thumbnail)
    (out / f"preview.{result.preview_format}").write_bytes(result.preview)
    print(json.dumps({"preview_format": result.preview_format}))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
