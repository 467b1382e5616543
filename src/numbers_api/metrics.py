"""The service's metrics, declared once, in Prometheus' terms. Each worker process counts its own;
`serve` gives the workers a shared directory (prometheus-client's multi-process mode), so that one
scrape of `GET /metrics` on any worker counts them all."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
    "Account list indexes made ready: built, loaded (kept by another process) or failed.",
    ["outcome"],
)
INDEX_BUILD_SECONDS = Histogram(
    "numbers_api_index_build_duration_seconds",
    "Time to make an account's list index ready, by how (built or loaded).",
    ["outcome"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
INDEX_BYTES = Gauge(
    "numbers_api_index_memory_bytes",
    "Memory the in-memory indexes of accounts take, as counted against --index-memory.",
    multiprocess_mode="livesum",
)
JOBS = Counter(
    "numbers_api_jobs",
    "Bulk jobs ended, by outcome (successful, failed).",
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
