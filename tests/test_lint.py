"""The code stays ruff-clean and the one-way imports hold (mizzen -> {apiserver, controllers,
kubelet} -> apimachinery: components talk only through the API)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (make setup installs the dev extras)")
    return found


def test_ruff_clean() -> None:
    r = subprocess.run([_tool("ruff"), "check", "apimachinery", "apiserver", "controllers", "kubelet", "mizzen",
                        "tests", "e2e", "bench"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_import_contracts_hold() -> None:
    r = subprocess.run([_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout
