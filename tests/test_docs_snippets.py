"""Every snippet of docs/testing-with-numbers-api.md, run as a user runs it, so the page cannot
rot: the Python blocks as test files of a pytest run of their own, and the CI workflow's steps
in order (all but the install, which is this checkout)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import free_port

PAGE = Path(__file__).parent.parent / "docs" / "testing-with-numbers-api.md"


def blocks(language: str) -> list[str]:
    """The page's fenced blocks of that language, before its section for Node (whose own test
    runs that section's snippets)."""
    page = PAGE.read_text().split("\n## Node", 1)[0]
    return re.findall(rf"^```{language}\n(.*?)^```$", page, re.DOTALL | re.MULTILINE)


def user_environment(directory: Path) -> dict[str, str]:
    """This process's environment, with the plugin named if this checkout's install predates its
    `pytest11` entry point (an installed numbers-api loads it by itself)."""
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    if not any(e.value == "numbers_api.testing" for e in entry_points(group="pytest11")):
        environment["PYTEST_ADDOPTS"] = "-p numbers_api.testing"
    environment["RUNNER_TEMP"] = str(directory)
    return environment


def write_tests(directory: Path) -> int:
    """Each Python block as a test file of `directory/tests`; how many."""
    tests = directory / "tests"
    tests.mkdir()
    snippets = blocks("python")
    for i, snippet in enumerate(snippets):
        (tests / f"test_snippet_{i}.py").write_text(snippet)
    return len(snippets)


def run(command: list[str], directory: Path, environment: dict[str, str]) -> str:
    """Its standard output, once it has succeeded."""
    result = subprocess.run(
        command,
        cwd=directory,
        env=environment,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"
    return result.stdout


def test_the_python_snippets_pass(tmp_path: Path) -> None:
    assert write_tests(tmp_path) == 2
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # the user's project, not this one
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]
    output = run(pytest, tmp_path, user_environment(tmp_path))
    assert "6 passed" in output


def test_the_ci_workflow_starts_the_server_and_runs_the_tests(tmp_path: Path) -> None:
    (workflow,) = blocks("yaml")
    job: dict[str, Any] = yaml.safe_load(workflow)["jobs"]["test"]
    write_tests(tmp_path)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    environment = user_environment(tmp_path)
    for name, value in job["env"].items():
        environment[name] = str(value).replace("${{ runner.temp }}", str(tmp_path))
    environment["API_PORT"] = str(free_port())  # not 8000: the machine is shared
    steps = [step["run"] for step in job["steps"] if "run" in step]
    assert steps[0].startswith("pip install numbers-api")  # this checkout is the install
    try:
        for step in steps[1:]:
            run(["bash", "-e", "-c", step], tmp_path, environment)
            if "curl" in step:
                key = (tmp_path / "numbers-api.key").read_text().strip()
                assert key.startswith("KEY")
                url = f"http://127.0.0.1:{environment['API_PORT']}/v2/phone_numbers"
                authorization = f"Authorization: Bearer {key}"
                listed = run(["curl", "-s", "-H", authorization, url], tmp_path, environment)
                assert '"data":[]' in listed.replace(" ", "")
    finally:
        pid = tmp_path / "numbers-api.pid"
        if pid.exists():  # stopped by the last step, unless a step before it failed
            subprocess.run(["kill", pid.read_text().strip()], capture_output=True, check=False)
