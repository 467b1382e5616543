"""Messaging-profile information, loaded apart from the numbers through a component that can fail.

Telnyx serves this information from another part of its platform; `handle_messaging_profile_error`
exists because that part can be down. `failing=True` (set by NUMBERS_API_FAULTS) makes every load
fail, so that clients can test how they handle it.
"""

from __future__ import annotations

from collections.abc import Collection

from numbers_api.store.database import Connection


class MessagingProfilesUnavailable(Exception):
    pass


class MessagingProfileDirectory:
    def __init__(self, *, failing: bool = False) -> None:
        self.failing = failing

    def check_available(self) -> None:
        """Raises MessagingProfilesUnavailable when profiles cannot be loaded: a list, which reads
        its page's profile names with the page's rows, asks this first."""
        if self.failing:
            raise MessagingProfilesUnavailable(
                "messaging profile information could not be loaded (injected fault)"
            )

    def names(
        self, connection: Connection, account_id: int, profile_ids: Collection[str]
    ) -> dict[str, str | None]:
        """Each profile's name, by id."""
        self.check_available()
        if not profile_ids:
            return {}
        ids = list(profile_ids)
        rows = connection.execute(
            f"SELECT id, name FROM messaging_profiles WHERE account_id = ? "
            f"AND id IN ({', '.join('?' * len(ids))})",
            [account_id, *ids],
        )
        return {row[0]: row[1] for row in rows}
