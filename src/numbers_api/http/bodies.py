"""Request bodies checked against their schema, field by field: every mistake is reported at once,
each naming its field in `source.pointer` (422, code 10015)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from numbers_api.domain import TEXT_RULE, is_text
from numbers_api.http.phone_number import InvalidBody, invalid_fields, json_object, pointer

# What is wrong with a field's value ("must be …"), or None if nothing is.
Check = Callable[[Any], str | None]


def checked_body(
    body: bytes,
    checks: Mapping[str, Check],
    *,
    schema: str,
    required: Sequence[str] = (),
    invalid_json_status: int = 400,
) -> dict[str, Any]:
    """The body's fields, each passed by its check. Raises InvalidBody if the body is not a JSON
    object, or listing each field that fails its check, is not one of `checks`, or is required
    and missing."""
    document = json_object(body, invalid_json_status)
    problems: list[tuple[str, str]] = []
    for name, value in document.items():
        check = checks.get(name)
        problem = f"is not a field of {schema}" if check is None else check(value)
        if problem is not None:
            problems.append((pointer(name), f"{name} {problem}."))
    missing = [name for name in required if name not in document]
    problems += [(pointer(name), f"{name} is required.") for name in missing]
    if problems:
        raise InvalidBody(invalid_fields(problems))
    return document


def boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def identifier(value: Any) -> str | None:
    """An id of something this server does not hold: any non-empty string."""
    return None if is_text(value) and value else f"must be a non-empty string {TEXT_RULE}"
