"""Splitting a raw query string into bracketed keys: `filter[voice.connection_name][contains]=x`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


@dataclass(frozen=True, slots=True)
class QueryParameter:
    key: str  # as sent, after percent-decoding; errors name it this way
    name: str  # the part before the first bracket
    path: tuple[str, ...]  # the bracketed segments, in order
    value: str
    well_formed: bool  # False for keys such as `filter[status` or `filter]x[`


def parse_query_string(query_string: str) -> list[QueryParameter]:
    """Every key=value pair in order, keeping blank values (they are errors, not absences)."""
    parameters = []
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        match = _KEY.match(key)
        if match is None:
            name = key.split("[", 1)[0]
            parameters.append(QueryParameter(key, name, (), value, well_formed=False))
        else:
            path = tuple(_SEGMENT.findall(match.group(2)))
            parameters.append(QueryParameter(key, match.group(1), path, value, well_formed=True))
    return parameters
