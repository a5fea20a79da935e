"""GLSL validation by glslangValidator, reported against the user's own line numbers."""

from __future__ import annotations

import pytest

from shaders import glsl
from tests.shaders.conftest import BAD_CODE, GOOD_CODE


def test_valid_shadertoy_code_passes():
    result = glsl.validate(GOOD_CODE)
    assert result.ok and result.errors == []


def test_all_shadertoy_uniforms_are_declared():
    code = """void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    float t = iTime + iTimeDelta + iFrameRate + float(iFrame) + iChannelTime[0] + iSampleRate;
    vec4 m = iMouse + iDate + texture(iChannel0, fragCoord / iResolution.xy) + texture(iChannel1, vec2(0.0))
           + texture(iChannel2, vec2(0.0)) + texture(iChannel3, vec2(0.0));
    fragColor = vec4(m.rgb * t, 1.0) + vec4(iChannelResolution[1], 0.0);
}
"""
    assert glsl.validate(code).ok


def test_undeclared_identifier_is_reported_on_the_users_line():
    result = glsl.validate(BAD_CODE)
    assert not result.ok
    assert result.errors[0].line == 3
    assert "undefinedThing" in result.errors[0].message


def test_syntax_error_line_counts_from_the_users_first_line():
    code = "// a comment\n\nvoid mainImage(out vec4 c, in vec2 f) {\n    c = vec4(1.0)\n}\n"
    result = glsl.validate(code)
    assert not result.ok
    assert result.errors[0].line == 5  # the missing semicolon is noticed at the closing brace
    assert "syntax error" in result.errors[0].message


def test_missing_main_image_is_explained_without_a_line():
    result = glsl.validate("void notMain(out vec4 c, in vec2 f) { c = vec4(1.0); }\n")
    assert not result.ok
    assert result.errors[0].line is None
    assert "mainImage" in result.errors[0].message


def test_defining_main_instead_of_main_image_is_explained():
    result = glsl.validate("void main() {\n}\n")
    assert not result.ok and "mainImage" in result.errors[0].message


def test_version_directive_is_ignored_with_a_warning_and_lines_are_kept():
    code = "#version 330\nvoid mainImage(out vec4 c, in vec2 f) {\n    c = vec4(nope);\n}\n"
    result = glsl.validate(code)
    assert result.errors[0].line == 3
    assert result.warnings[0].line == 1 and "#version" in result.warnings[0].message


def test_compiler_warnings_are_reported_by_line():
    code = (
        "#extension GL_OES_made_up_thing : enable\nvoid mainImage(out vec4 c, in vec2 f) { c = vec4(1.0); }\n"
    )
    result = glsl.validate(code)
    assert result.ok
    assert result.warnings and result.warnings[0].line == 1


def test_include_directives_are_refused_before_compiling():
    code = (
        "#extension GL_GOOGLE_include_directive : require\n"
        '#include "/etc/passwd"\n'
        "void mainImage(out vec4 c, in vec2 f) {}\n"
    )
    result = glsl.validate(code)
    assert not result.ok and result.errors == [
        glsl.Diagnostic(2, "#include is not supported (WebGL has none)")
    ]


@pytest.mark.parametrize("code", ["", "   \n", "x" * (glsl.MAX_CODE_CHARS + 1)])
def test_empty_or_huge_code_fails_without_running_the_compiler(code):
    result = glsl.validate(code)
    assert not result.ok and result.errors[0].line is None


def test_parse_output_maps_wrapper_lines_back():
    output = f"ERROR: 0:{glsl.PRELUDE_LINES + 2}: 'x' : undeclared identifier\nERROR: 1 compilation errors."
    errors, warnings = glsl.parse_output(output, user_lines=4)
    assert errors == [glsl.Diagnostic(2, "'x' : undeclared identifier")] and warnings == []


def test_api_answers_422_with_errors_by_line(pro_client):
    resp = pro_client.post("/api/v1/shaders", {"title": "Broken", "glsl_code": BAD_CODE}, format="json")
    assert resp.status_code == 422
    body = resp.json()
    assert "line 3" in body["detail"]
    assert body["errors"][0]["line"] == 3 and "undefinedThing" in body["errors"][0]["message"]
    assert body["warnings"] == []


def test_api_reports_warnings_of_a_valid_shader(pro_client):
    code = "#version 300 es\n" + GOOD_CODE
    resp = pro_client.post(
        "/api/v1/shaders", {"title": "Warned", "glsl_code": code, "status": "draft"}, format="json"
    )
    assert resp.status_code == 201
    assert resp.json()["warnings"][0]["line"] == 1
