"""The benchmark's ceiling: the bare framework, none of numbers-api's own stack. One Starlette
route, no middleware, answering the bytes of a file (the real server's first list page, which
`bench.run` fetches) under uvicorn run as `numbers-api serve` runs it.

    .venv/bin/python -m bench.ceiling PAGE_FILE [--host H] [--port P] [--workers N]

serves them at GET /v2/phone_numbers. `bench.run` starts it beside the server and stops it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.requests import PATH
from numbers_api.cli import UVICORN_OPTIONS  # the ceiling and the server differ by their apps only

PAGE_VARIABLE = "BENCH_CEILING_PAGE"  # how the workers, spawned by uvicorn, learn the file


def create_app() -> Starlette:
    """A worker's app: the file named by PAGE_VARIABLE, read once, answered as is."""
    page = Path(os.environ[PAGE_VARIABLE]).read_bytes()

    async def first_page(request: Request) -> Response:
        return Response(page, media_type="application/json")

    return Starlette(routes=[Route(PATH, first_page, methods=["GET"])])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("page", type=Path, help="the file whose bytes every request is answered")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="port (default 8001)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    args = parser.parse_args()
    os.environ[PAGE_VARIABLE] = str(args.page.resolve(strict=True))
    uvicorn.run(
        "bench.ceiling:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        **UVICORN_OPTIONS,
    )


if __name__ == "__main__":
    main()
