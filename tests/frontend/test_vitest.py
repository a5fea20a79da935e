"""Runs the front-end unit tests (Vitest, tests/frontend/*.test.js) as part of the Python suite.

Skipped when the npm packages are not installed (``npm ci``), so a Python-only checkout still passes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VITEST = ROOT / "node_modules" / ".bin" / "vitest"


@pytest.mark.skipif(not VITEST.exists() or shutil.which("node") is None,
                    reason="npm packages not installed (npm ci)")
def test_vitest_suite_passes():
    env = {**os.environ, "CI": "true", "NO_COLOR": "1", "FORCE_COLOR": "0"}
    proc = subprocess.run([str(VITEST), "run", "--reporter=dot"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
