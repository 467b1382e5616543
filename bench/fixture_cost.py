"""What the `numbers_api` pytest fixture costs each test: its setup and teardown, as pytest itself
times them, over N tests that do nothing else.

    .venv/bin/python -m bench.fixture_cost --tests 500

A throwaway test file of N empty tests taking `numbers_api` is run by pytest in a subprocess,
with the plugin loaded as a user's pytest loads it (its `pytest11` entry point) and a hook that
keeps each test's setup and teardown durations. The first test is reported apart (its setup
starts the session's server), and so is the last (its teardown stops it). The others show the
per-test cost: a new account and key (setup), its numbers deleted (teardown). `--numbers K`
makes each test also add K numbers (in the test, not timed), to show what deleting them adds to
the teardown.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RECORDER = """
import json, os

DURATIONS = {}


def pytest_runtest_logreport(report):
    if report.when in ("setup", "teardown"):
        DURATIONS.setdefault(report.nodeid, {})[report.when] = report.duration


def pytest_sessionfinish(session):
    with open(os.environ["FIXTURE_COST_OUT"], "w") as out:
        json.dump(DURATIONS, out)
"""

TESTS = """
import pytest


@pytest.mark.parametrize("n", range({tests}))
def test_empty(numbers_api, n):
    assert numbers_api.base_url
    if {numbers}:
        numbers_api.add_numbers(
            {{"phone_number": f"+1720{{200 + i // 10_000:03d}}{{i % 10_000:04d}}"}}
            for i in range({numbers})
        )
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=200, help="how many tests (default 200)")
    parser.add_argument("--numbers", type=int, default=0, help="numbers each test adds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        directory = Path(workdir)
        (directory / "conftest.py").write_text(RECORDER)
        (directory / "test_cost.py").write_text(
            TESTS.format(tests=args.tests, numbers=args.numbers)
        )
        out = directory / "durations.json"
        subprocess.run(
            [
                *(sys.executable, "-m", "pytest", "-q"),
                *("-p", "no:cacheprovider", "--rootdir", workdir, "-c", "/dev/null"),
                str(directory / "test_cost.py"),
            ],
            check=True,
            cwd=workdir,
            env={**os.environ, "FIXTURE_COST_OUT": str(out)},
            stdout=subprocess.DEVNULL,
        )
        durations = list(json.loads(out.read_text()).values())
    # The last test's teardown also stops the server.
    first, rest, last = durations[0], durations[1:-1], durations[-1]
    unsorted = [(d["setup"] + d["teardown"]) * 1000 for d in rest]
    slowest = unsorted.index(max(unsorted)) + 2  # the first test is number 1
    costs = sorted(unsorted)
    print(f"first test (starts the server): {(first['setup'] + first['teardown']) * 1000:.0f} ms")
    print(f"last test (stops the server): {(last['setup'] + last['teardown']) * 1000:.0f} ms")
    print(
        f"each other test ({len(costs)}, {args.numbers} numbers added each): setup+teardown "
        f"mean {statistics.fmean(costs):.1f} ms, median {statistics.median(costs):.1f} ms, "
        f"p90 {costs[int(len(costs) * 0.9)]:.1f} ms, "
        f"max {costs[-1]:.1f} ms (test {slowest}); setup median "
        f"{statistics.median(d['setup'] * 1000 for d in rest):.1f} ms, teardown median "
        f"{statistics.median(d['teardown'] * 1000 for d in rest):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
