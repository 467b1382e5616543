"""Limits on what a client sends: a request's body and its query string. Both are checked before
anything is done with them, so that no client can make a worker hold more than the limit."""

from __future__ import annotations

from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from numbers_api.http.errors import error_object, error_response

# A write's body: the largest the API takes (a job of 1,000 numbers with their settings) is some
# tens of kilobytes; a mebibyte leaves room and bounds what a worker holds per request.
MAX_BODY_BYTES = 1024 * 1024
# A query string: the longest a client needs (every filter at its longest value, 500 characters)
# fits; the common limit of web servers and proxies in front of one.
MAX_QUERY_STRING_BYTES = 8 * 1024


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request's body, or BodyTooLarge as soon as it is known to be longer than `limit`:
    from its Content-Length, before reading any of it, else (chunked) once the part read is."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def body_too_large(limit: int = MAX_BODY_BYTES) -> Response:
    return error_response(
        413,
        [
            error_object(
                "10015",
                "Bad Request",
                f"The request body is longer than {limit:,} bytes, the most this API accepts.",
            )
        ],
        # The rest of the body is not read: the connection cannot carry another request.
        headers={"Connection": "close"},
    )


def query_string_too_long(query_string: bytes) -> Response | None:
    """414 for a query string over the limit, naming its longest parameter (the one to shorten);
    None for one within it."""
    if len(query_string) <= MAX_QUERY_STRING_BYTES:
        return None
    longest = max(query_string.split(b"&"), key=len)
    key = longest.split(b"=", 1)[0].decode("latin-1")
    return error_response(
        414,
        [
            error_object(
                "10003",
                "Invalid URL",
                f"The query string is {len(query_string):,} bytes long, longer than the "
                f"{MAX_QUERY_STRING_BYTES:,} this API accepts; its longest parameter is "
                f"{len(longest):,} bytes.",
                parameter=unquote(key)[:200],
            )
        ],
    )
