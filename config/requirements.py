"""Print the pinned requirements of pyproject.toml (core plus the named extras), one per line.

Used by the Makefile so that pyproject.toml stays the one place where versions are pinned.
"""

import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
lines = list(project["dependencies"])
for extra in sys.argv[1:]:
    lines += project["optional-dependencies"][extra]
print("\n".join(dict.fromkeys(lines)))  # the same pin may appear in two extras
