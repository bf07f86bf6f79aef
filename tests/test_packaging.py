"""The wheel carries every module, the banner and the data files a fresh install needs."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from cmp.api.assets import sources

ROOT = Path(__file__).resolve().parents[1]


def test_every_python_package_is_listed() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for top in ("cmp", "pixel", "dashboards", "consentry") for p in (ROOT / top).rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_wheel_holds_banner_data_and_migrations(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("consentry-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    banner = [f"consentry_static/{p.name}" for p in sources(ROOT / "static" / "js")]
    for needed in (*banner, "cmp/data/demo.toml",
                   "cmp/data/starter.toml", "cmp/storage/migrations/sqlite/0001_ledger.sql",
                   "consentry/cli.py", "consentry/__main__.py",
                   "pixel/__init__.py"):
        assert needed in names, needed
    assert any(n.startswith("consentry/demo_static/") for n in names)
    # Apache-2.0, so that people may self-host it: the SPDX expression and the text itself.
    dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    metadata = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    assert "Proprietary" not in metadata
    assert f"{dist_info}/licenses/LICENSE" in names


def test_the_licence_is_apache_2() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert not any("Proprietary" in c for c in project.get("classifiers", []))
    text = (ROOT / "LICENSE").read_text("utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_console_script_names_the_cli() -> None:
    # The tests run the CLI as `python -m consentry`; this keeps the installed script honest.
    import importlib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, func = scripts["consentry"].partition(":")
    assert callable(getattr(importlib.import_module(module), func))
