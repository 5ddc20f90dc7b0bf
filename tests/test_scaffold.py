"""`ixp init`: the scaffolded project's own tests pass, and `ixp serve` serves it with its plugin, run
exactly as its README says (from the project directory, no PYTHONPATH)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from ixp.cli import SCAFFOLD, main
from tests._servers import free_port, running

pytestmark = pytest.mark.granian

IXP = Path(sys.executable).parent / "ixp"  # the console script, as a user runs it


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without PYTHONPATH (nothing from this repository) or registry settings."""
    drop = {"PYTHONPATH", "IXP_INTENTS", "IXP_COMPONENTS", "IXP_THEME", "IXP_PLUGINS"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("scaffold") / "proj"
    assert IXP.exists(), f"the ixp console script is not installed next to {sys.executable}"
    result = subprocess.run(
        [str(IXP), "init", str(directory)], capture_output=True, text=True, timeout=60, env=clean_env()
    )
    assert result.returncode == 0, result.stderr
    assert "python -m pytest" in result.stdout
    yield directory


def test_init_writes_the_project(project: Path) -> None:
    assert sorted(p.name for p in project.iterdir()) == sorted(SCAFFOLD.values())
    readme = (project / "README.md").read_text()
    assert readme.startswith("# proj\n")
    serve = "ixp serve --intents intents.json --components components.json --plugin plugin:WeatherPlugin"
    assert serve in readme
    assert "python -m pytest" in readme
    result = subprocess.run(
        [str(IXP), "validate", "--intents", "intents.json", "--components", "components.json", "--strict"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("ok: 1 intent, 1 component")


def test_init_refuses_a_non_empty_directory(project: Path) -> None:
    before = {p.name: p.read_bytes() for p in project.iterdir()}
    result = subprocess.run(
        [str(IXP), "init", str(project)], capture_output=True, text=True, timeout=60, env=clean_env()
    )
    assert result.returncode == 2
    assert "not empty" in result.stderr
    assert {p.name: p.read_bytes() for p in project.iterdir()} == before


def test_init_accepts_an_empty_directory_and_refuses_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["init", str(tmp_path / "empty")]) == 0
    assert (tmp_path / "empty" / "plugin.py").is_file()
    (tmp_path / "file").write_text("")
    assert main(["init", str(tmp_path / "file")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_the_project_tests_pass(project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
        env=clean_env(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout, result.stdout


def test_serve_renders_with_the_plugin(project: Path, tmp_path: Path) -> None:
    port = free_port()
    command = [
        str(IXP), "serve", "--intents", "intents.json", "--components", "components.json",
        "--plugin", "plugin:WeatherPlugin", "--port", str(port),
    ]  # fmt: skip
    env = clean_env(IXP_SQLITE_PATH=str(tmp_path / "ixp.db"))
    # `running` starts from this process's directory: run the command from the project's.
    with running(["/bin/sh", "-c", 'cd "$0" && exec "$@"', str(project), *command], port, env=env):
        body = {"intent": {"name": "weather_forecast", "parameters": {"city": "Lisbon", "days": 2}}}
        response = httpx.post(f"http://127.0.0.1:{port}/ixp/render", json=body, timeout=10)
        health = httpx.get(f"http://127.0.0.1:{port}/ixp/health", timeout=10).json()
    assert response.status_code == 200, response.text
    props = response.json()["record"]["props"]
    assert props["city"] == "Lisbon"
    assert props["units"] == "celsius"
    assert props["forecast"] == project_plugin(project).forecast("Lisbon", 2)
    assert health["checks"]["weather"]["status"] == "pass"


def project_plugin(project: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("scaffolded_plugin", project / "plugin.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
