"""Log lines on standard error, the same in the command and in every server worker process
(uvicorn starts workers afresh, so each one sets this up itself)."""

from __future__ import annotations

import logging
import sys


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
