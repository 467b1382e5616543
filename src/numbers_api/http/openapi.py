"""The OpenAPI document the server publishes at `/v2/openapi.json`."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from numbers_api.serialisation import encode


def load_openapi_document() -> dict[str, Any]:
    text = resources.files("numbers_api.http").joinpath("openapi.yaml").read_text("utf-8")
    document: dict[str, Any] = yaml.load(text, Loader=yaml.CSafeLoader)
    return document


@cache
def served_openapi_document() -> bytes:
    """The document as `/v2/openapi.json` serves it, parsed once per process: every app made in
    one process (each test makes one) would otherwise parse its YAML again."""
    return encode(load_openapi_document())
