"""A PostgreSQL cluster of a test's own (initdb into a temporary folder, its own port), so that a
test may stop, restart or freeze its database and never touch the shared server.

The server runs as the `postgres` user (PostgreSQL refuses to run as root), started and stopped
with `pg_ctl`; `freeze` stops every one of its processes with SIGSTOP, as a server that keeps its
connections open but answers nothing (a hung host, a partition that drops packets)."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg

SERVER_USER = "postgres"


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def available() -> bool:
    """Whether this machine can make a cluster: PostgreSQL's programs and its user."""
    if _binaries() is None:
        return False
    try:
        subprocess.run(["id", SERVER_USER], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateCluster:
    def __init__(self, folder: Path) -> None:
        binaries = _binaries()
        assert binaries is not None, "PostgreSQL's programs are not installed"
        self.binaries = binaries
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self.url = f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/postgres"

    def _as_server_user(self, *command: str) -> None:
        as_user = [] if os.geteuid() != 0 else ["runuser", "-u", SERVER_USER, "--"]
        subprocess.run([*as_user, *command], check=True, capture_output=True, timeout=120)

    def initialise(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, SERVER_USER)
        self._as_server_user(
            str(self.binaries / "initdb"),
            "-D",
            str(self.data),
            "-U",
            SERVER_USER,
            "--auth=trust",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
            "-c fsync=off -c max_connections=200 -c autovacuum=off"
        )
        self._as_server_user(
            str(self.binaries / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast`: connections are closed and the server stops; `immediate`: as a crash."""
        self._as_server_user(
            str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"
        )

    def restart(self) -> None:
        self.stop()
        self.start()

    def _processes(self) -> list[int]:
        postmaster = (self.data / "postmaster.pid").read_text().split("\n", 1)[0]
        children = subprocess.run(
            ["pgrep", "-P", postmaster], capture_output=True, text=True, check=False
        ).stdout.split()
        return [int(postmaster), *(int(pid) for pid in children)]

    def freeze(self) -> None:
        """Every process of the server stopped: connections stay open, nothing answers."""
        for pid in self._processes():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._processes():
            os.kill(pid, signal.SIGCONT)

    def wait_ready(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A started cluster, removed afterwards whatever state the test left it in."""
    # Not under pytest's own temporary folder: that is root's alone, and the server's user must
    # reach its data folder.
    folder = Path(tempfile.mkdtemp(prefix="numbers-api-pg-"))
    cluster = PrivateCluster(folder)
    try:
        cluster.initialise()
        cluster.start()
        yield cluster
    finally:
        with suppress(Exception):
            cluster.thaw()
        with suppress(Exception):
            cluster.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)
