"""The package as installed and as built: one version, py.typed and the licence shipped.

The version is written once, ``course_lib.__version__``; pyproject.toml reads it
(``dynamic = ["version"]``). An editable install records the version it was
installed with, so after changing ``__version__`` reinstall (``make venv``).
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import course_lib


def test_the_installed_version_is_course_lib_version():
    assert importlib.metadata.version("course_lib") == course_lib.__version__


@pytest.mark.slow
def test_the_wheel_ships_py_typed_the_licence_and_the_version(root: Path, tmp_path: Path):
    # Build from a copy so the build leaves no build/ or egg-info behind in the working tree.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(root / name, source / name)
    shutil.copytree(root / "course_lib", source / "course_lib", ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    # As a real build does: pip installs pyproject's build requirements (from the index, like make venv).
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels)]
    build = subprocess.run([*command, str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("course_lib-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        fields = Parser().parsestr(archive.read(metadata).decode("utf-8"))
    assert "course_lib/py.typed" in names
    assert any(n.endswith(".dist-info/LICENSE") or "/licenses/LICENSE" in n for n in names)
    assert fields["Version"] == course_lib.__version__
    assert wheel.name.startswith(f"course_lib-{course_lib.__version__}-")
