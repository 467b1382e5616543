"""The `numbers-api` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, TypeVar

import uvicorn
from prometheus_client import start_http_server

from numbers_api import __version__
from numbers_api.background import lease_ms_from_environment
from numbers_api.demo import demo_records
from numbers_api.exporting.run import UnsupportedExportFile, export_file
from numbers_api.http.rate_limits import RateLimiter
from numbers_api.importing.readers import UnsupportedFile
from numbers_api.importing.run import import_file, import_records, print_problem
from numbers_api.logs import LOG_FORMAT_VARIABLE, LOG_FORMATS, configure_logging
from numbers_api.metrics import MULTIPROCESS_VARIABLE, scraped_registry
from numbers_api.ordering.orders import check_environment as check_ordering_environment
from numbers_api.pool.load import load_file
from numbers_api.query.csv_download_query import filter_arguments, filter_conditions
from numbers_api.query.errors import InvalidQuery
from numbers_api.query.filters import PHONE_NUMBER_FILTERS
from numbers_api.settings import (
    DATABASE_URL_VARIABLE,
    DEFAULT_RATE_LIMIT,
    FAULTS_VARIABLE,
    INDEX_DIRECTORY_VARIABLE,
    INDEX_MEMORY_VARIABLE,
    INDEX_VARIABLE,
    METRICS_PORT_VARIABLE,
    RATE_LIMIT_TABLE_VARIABLE,
    RATE_LIMIT_VARIABLE,
    Settings,
    SettingsError,
    reservation_ms_from_environment,
)
from numbers_api.store.accounts import (
    AccountError,
    account_id,
    create_account,
    create_key,
    reset_account,
    revoke_key,
)
from numbers_api.store.database import (
    DEFAULT_DATABASE_URL,
    CannotConnect,
    Database,
    DatabaseUrlError,
    redacted,
)
from numbers_api.store.index_builder import build_into
from numbers_api.store.number_indexes import DEFAULT_INDEX_MEMORY_MB, SMALLEST_INDEXED
from numbers_api.store.webhook_settings import set_webhook_urls, webhook_urls
from numbers_api.webhooks.delivery import (
    RETRY_VARIABLE,
    retry_seconds_from_environment,
    url_problem,
)
from numbers_api.webhooks.signing import public_key

log = logging.getLogger("numbers_api")
T = TypeVar("T")

DESCRIPTION = """\
A self-hostable phone-number inventory that speaks Telnyx's Phone Number Management API (v2).

Typical start:
  numbers-api demo                 # a database with an account 'demo' and 10,000 numbers
  numbers-api serve                # the API on http://127.0.0.1:8000/v2
