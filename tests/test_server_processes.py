"""The servers tests start end whole: `numbers-api serve --workers 2` is uvicorn's supervisor, its
workers (multiprocessing's spawned children, with its resource tracker) and their index builders.
Ending the supervisor alone (SIGKILL) left the others running, orphaned, after every run of the
suite; `numbers_api.testing.start_server` runs a server in a process group of its own, and
`stop_server` and `kill_server` end all of the group."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from numbers_api.store.number_indexes import SMALLEST_INDEXED
from numbers_api.testing import Servers, kill_server, stop_server
from tests.conftest import start_server
from tests.support.databases import ON_POSTGRESQL
from tests.support.factories import Inventory, number_record

pytestmark = [
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc"),
    # The same processes whatever the engine: the PostgreSQL run would only repeat them.
    pytest.mark.skipif(ON_POSTGRESQL, reason="once, on the SQLite run"),
]


def alive_in_group(group: int) -> dict[int, str]:
    """The processes of process group `group` that have not ended (zombies have): their command
    lines, by process id."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
            state, _, pgrp = stat.read_text().rpartition(")")[2].split()[:3]
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):  # ended meanwhile
            continue
        if int(pgrp) == group and state not in "ZX":
            found[int(stat.parent.name)] = command
    return found


def until(ready: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.05)


def served_whole(inventory: Inventory, database_url: str) -> tuple[subprocess.Popen[bytes], int]:
    """A server with two workers, one of which has started its index builder: the process and
    its group, every process of it running."""
    key = inventory.account("big")  # indexed: an index builder is started for it
    inventory.load("big", [number_record() for _ in range(SMALLEST_INDEXED)])
    process, base_url = start_server(database_url, None, "--workers", "2")
    group = os.getpgid(process.pid)
    answer = httpx.get(
        f"{base_url}/v2/phone_numbers",
        params={"filter[tag]": "none"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text

    def whole() -> bool:
        commands = list(alive_in_group(group).values())
        workers = [c for c in commands if "multiprocessing.spawn" in c]
        builders = [c for c in commands if "numbers_api.store.index_builder" in c]
        return len(workers) == 2 and len(builders) >= 1

    until(whole)
    return process, group


def test_stopping_a_server_ends_its_workers_and_their_index_builders(
    database_url: str, inventory: Inventory
) -> None:
    process, group = served_whole(inventory, database_url)
    try:
        assert group == process.pid != os.getpgid(0)  # a group of its own, not the tests'
    finally:
        stop_server(process)
    assert process.returncode != -signal.SIGKILL  # its own shutdown ended it, not the timeout
    until(lambda: not alive_in_group(group), seconds=5)


def test_killing_a_server_kills_every_process_of_it(
    database_url: str, inventory: Inventory
) -> None:
    process, group = served_whole(inventory, database_url)
    kill_server(process)
    until(lambda: not alive_in_group(group), seconds=5)  # SIGKILL takes effect at once, nearly


def test_a_server_whose_supervisor_died_alone_is_still_stopped_whole(
    database_url: str, inventory: Inventory
) -> None:
    process, group = served_whole(inventory, database_url)
    os.kill(process.pid, signal.SIGKILL)  # as `process.kill()` did, leaving the workers running
    time.sleep(0.5)
    assert len(alive_in_group(group)) >= 3  # the workers (and a builder) outlive it
    stop_server(process)
    until(lambda: not alive_in_group(group), seconds=5)


def test_the_plugins_servers_end_whole(database_url: str) -> None:
    servers = Servers(database_url)
    servers.base_url()
    servers.base_url(frozenset({"slow_jobs"}))
    groups = [os.getpgid(process.pid) for process, _ in servers._running.values()]
    assert len(set(groups)) == 2
    assert os.getpgid(0) not in groups
    servers.close()
    until(lambda: not any(alive_in_group(group) for group in groups), seconds=5)
