"""Run a command and print its wall time and peak memory as one JSON line on standard error.

    python -m bench.measure COMMAND ARGS...

A process of its own, so that the peak memory it reports is that of the one command it ran.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def main() -> int:
    started = time.perf_counter()
    status = subprocess.run(sys.argv[1:], check=False).returncode
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "status": status}), file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
