"""Installed font files by file name, for the generated OCR and watermark data.

Searched in Debian's font folders first, then in Python packages that ship font files (pinned in
pyproject's ``ai`` list; not registered with fontconfig, so they change nothing a browser renders).
The folders are read once per process.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

FONT_DIRS = ("/usr/share/fonts/truetype", "/usr/share/fonts/opentype")
FONT_PACKAGES = (
    ("matplotlib", "mpl-data/fonts/ttf"), ("font_source_sans_pro", "files"),
    ("font_source_serif_pro", "files"), ("font_manrope", "files"), ("font_hanken_grotesk", "files"),
    ("font_rhd", "files"), ("font_fjallaone", "files"), ("font_fredoka_one", "files"), ("font_lato", "files"),
    ("font_caladea", "files"),
)


def _font_roots() -> list[Path]:
    roots = [Path(root) for root in FONT_DIRS]
    for package, sub in FONT_PACKAGES:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.submodule_search_locations:
            roots.append(Path(list(spec.submodule_search_locations)[0]) / sub)
    return roots


@cache
def _installed_fonts() -> dict[str, str]:
    found: dict[str, str] = {}
    for base in _font_roots():
        if base.is_dir():
            for path in sorted(base.rglob("*")):
                if path.suffix.lower() in (".ttf", ".ttc", ".otf"):
                    found.setdefault(path.name, str(path))
    return found


def find_fonts(names: tuple[str, ...]) -> list[str]:
    """Paths of the named font files that are installed, in the order of ``names``."""
    found = _installed_fonts()
    return [found[n] for n in names if n in found]
