"""The service's metrics, declared once, in Prometheus' terms, and the registry a scrape reads.

Each worker process counts its own. When `serve` starts several, it gives them a shared directory
(prometheus-client's multi-process mode, `PROMETHEUS_MULTIPROC_DIR`), so that one scrape of
`GET /metrics` on any worker counts them all; prometheus-client chooses the mode once, when it is
first imported, from that variable. Without it (one worker, the tests' in-process app) a scrape
reads the process's own registry (docs/deployment.md, "Metrics")."""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess

# Set by `serve` for its workers when it starts several: where each process writes its counts.
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "numbers_api_requests",
    "Requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "numbers_api_request_duration_seconds",
    "Time from a request's arrival to its response's last byte, by route template and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REFUSED = Counter(
    "numbers_api_refused_requests",
    "Requests refused before their work: rate_limited (429), overloaded (503, the worker at "
    "capacity) or database_unavailable (503).",
    ["reason"],
)
DATABASE_ERRORS = Counter(
    "numbers_api_database_errors",
    "Database errors met by requests and background work: unavailable (cannot connect, "
    "connection lost, no answer in time), statement_timeout, lock_timeout (SQLite's write lock).",
    ["kind"],
)
PAGE_CACHE = Counter(
    "numbers_api_page_cache",
    "List pages asked for, answered from the page cache (hit) or not (miss).",
    ["result"],
)
INDEX_BUILDS = Counter(
    "numbers_api_index_builds",
    "Account list indexes made ready, by how: built (by this worker's builder, or by the request "
    "in inline mode), loaded (kept in the database by an earlier build or another worker's), "
    "advanced (brought forward past a few writes) or failed.",
    ["outcome"],
)
INDEX_BUILD_SECONDS = Histogram(
    "numbers_api_index_build_duration_seconds",
    "Time to make an account's list index ready (the build or the wait for it, and the load), "
    "by how (built, loaded, advanced).",
    ["outcome"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
INDEX_BYTES = Gauge(
    "numbers_api_index_memory_bytes",
    "Memory the in-memory indexes of accounts take, as counted against --index-memory (the sum "
    "over the live workers).",
    multiprocess_mode="livesum",
)
JOBS = Counter(
    "numbers_api_jobs",
    "Bulk jobs ended, by outcome (successful, failed).",
    ["outcome"],
)
# Number orders ended by their runner (docs/ordering.md, "Orders").
NUMBER_ORDERS = Counter(
    "numbers_api_number_orders",
    "Number orders ended by their runner, by outcome (success, failure).",
    ["outcome"],
)
CSV_DOWNLOADS = Counter(
    "numbers_api_csv_downloads",
    "CSV downloads ended, by outcome (complete, failed).",
    ["outcome"],
)
BACKGROUND_RETRIES = Counter(
    "numbers_api_background_retries",
    "Pieces of background work tried again after a transient database error, by kind (job, "
    "csv_download).",
    ["kind"],
)

WEBHOOK_ATTEMPTS = Counter(
    "numbers_api_webhook_attempts",
    "Webhook delivery attempts, by outcome: delivered (2xx), http_error (any other status), "
    "timeout, connection_error (refused, reset, TLS, DNS), no_url (the account's URL was unset; "
    "the delivery failed).",
    ["outcome"],
)
WEBHOOKS_WAITING = Gauge(
    "numbers_api_webhooks_waiting",
    "Webhook deliveries waiting in the outbox (due now or later), every account's, as the "
    "delivery runner that looked last counted them.",
    multiprocess_mode="livemostrecent",
)


def scraped_registry() -> CollectorRegistry:
    """What a scrape reads: every process's counts in multi-process mode, else this process's."""
    directory = os.environ.get(MULTIPROCESS_VARIABLE)
    if not directory:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
    return registry


def worker_started() -> None:
    """In multi-process mode, what workers that ended without `worker_ended` (killed) left of
    their gauges is let go, so that the live sums count live processes only."""
    directory = os.environ.get(MULTIPROCESS_VARIABLE)
    if not directory:
        return
    for gauge in Path(directory).glob("gauge_live*_*.db"):
        pid = gauge.stem.rpartition("_")[2]
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), directory)  # type: ignore[no-untyped-call]


def worker_ended() -> None:
    """In multi-process mode, this process's gauges stop counting; its counters stay."""
    directory = os.environ.get(MULTIPROCESS_VARIABLE)
    if directory:
        multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process now has that id
        return True
    return True
