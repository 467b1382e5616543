"""How the benchmark measures memory.

    python -m bench.measure COMMAND ARGS...

runs a command and prints its wall time and peak memory as one JSON line on standard error: a
process of its own, so that the peak memory it reports is that of the one command it ran.

`TreeMemory` samples a running process tree (the server and its workers) from a thread;
`CpuUse` is the processor time that a run costs the server, the database's processes and the
load generator.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

# Walking smaps_rollup costs time in proportion to the pages a process maps (measured ~11 ms per
# GB of 4 KiB file pages), and it takes the process's mmap lock: PSS is read rarely enough that
# reading it costs at most 1/PSS_DUTY of the time, and never more often than every PSS_EVERY s.
PSS_EVERY = 2.0
PSS_DUTY = 50


def tree(pid: int) -> list[int]:
    """The process and its descendants, found through the children of each of their threads."""
    found, pending = [], [pid]
    while pending:
        each = pending.pop()
        found.append(each)
        try:
            for children in Path(f"/proc/{each}/task").glob("*/children"):
                pending += [int(child) for child in children.read_text().split()]
        except OSError:  # exited meanwhile
            continue
    return found


def kb(path: str, *fields: str) -> dict[str, int]:
    """The named fields of a /proc file, in kB; empty if the process has gone."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return {}
    figures: dict[str, int] = {}
    for line in lines:
        name, _, value = line.partition(":")
        if name in fields:
            figures[name] = int(value.split()[0])
    return figures


def cpu_seconds(pid: int) -> float:
    """User and system time of a process so far (0 if it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def named(command: str) -> list[int]:
    """The processes running `command` (by their kernel name: `postgres` for its backends)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == command:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


class CpuUse:
    """Processor seconds since it was made: the server's process tree, the database's processes
    (`database`: their command, `postgres`; None for SQLite, which runs inside the server) and
    this process's waited children (the load generator). A process that exits meanwhile takes
    its time with it; one that starts meanwhile counts from its start."""

    def __init__(self, server_pid: int, database: str | None) -> None:
        self.server_pid = server_pid
        self.database = database
        self._start = self._now()

    def _now(self) -> tuple[dict[int, float], dict[int, float], float]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (
            {pid: cpu_seconds(pid) for pid in tree(self.server_pid)},
            {pid: cpu_seconds(pid) for pid in named(self.database)} if self.database else {},
            children.ru_utime + children.ru_stime,
        )

    def since(self) -> dict[str, float]:
        server, database, load = self._now()

        def spent(before: dict[int, float], after: dict[int, float]) -> float:
            return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())

        return {
            "server": spent(self._start[0], server),
            "database": spent(self._start[1], database),
            "load": load - self._start[2],
        }


class TreeMemory:
    """Peaks, over a run, of the memory of a process tree summed over its processes, sampled every
    `interval` seconds until `stop` or until the root process is gone; only the peaks are kept.

    - RssAnon: private anonymous memory, what the processes themselves allocated;
    - PSS: every resident page divided by the number of processes mapping it, so that the file
      pages SQLite maps in each connection count once in all;
    - VmHWM: each process's own peak resident set, which counts every mapped file page again in
      every process that maps it.
    """

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid, self.interval = pid, interval
        self.rss_anon_kb = self.pss_kb = self.vmhwm_kb = 0
        self.processes = self.samples = self.pss_samples = 0
        self.pss_seconds = 0.0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-memory", daemon=True)

    def start(self) -> TreeMemory:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        next_pss = 0.0
        while Path(f"/proc/{self.pid}").exists():
            pids = tree(self.pid)
            with_pss = time.monotonic() >= next_pss
            started = time.perf_counter()
            per_process = [kb(f"/proc/{pid}/status", "RssAnon", "VmHWM") for pid in pids]
            if with_pss:
                for pid, figures in zip(pids, per_process, strict=True):
                    figures.update(kb(f"/proc/{pid}/smaps_rollup", "Pss"))
            spent = time.perf_counter() - started
            self.rss_anon_kb = max(self.rss_anon_kb, sum(p.get("RssAnon", 0) for p in per_process))
            self.vmhwm_kb = max(self.vmhwm_kb, sum(p.get("VmHWM", 0) for p in per_process))
            self.processes = max(self.processes, len(pids))
            self.samples += 1
            if with_pss:
                self.pss_kb = max(self.pss_kb, sum(p.get("Pss", 0) for p in per_process))
                self.pss_samples += 1
                self.pss_seconds += spent
                next_pss = time.monotonic() + max(PSS_EVERY, spent * PSS_DUTY)
            if self._stopped.wait(self.interval):
                return

    def figures(self) -> dict[str, Any]:
        return {
            "rss_anon_peak_mb": self.rss_anon_kb / 1024,
            "pss_peak_mb": self.pss_kb / 1024,
            "vmhwm_sum_mb": self.vmhwm_kb / 1024,
            "processes": self.processes,
            "interval_s": self.interval,
            "samples": self.samples,
            "pss_samples": self.pss_samples,
            "pss_read_ms": 1000 * self.pss_seconds / max(self.pss_samples, 1),
        }


class ProcessPeaks:
    """Each process of a tree (a server and its workers): its peak private memory (RssAnon),
    sampled every 0.2 s from now until `stop`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peaks: dict[int, int] = {}
        self.roles: dict[int, str] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(0.2):
            for pid in tree(self.pid):
                anon = kb(f"/proc/{pid}/status", "RssAnon").get("RssAnon", 0)
                self.peaks[pid] = max(self.peaks.get(pid, 0), anon)
                if pid not in self.roles:
                    self.roles[pid] = _role(pid)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def peaks_mb(self) -> list[int]:
        return sorted((peak // 1024 for peak in self.peaks.values()), reverse=True)

    def peaks_by_role_mb(self) -> dict[str, list[int]]:
        """The peaks of the server's workers, of their index builder processes, and of the rest
        (the supervisor), each list largest first."""
        roles: dict[str, list[int]] = {}
        for pid, peak in self.peaks.items():
            roles.setdefault(self.roles.get(pid, "other"), []).append(peak // 1024)
        return {role: sorted(peaks, reverse=True) for role, peaks in roles.items()}


def _role(pid: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "other"
    if b"numbers_api.store.index_builder" in command:
        return "index builder"
    if b"multiprocessing" in command:  # uvicorn starts its workers with multiprocessing's spawn
        return "worker"
    return "other"


def main() -> int:
    started = time.perf_counter()
    status = subprocess.run(sys.argv[1:], check=False).returncode
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "status": status}), file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
