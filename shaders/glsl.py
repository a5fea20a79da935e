"""GLSL validation: Shadertoy-style ``mainImage`` code wrapped into a complete fragment shader.

The same wrapper (``PRELUDE`` + user code + ``EPILOGUE``) is used three times, so a shader that validates
here is the shader that runs everywhere:

* validation: Khronos' reference compiler, ``glslangValidator`` (Debian ``glslang-tools``), as GLSL ES 3.00;
* thumbnails and previews: Mesa through moderngl (shaders.render), which accepts ``#version 300 es``;
* the browser: WebGL2 (static/shaders/player.js gets the wrapper from the page, never a copy of it).

Diagnostics are reported against the user's own line numbers.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from config.errors import CanvasflowError, ValidationFailed

MAX_CODE_CHARS = 64 * 1024
VALIDATOR_TIMEOUT_S = 15

PRELUDE = """#version 300 es
precision highp float;
precision highp int;
uniform vec3 iResolution;
uniform float iTime;
uniform float iTimeDelta;
uniform float iFrameRate;
uniform int iFrame;
uniform float iChannelTime[4];
uniform vec3 iChannelResolution[4];
uniform vec4 iMouse;
uniform vec4 iDate;
uniform float iSampleRate;
uniform sampler2D iChannel0;
uniform sampler2D iChannel1;
uniform sampler2D iChannel2;
uniform sampler2D iChannel3;
out vec4 cf_FragColor;
"""

EPILOGUE = """
void main() {
    vec4 color = vec4(0.0, 0.0, 0.0, 1.0);
    mainImage(color, gl_FragCoord.xy);
    cf_FragColor = vec4(color.rgb, 1.0);
}
"""

# The vertex shader that covers the viewport with one triangle (render and browser alike).
VERTEX_SHADER = """#version 300 es
in vec2 cf_position;
void main() { gl_Position = vec4(cf_position, 0.0, 1.0); }
"""

PRELUDE_LINES = PRELUDE.count("\n")
_DIAGNOSTIC = re.compile(r"^(ERROR|WARNING):\s*\d+:(\d+):\s*(.*?)\s*$")
_UNNUMBERED = re.compile(r"^(ERROR|WARNING):\s*(.*?)\s*$")
_SUMMARY = re.compile(r"compilation errors?\.|No code generated|compilation terminated")
_VERSION_LINE = re.compile(r"^\s*#\s*version\b.*$", re.MULTILINE)
_INCLUDE_LINE = re.compile(r"^\s*#\s*include\b", re.MULTILINE)


@dataclass(frozen=True)
class Diagnostic:
    line: int | None
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ValidationResult:
    ok: bool
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "errors": [d.as_dict() for d in self.errors],
            "warnings": [d.as_dict() for d in self.warnings],
        }


def prepare_user_code(code: str) -> tuple[str, list[Diagnostic]]:
    """Normalise newlines and blank out a ``#version`` line (the wrapper owns it), keeping line numbers."""
    code = code.replace("\r\n", "\n").replace("\r", "\n")
    warnings: list[Diagnostic] = []
    for match in _VERSION_LINE.finditer(code):
        line = code.count("\n", 0, match.start()) + 1
        warnings.append(
            Diagnostic(line, "#version is set by the wrapper (GLSL ES 3.00); this line is ignored")
        )
    if warnings:
        code = _VERSION_LINE.sub("", code)
    return code, warnings


def wrap(code: str) -> str:
    """The complete fragment shader for Shadertoy-style user code."""
    code, _ = prepare_user_code(code)
    return f"{PRELUDE}{code}\n{EPILOGUE}"


def _map_line(wrapped_line: int, user_lines: int) -> int | None:
    line = wrapped_line - PRELUDE_LINES
    return line if 1 <= line <= user_lines else None


def _explain_wrapper_error(message: str) -> str:
    if "mainImage" in message:
        return (
            "mainImage(out vec4 fragColor, in vec2 fragCoord) is missing or has the wrong signature "
            f"({message})"
        )
    if "'main'" in message:
        return (
            "Define mainImage(out vec4 fragColor, in vec2 fragCoord), not main(): the wrapper provides main()"
        )
    return f"in the shader wrapper: {message}"


def parse_output(output: str, user_lines: int) -> tuple[list[Diagnostic], list[Diagnostic]]:
    errors: list[Diagnostic] = []
    warnings: list[Diagnostic] = []
    for raw in output.splitlines():
        match = _DIAGNOSTIC.match(raw.strip())
        if match:
            severity, wrapped_line, message = match.group(1), int(match.group(2)), match.group(3)
            if _SUMMARY.search(message) and message.startswith("''"):
                continue
            line = _map_line(wrapped_line, user_lines)
            if line is None:
                message = _explain_wrapper_error(message)
        else:
            match = _UNNUMBERED.match(raw.strip())
            if not match or _SUMMARY.search(match.group(2)):
                continue
            severity, line, message = match.group(1), None, match.group(2)
        target = errors if severity == "ERROR" else warnings
        diagnostic = Diagnostic(line, message)
        if diagnostic not in target:
            target.append(diagnostic)
    return errors, warnings


def validator_path() -> str:
    path = shutil.which("glslangValidator")
    if path is None:
        raise CanvasflowError(
            "GLSL validator unavailable (install glslang-tools)", code="VALIDATOR_UNAVAILABLE", status=503
        )
    return path


@lru_cache(maxsize=512)
def validate(code: str) -> ValidationResult:
    """Compile ``code`` (a ``mainImage`` shader) with glslangValidator; never raises for bad GLSL."""
    if not code or not code.strip():
        return ValidationResult(False, [Diagnostic(None, "GLSL code is empty")])
    if len(code) > MAX_CODE_CHARS:
        return ValidationResult(
            False, [Diagnostic(None, f"GLSL code is longer than {MAX_CODE_CHARS} characters")]
        )
    user_code, warnings = prepare_user_code(code)
    includes = [
        Diagnostic(user_code.count("\n", 0, m.start()) + 1, "#include is not supported (WebGL has none)")
        for m in _INCLUDE_LINE.finditer(user_code)
    ]
    if includes:  # never let the compiler go looking for files
        return ValidationResult(False, includes, warnings)
    source = f"{PRELUDE}{user_code}\n{EPILOGUE}"
    try:
        proc = subprocess.run(
            [validator_path(), "--stdin", "-S", "frag"],
            input=source,
            capture_output=True,
            text=True,
            # glslang echoes a stray byte of a multi-byte character back in its messages: never let that
            # undecodable byte turn a GLSL error (422) into a crash.
            encoding="utf-8",
            errors="replace",
            timeout=VALIDATOR_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return ValidationResult(False, [Diagnostic(None, "GLSL validation timed out")], warnings)
    errors, found_warnings = parse_output(proc.stdout + "\n" + proc.stderr, user_code.count("\n") + 1)
    warnings += found_warnings
    if proc.returncode != 0 and not errors:
        errors.append(Diagnostic(None, f"GLSL validation failed (validator exit status {proc.returncode})"))
    return ValidationResult(not errors, errors, warnings)


def require_valid(code: str) -> ValidationResult:
    """Validate, raising the seed's 422 (errors and warnings by line) on failure."""
    result = validate(code)
    if not result.ok:
        first = result.errors[0]
        where = f"line {first.line}: " if first.line else ""
        raise ValidationFailed(
            f"GLSL validation failed: {where}{first.message}", code="GLSL_INVALID", details=result.as_dict()
        )
    return result
