"""Telnyx's error envelope: `{"errors": [{code, title, detail, source?, meta: {url}}]}`."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from numbers_api.query.errors import ParameterError
from numbers_api.serialisation import encode

ERRORS_URL = "https://developers.telnyx.com/docs/overview/errors/"


def error_object(
    code: str, title: str, detail: str, *, parameter: str | None = None, pointer: str | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "title": title, "detail": detail}
    if parameter is not None:
        error["source"] = {"parameter": parameter}
    elif pointer is not None:
        error["source"] = {"pointer": pointer}
    error["meta"] = {"url": ERRORS_URL + code}
    return error


def error_response(
    status: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        encode({"errors": errors}), status, headers=headers, media_type="application/json"
    )


def authentication_failed() -> Response:
    return error_response(
        401,
        [
            error_object(
                "10009", "Authentication failed", "Could not understand the provided credentials."
            )
        ],
    )


def bad_request(errors: list[ParameterError]) -> Response:
    return error_response(
        400, [error_object("10015", "Bad Request", e.detail, parameter=e.parameter) for e in errors]
    )


def not_found(path: str) -> Response:
    return error_response(
        404, [error_object("10005", "Resource not found", f"No resource at {path}.")]
    )


def method_not_allowed(method: str, allowed: list[str]) -> Response:
    return error_response(
        405,
        [
            error_object(
                "10015",
                "Method Not Allowed",
                f"{method} is not allowed here; allowed: {', '.join(allowed)}.",
            )
        ],
        headers={"Allow": ", ".join(allowed)},
    )


def unexpected_error() -> Response:
    return error_response(
        500,
        [
            error_object(
                "10007", "Unexpected error", "An unexpected error occurred; it has been logged."
            )
        ],
    )


PROFILE_ERROR_TITLE = "Messaging profile information unavailable"


def profiles_left_out(failure: Exception) -> dict[str, Any]:
    """The warning beside a 200 whose numbers lack messaging_profile_id and _name."""
    return error_object(
        "10007",
        PROFILE_ERROR_TITLE,
        f"{failure}; messaging_profile_id and messaging_profile_name are left out.",
    )


def overloaded() -> Response:
    """Telnyx has no code of its own for a server at capacity: `10008` (Request timeout) is what
    its client would have had otherwise."""
    return error_response(
        503,
        [
            error_object(
                "10008",
                "Request timeout",
                "The server is answering as many requests as it can; retry after 1 s.",
            )
        ],
        headers={"Retry-After": "1"},
    )


RETRY_AFTER_SECONDS = 2  # after a database fault: long enough for a restart to be noticed


def try_again_later(detail: str) -> Response:
    """503 for a database fault: unreachable, a statement or lock timed out, no answer within the
    request's deadline. The same code as `overloaded`: the request could not be answered in time
    and may be retried as it is."""
    return error_response(
        503,
        [
            error_object(
                "10008", "Request timeout", f"{detail}; retry after {RETRY_AFTER_SECONDS} s."
            )
        ],
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