"""
EPILOG = f"""\
environment:
  {DATABASE_URL_VARIABLE}   database URL when --database-url is not given
  {FAULTS_VARIABLE}         'messaging_profiles' makes every messaging-profile load fail (serve)
                            'slow_csv_downloads': each 5,000 numbers of a CSV download take
                            2 s more (serve; comma-separate several faults)
                            'slow_jobs': each number of a bulk job waits 0.25 s first (serve)
  {INDEX_VARIABLE}          background (default): each worker keeps an in-memory index of
                            each account it serves, loaded at start from those the database
                            keeps, else built by a process of its own while SQL answers;
                            inline: built by the request that needs it; off: SQL only (serve)
  {INDEX_MEMORY_VARIABLE}   each worker's index memory in MB when --index-memory is not
                            given (default {DEFAULT_INDEX_MEMORY_MB}) (serve)
  {RATE_LIMIT_VARIABLE}     requests a second per API key when --rate-limit is not given
                            (default {DEFAULT_RATE_LIMIT}; 0: no limit) (serve)
  {LOG_FORMAT_VARIABLE}     json (default) or text, when --log-format is not given
  {METRICS_PORT_VARIABLE}   the port of GET /metrics when --metrics-port is not given
                            (default: the API's own port) (serve)
  {RETRY_VARIABLE}
                            the wait after a webhook's first failed attempt (default 1);
                            every later wait and the 24 h window scale with it (serve)
"""
# How `serve` runs uvicorn (the benchmark's ceiling runs it so too). httptools writes each
# response at once: with h11 a response of a few kilobytes waited for the client's delayed ACK
# (docs/performance.md). The request log is the app's own.
UVICORN_OPTIONS: dict[str, Any] = {
    "http": "httptools",
    "loop": "uvloop",
    "log_config": None,
    "access_log": False,
}


def _zero_or_more(raw: str) -> int:
    if not raw.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number, 0 or more; got {raw!r}")
    return int(raw)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="numbers-api",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help=f"the database (default: ${DATABASE_URL_VARIABLE}, else {DEFAULT_DATABASE_URL}, "
        "a file in the working directory); created and migrated on first use",
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help=f"log lines on standard error as JSON objects, one a line, for a log collector, "
        f"or as text for a terminal (default: ${LOG_FORMAT_VARIABLE}, else json)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    accounts = commands.add_parser("accounts", help="manage accounts")
    account_commands = accounts.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = account_commands.add_parser(
        "create", help="create an account; its first API key is the last line printed"
    )
    create.add_argument("name", metavar="NAME")

    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    key_create = key_commands.add_parser("create", help="add an API key to account NAME")
    key_create.add_argument("name", metavar="NAME")
    key_revoke = key_commands.add_parser("revoke", help="revoke KEY; it stops working at once")
    key_revoke.add_argument("key", metavar="KEY")

    _webhook_commands(commands)

    load = commands.add_parser(
        "import",
        help="load numbers from a .jsonl or .csv file (all or nothing), then build and keep "
        "the account's list index for the servers to load",
        description="Load numbers into an account. Every record is checked first; if any is "
        "bad, nothing is written and each problem is printed as "
        "'line N: FIELD: REASON'. See docs/import.md for the fields.",
    )
    load.add_argument("file", metavar="FILE", type=Path, help="a .jsonl or .csv file")
    load.add_argument("--account", required=True, metavar="NAME", help="the account to load into")
    load.add_argument(
        "--no-index",
        action="store_true",
        help="do not build the list index (it takes about 1 KB of memory a number for a while: "
        "1.1 GB at 1,000,000); each server then builds it when the account is first listed",
    )

    export = commands.add_parser(
        "export",
        help="write an account's numbers to a .csv or .jsonl file (the inverse of import)",
        description="Write the numbers of account NAME (those the filters match; all, without\n"
        "filters) to FILE, in the format its extension names. `numbers-api import` reads the\n"
        "file back: imported into an empty database, it gives the same numbers, field by\n"
        "field. The numbers are read in one snapshot, as they were when the export began;\n"
        "the file appears only once complete. See docs/export.md.",
        epilog="filters, as on GET /v2/phone_numbers (each --filter once; they combine with AND):\n"
        "  --filter 'filter[tag]=sales'   or the same without filter[...]: --filter tag=sales\n"
        "  --filter 'voice.connection_name[contains]=desk' --filter status=active\n"
        "  values are taken literally: --filter phone_number=+1970 keeps its +",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument(
        "file",
        metavar="FILE",
        type=Path,
        help="a .csv or .jsonl file to write (replaced if it exists)",
    )
    export.add_argument("--account", required=True, metavar="NAME", help="the account to export")
    export.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="FILTER",
        help="only numbers this list filter matches, e.g. 'filter[status]=active' (repeatable)",
    )
    export.add_argument(
        "--csv-format",
        choices=("V1", "V2"),
        default="V2",
        help="the columns of a .csv file: V2 (default) has every field; V1 leaves out "
        "usage_payment_method, as the API's V1 CSV downloads do",
    )

    available = commands.add_parser(
        "available-numbers",
        help="the pool of numbers GET /v2/available_phone_numbers searches",
        description="The available pool: the numbers a search finds, an order buys. A country's "
        "pool is generated from phonenumbers' metadata on its first search, unless the operator "
        "loads the country's stock from a file. See docs/ordering.md, 'The available pool'.",
    )
    available_commands = available.add_subparsers(dest="action", required=True, metavar="ACTION")
    stock = available_commands.add_parser(
        "load",
        help="load available numbers from a .csv or .jsonl file (all or nothing)",
        description="Load available numbers into the pool, in one transaction. Every record is\n"
        "checked first; if any is bad, nothing is written and each problem is printed as\n"
        "'line N: FIELD: REASON'. Only phone_number is required (+E.164, valid); country_code\n"
        "and phone_number_type are derived from the number when absent, features and costs\n"
        "come from the stock table (docs/ordering.md). Each country in the file is then a\n"
        "loaded pool: its generated numbers are removed and none is generated for it again.",
        epilog="fields (CSV columns, or JSON Lines keys):\n"
        "  phone_number, country_code, phone_number_type, national_destination_code, locality,\n"
        "  administrative_area, rate_center, features (a JSON array; in CSV joined by ';'),\n"
        "  currency, monthly_cost, upfront_cost, quickship, reservable, vanity_format\n"
        "example CSV:\n"
        "  phone_number,locality,administrative_area,features,monthly_cost\n"
        "  +19705550100,Fort Collins,CO,sms;voice,1.50\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stock.add_argument("file", metavar="FILE", type=Path, help="a .csv or .jsonl file")
    stock.add_argument(
        "--replace",
        action="store_true",
        help="remove every number loaded before (of every country) and load the file instead; "
        "without it the file's numbers are added, and one loaded before is an error",
    )

    demo = commands.add_parser(
        "demo",
        help="make a database ready to try: account 'demo' with realistic numbers",
        description="Create (or reset) the account 'demo' with N realistic numbers, including "
        "the contract's example record (+19705555098); print its API key last.",
    )
    demo.add_argument(
        "--numbers", type=int, default=10_000, metavar="N", help="how many numbers (default 10000)"
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="S",
        help="random seed: the same seed gives the same numbers (default 0)",
    )

    serve = commands.add_parser(
        "serve", help="serve the API under /v2 (and GET /health, /ready, /metrics)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes (default 1; one per core is a good choice)",
    )
    serve.add_argument(
        "--index-memory",
        type=_zero_or_more,
        metavar="MB",
        help="each worker's in-memory indexes of accounts, at their real size; the least "
        "recently asked for goes first, and an account whose index alone is larger is "
        f"answered by SQL (default: ${INDEX_MEMORY_VARIABLE}, else {DEFAULT_INDEX_MEMORY_MB})",
    )
    serve.add_argument(
        "--rate-limit",
        type=_zero_or_more,
        metavar="N",
        help=f"requests a second per API key, with a burst of N, exact across the workers; "
        f"past it 429 with Retry-After. Failed authentications count per client address "
        f"(default: ${RATE_LIMIT_VARIABLE}, else {DEFAULT_RATE_LIMIT}; 0: no limit)",
    )
    serve.add_argument(
        "--metrics-port",
        type=_zero_or_more,
        metavar="N",
        help="serve GET /metrics (Prometheus' text format, every worker counted) on port N of "
        "--host, by this process, rather than on the API's port "
        f"(default: ${METRICS_PORT_VARIABLE}, else 0: the API's port)",
    )
    return parser


WEBHOOKS_DESCRIPTION = """\
When an order's status changes, numbers-api POSTs a signed event to the account's webhook URL,
as Telnyx does: headers telnyx-timestamp and telnyx-signature-ed25519 (Ed25519 over
'TIMESTAMP|BODY', base64), verified with the key `webhooks public-key` prints. A delivery that
gets no 2xx within 5 s is tried again: attempts 1-3 to the URL (1 s, then 2 s between), 4-6 to
the failover URL if there is one, then alternately, the waits doubling up to 10 minutes, for
24 hours. Every attempt carries the same event id: receivers deduplicate by it.
See docs/ordering.md, "Webhooks"."""


def _webhook_url(raw: str) -> str:
    problem = url_problem(raw)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{raw!r} {problem}")
    return raw


def _webhook_commands(commands: Any) -> None:
    webhooks = commands.add_parser(
        "webhooks",
        help="where an account's webhooks go, and the key they are signed with",
        description=WEBHOOKS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = webhooks.add_subparsers(dest="action", required=True, metavar="ACTION")
    set_urls = actions.add_parser(
        "set",
        help="send account NAME's webhooks to URL (replacing its URLs)",
        description="Send account NAME's webhooks to URL from now on, and to --failover-url "
        "when URL fails (without it, there is no failover URL). Events made before keep "
        "going to the URLs as they are at each attempt. URLs must be http:// or https://; "
        "user:password@ in a URL is sent as basic authentication. Redirects are not followed.",
    )
    set_urls.add_argument("--account", required=True, metavar="NAME", help="the account")
    set_urls.add_argument("url", metavar="URL", type=_webhook_url, help="the webhook URL")
    set_urls.add_argument(
        "--failover-url",
        metavar="URL",
        type=_webhook_url,
        help="where attempts 4-6, then every other attempt, go",
    )
    unset = actions.add_parser(
        "unset",
        help="send account NAME no more webhooks",
        description="Remove account NAME's webhook URLs: no event is made for it from now on, "
        "and deliveries still waiting fail at their next attempt.",
    )
    unset.add_argument("--account", required=True, metavar="NAME", help="the account")
    show = actions.add_parser("show", help="print account NAME's webhook URLs")
    show.add_argument("--account", required=True, metavar="NAME", help="the account")
    actions.add_parser(
        "public-key",
        help="print the base64 public key that verifies the webhooks",
        description="Print the base64 Ed25519 public key that verifies every webhook this "
        "database's servers send (made on first use, then the same for every worker and "
        "host), as the Telnyx SDKs take it: client.webhooks.unwrap(body, headers=..., "
        "key=KEY).",
    )


def webhooks_command(database: Database, args: argparse.Namespace) -> int:
    if args.action == "public-key":
        print(public_key(database))
    elif args.action == "set":
        set_webhook_urls(database, args.account, args.url, args.failover_url)
        failover = f", failing over to {args.failover_url}" if args.failover_url else ""
        print(f"webhooks of {args.account!r} go to {args.url}{failover}")
    elif args.action == "unset":
        set_webhook_urls(database, args.account, None, None)
        print(f"webhooks of {args.account!r} go nowhere")
    else:
        urls = webhook_urls(database.connection(), args.account)
        print(f"url: {urls.url or '-'}")
        print(f"failover_url: {urls.failover_url or '-'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_environment(args.database_url)
        lease_ms_from_environment()  # checked here: a worker would fail on it
        retry_seconds_from_environment()  # as is this
        reservation_ms_from_environment()  # likewise: every reservation reads it
        check_ordering_environment()  # NUMBERS_API_ORDER_SECONDS, NUMBERS_API_POOL_RETURN_SECONDS
        if args.log_format is not None:
            settings = replace(settings, log_format=args.log_format)
        configure_logging(settings.log_format)
        if args.command == "serve":
            if args.index_memory is not None:
                settings = replace(settings, index_memory_mb=args.index_memory)
            if args.rate_limit is not None:
                settings = replace(settings, rate_limit=args.rate_limit)
            if args.metrics_port is not None:
                settings = replace(settings, metrics_port=args.metrics_port)
            return serve(settings, args.host, args.port, args.workers)
        database = Database(settings.database_url)
        return run_command(database, args)
    except (SettingsError, DatabaseUrlError) as error:
        print(f"numbers-api: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("numbers-api: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130


def run_command(database: Database, args: argparse.Namespace) -> int:
    try:
        if args.command == "accounts":
            key = create_account(database, args.name)
            print(f"created account {args.name!r}; its API key:")
            print(key)
        elif args.command == "keys" and args.action == "create":
            print(create_key(database, args.name))
        elif args.command == "keys":
            revoke_key(database, args.key)
            print("revoked")
        elif args.command == "import":
            return import_command(database, args.file, args.account, index=not args.no_index)
        elif args.command == "export":
            return export_command(database, args)
        elif args.command == "demo":
            return demo_command(database, args.numbers, args.seed)
        elif args.command == "webhooks":
            return webhooks_command(database, args)
        elif args.command == "available-numbers":
            return load_stock_command(database, args.file, replace=args.replace)
    except AccountError as error:
        print(f"numbers-api: {error}", file=sys.stderr)
        return 1
    return 0


def _from_file(path: Path, read: Callable[[IO[str] | None], T]) -> T | int:
    """What `read` makes of the file, given where to show its progress (standard error, on a
    terminal); or 2, said why, for a missing file or one of an unsupported kind."""
    if not path.is_file():
        print(f"numbers-api: no such file: {path}", file=sys.stderr)
        return 2
    progress = sys.stderr if sys.stderr.isatty() else None
    try:
        result = read(progress)
    except UnsupportedFile as error:
        print(f"numbers-api: {error}", file=sys.stderr)
        return 2
    if progress:
        progress.write("\n")
    return result


def import_command(database: Database, path: Path, account: str, *, index: bool) -> int:
    report = _from_file(
        path, lambda progress: import_file(database, account, path, print_problem, progress)
    )
    if isinstance(report, int):
        return report
    if not report.ok:
        print(
            f"import failed: {report.bad_records:,} bad records ({report.problems:,} problems); "
            "nothing was written",
            file=sys.stderr,
        )
        return 1
    print(f"imported {report.imported:,} numbers into {account!r} in {report.seconds:.1f} s")
    if index:
        index_for_serving(database, account)
    return 0


def index_for_serving(database: Database, account: str) -> None:
    """Build and keep the account's list index now, so that servers load it rather than each
    building it under load (`store/index_builder.py`)."""
    built = build_into(database, account_id(database.connection(), account), SMALLEST_INDEXED)
    if built.indexed:
        print(f"indexed them for lists in {built.seconds:.1f} s")


def export_command(database: Database, args: argparse.Namespace) -> int:
    try:
        conditions = filter_conditions(filter_arguments(args.filter), PHONE_NUMBER_FILTERS)
    except InvalidQuery as invalid:
        for error in invalid.errors:
            print(f"numbers-api: {error.parameter}: {error.detail}", file=sys.stderr)
        return 2
    progress = sys.stderr if sys.stderr.isatty() else None
    try:
        report = export_file(
            database,
            args.account,
            args.file,
            conditions,
            csv_format=args.csv_format,
            progress_to=progress,
        )
    except (UnsupportedExportFile, OSError) as error:
        print(f"numbers-api: {error}", file=sys.stderr)
        return 2
    if progress:
        progress.write("\n")
    if not report.ok:
        for number in report.split_tags:
            print(f"{number}: tags: a tag holds ';', which a CSV cell cannot keep", file=sys.stderr)
        print(
            f"export failed: {len(report.split_tags):,} numbers have such tags; nothing was "
            "written (export to a .jsonl file instead)",
            file=sys.stderr,
        )
        return 1
    print(
        f"exported {report.exported:,} numbers of {args.account!r} to {args.file} "
        f"in {report.seconds:.1f} s"
    )
    return 0


def load_stock_command(database: Database, path: Path, *, replace: bool) -> int:
    report = _from_file(
        path,
        lambda progress: load_file(
            database, path, print_problem, replace=replace, progress_to=progress
        ),
    )
    if isinstance(report, int):
        return report
    if not report.ok:
        print(f"load failed: {report.problems:,} problems; nothing was written", file=sys.stderr)
        return 1
    countries = ", ".join(f"{country} {count:,}" for country, count in report.loaded.items())
    print(f"loaded {sum(report.loaded.values()):,} numbers in {report.seconds:.1f} s")
    print(f"the loaded pools now hold: {countries or 'nothing'}")
    return 0


def demo_command(database: Database, count: int, seed: int) -> int:

    if reset_account(database, "demo"):
        key = create_key(database, "demo")
        log.info("account 'demo' existed: its numbers were removed and replaced")
    else:
        key = create_account(database, "demo")
    records = enumerate(demo_records(count, seed), start=1)
    report = import_records(database, "demo", records, print_problem)
    if not report.ok:
        return 1
    print(f"account 'demo' has {report.imported:,} numbers ({report.seconds:.1f} s).")
    index_for_serving(database, "demo")
    print("Serve them:  numbers-api serve")
    print(
        'Then:        curl -g -H "Authorization: Bearer $KEY" '
        "'http://127.0.0.1:8000/v2/phone_numbers?page[size]=2'"
    )
    print("The API key of account 'demo':")
    print(key)
    return 0


def serve(settings: Settings, host: str, port: int, workers: int) -> int:

    try:
        Database(settings.database_url).close()  # create or migrate once, before the workers
    except CannotConnect as error:
        # The workers start all the same, answer 503 and migrate once it can be reached.
        log.warning("%s; serving all the same: 503 until it can be reached", error)
    # The workers read their settings from the environment (uvicorn starts each anew).
    os.environ[DATABASE_URL_VARIABLE] = settings.database_url
    os.environ[INDEX_MEMORY_VARIABLE] = str(settings.index_memory_mb)
    os.environ[RATE_LIMIT_VARIABLE] = str(settings.rate_limit)
    os.environ[LOG_FORMAT_VARIABLE] = settings.log_format
    os.environ[METRICS_PORT_VARIABLE] = str(settings.metrics_port)
    with tempfile.TemporaryDirectory(prefix="numbers-api-") as shared:
        table = Path(shared) / "rate-limits"
        RateLimiter.make_table(table)
        os.environ[RATE_LIMIT_TABLE_VARIABLE] = str(table)
        indexes = Path(shared) / "indexes"
        indexes.mkdir()
        os.environ[INDEX_DIRECTORY_VARIABLE] = str(indexes)
        if workers > 1:
            # Each worker counts its metrics in files here, so that a scrape counts them all.
            # One worker is this process, whose metrics count in its memory: prometheus-client
            # chose so when it was first imported, before this.
            counts = Path(shared) / "metrics"
            counts.mkdir()
            os.environ[MULTIPROCESS_VARIABLE] = str(counts)
        metrics = None
        if settings.metrics_port:
            try:
                metrics, _ = start_http_server(
                    settings.metrics_port, host, registry=scraped_registry()
                )
            except OSError as error:
                print(
                    f"numbers-api: cannot serve metrics on {host}:{settings.metrics_port}: "
                    f"{error.strerror}",
                    file=sys.stderr,
                )
                return 2
            where = f"http://{host}:{settings.metrics_port}/metrics"
        else:
            where = "/metrics"
        log.info(
            "serving %s on http://%s:%d/v2 with %d worker(s), index memory %d MB each, "
            "rate limit %s, metrics on %s",
            redacted(settings.database_url),
            host,
            port,
            workers,
            settings.index_memory_mb,
            f"{settings.rate_limit}/s per key" if settings.rate_limit else "off",
            where,
        )
        try:
            uvicorn.run(
                "numbers_api.http.app:create_app_from_environment",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                **UVICORN_OPTIONS,
            )
        finally:
            if metrics is not None:
                metrics.shutdown()
    return 0
