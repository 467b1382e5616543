"""The official `telnyx` Node SDK (7.24.0, pinned in tests/node/package-lock.json), used as a
black box against a real `numbers-api serve`: `node --test` runs the suite in tests/node, whose
files start their own servers on temporary SQLite databases with this interpreter.

It runs once, on the SQLite run of the suite: the servers it starts are SQLite's whatever the
engine, so the PostgreSQL run would only repeat it. Without `npm ci --prefix tests/node` (which
`scripts/test` runs) it is skipped, unless NUMBERS_API_REQUIRE_NODE is set, as `scripts/test` sets
it: there a missing Node suite is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.support.databases import ON_POSTGRESQL

NODE_SUITE = Path(__file__).resolve().parents[1] / "node"


def require_the_node_sdk() -> None:
    """Skip without Node or the SDK installed; fail instead under NUMBERS_API_REQUIRE_NODE."""
    if (NODE_SUITE / "node_modules" / "telnyx").is_dir() and shutil.which("node"):
        return
    message = "the Node SDK is not installed: npm ci --prefix tests/node"
    if os.environ.get("NUMBERS_API_REQUIRE_NODE"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.mark.skipif(ON_POSTGRESQL, reason="the Node suite runs once, on the SQLite run")
@pytest.mark.parametrize("name", ["list", "resources", "errors", "ordering"])
def test_the_node_sdk_suite_passes(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`node --test tests/node/NAME.test.mjs`: its tests by name go to the terminal, so that
    every run's log lists what the Node SDK was shown to do."""
    require_the_node_sdk()
    result = subprocess.run(
        ["node", "--test", "--test-reporter=spec", f"{name}.test.mjs"],
        cwd=NODE_SUITE,
        env={**os.environ, "NUMBERS_API_PYTHON": sys.executable},
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    with capsys.disabled():
        print(f"\n-- node --test {name}.test.mjs (telnyx 7.24.0)\n{output}")
    assert result.returncode == 0, output


@pytest.mark.skipif(ON_POSTGRESQL, reason="the Node suite runs once, on the SQLite run")
def test_the_node_snippet_of_the_testing_page_runs(tmp_path: Path) -> None:
    """docs/testing-with-numbers-api.md, "Node (node --test)": its snippet, run as a user would,
    with `numbers-api` on the PATH (this interpreter's) and the pinned SDK."""
    require_the_node_sdk()
    page = (NODE_SUITE.parents[1] / "docs" / "testing-with-numbers-api.md").read_text()
    section = page.split("## Node (node --test)", 1)[1]
    snippet = section.split("```js\n", 1)[1].split("```", 1)[0]
    (tmp_path / "node_modules").symlink_to(NODE_SUITE / "node_modules")
    (tmp_path / "snippet.test.mjs").write_text(snippet)
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PORT": str(free_port()),
    }
    result = subprocess.run(
        ["node", "--test", "snippet.test.mjs"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
