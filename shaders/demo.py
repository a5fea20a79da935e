"""Demo shaders for ``manage.py seed_demo``: a few published, system-curated shaders (idempotent by title)."""

from __future__ import annotations

from typing import Any

from shaders import services
from shaders.models import Shader, ShaderStatus

DEMO_SHADERS = [
    {
        "title": "Palette Waves",
        "description": "The classic cosine palette drifting across the screen.",
        "tags": ["gradient", "palette", "calm"],
        "shader_type": "2d",
        "glsl_code": """void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    vec2 uv = fragCoord / iResolution.xy;
    vec3 col = 0.5 + 0.5 * cos(iTime + uv.xyx + vec3(0.0, 2.0, 4.0));
    fragColor = vec4(col, 1.0);
}
""",
    },
    {
        "title": "Neon Pulse",
        "description": "Concentric neon rings pulsing outwards.",
        "tags": ["neon", "pulse", "glow"],
        "shader_type": "2d",
        "glsl_code": """void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    vec2 p = (2.0 * fragCoord - iResolution.xy) / iResolution.y;
    float r = length(p);
    float ring = abs(sin(12.0 * r - 3.0 * iTime)) ;
    float glow = 0.02 / max(ring * r, 0.002);
    vec3 col = glow * (0.5 + 0.5 * cos(iTime + r * 4.0 + vec3(0.0, 2.0, 4.0)));
    fragColor = vec4(col * smoothstep(1.6, 0.2, r), 1.0);
}
""",
    },
    {
        "title": "Raymarched Sphere",
        "description": "A lit sphere on a checkered floor, sphere-traced.",
        "tags": ["raymarching", "sdf", "3d"],
        "shader_type": "3d",
        "glsl_code": """float map(vec3 p) {
    float sphere = length(p - vec3(0.0, 1.0, 0.0)) - 1.0;
    float floorPlane = p.y;
    return min(sphere, floorPlane);
}

vec3 normalAt(vec3 p) {
    vec2 e = vec2(0.001, 0.0);
    return normalize(vec3(map(p + e.xyy) - map(p - e.xyy),
                          map(p + e.yxy) - map(p - e.yxy),
                          map(p + e.yyx) - map(p - e.yyx)));
}

void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    vec2 uv = (2.0 * fragCoord - iResolution.xy) / iResolution.y;
    float a = 0.3 * iTime;
    vec3 ro = vec3(4.0 * sin(a), 2.0, 4.0 * cos(a));
    vec3 forward = normalize(vec3(0.0, 1.0, 0.0) - ro);
    vec3 right = normalize(cross(forward, vec3(0.0, 1.0, 0.0)));
    vec3 up = cross(right, forward);
    vec3 rd = normalize(uv.x * right + uv.y * up + 1.5 * forward);
    float t = 0.0;
    for (int i = 0; i < 96; i++) {
        float d = map(ro + rd * t);
        if (d < 0.001 || t > 40.0) break;
        t += d;
    }
    vec3 col = vec3(0.55, 0.7, 0.9) - 0.3 * rd.y;
    if (t < 40.0) {
        vec3 p = ro + rd * t;
        vec3 n = normalAt(p);
        vec3 light = normalize(vec3(0.6, 0.8, 0.3));
        float diffuse = max(dot(n, light), 0.0);
        vec3 base = p.y < 0.01 ? vec3(0.3 + 0.4 * mod(floor(p.x) + floor(p.z), 2.0)) : vec3(0.9, 0.35, 0.2);
        col = base * (0.2 + 0.8 * diffuse);
    }
    fragColor = vec4(pow(col, vec3(0.4545)), 1.0);
}
""",
    },
    {
        "title": "Noise Clouds",
        "description": "Fractal noise clouds from the iChannel0 noise texture.",
        "tags": ["noise", "clouds", "texture"],
        "shader_type": "2d",
        "glsl_code": """float fbm(vec2 p) {
    float value = 0.0;
    float amplitude = 0.5;
    for (int i = 0; i < 5; i++) {
        value += amplitude * texture(iChannel0, p / 256.0).r;
        p *= 2.03;
        amplitude *= 0.5;
    }
    return value;
}

void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    vec2 uv = fragCoord / iResolution.y;
    float clouds = fbm(uv * 24.0 + vec2(2.0 * iTime, 0.0));
    vec3 sky = mix(vec3(0.2, 0.4, 0.8), vec3(0.7, 0.85, 1.0), uv.y);
    fragColor = vec4(mix(sky, vec3(1.0), smoothstep(0.45, 0.8, clouds)), 1.0);
}
""",
    },
]


def seed(user: Any, stdout: Any) -> None:
    created = 0
    for spec in DEMO_SHADERS:
        if Shader.objects.filter(owner=user, title=spec["title"]).exists():
            continue
        services.create_shader(
            user, status=ShaderStatus.PUBLISHED, is_system=True, change_note="Demo shader", **spec
        )
        created += 1
    stdout.write(f"Demo shaders: {created} created, {len(DEMO_SHADERS) - created} already present.")
