"""The schema, as numbered migrations for each engine: a database made by an older version is
brought forward on first use, keeping its data. Both engines always have the same versions."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the database module runs the migrations; this one only names its type
    from numbers_api.store.database import Connection

# Columns of phone_numbers, by engine type: (name, sqlite type, postgresql type).
_NUMBER_COLUMNS = [
    ("phone_number", "TEXT NOT NULL UNIQUE", 'TEXT COLLATE "C" NOT NULL UNIQUE'),
    ("country_iso_alpha2", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("status", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("tags", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("external_pin", "TEXT", "TEXT"),
    ("connection_id", "TEXT", "TEXT"),
    ("customer_reference", "TEXT", "TEXT"),
    ("messaging_profile_id", "TEXT", "TEXT"),
    ("billing_group_id", "TEXT", "TEXT"),
    ("emergency_enabled", "INTEGER NOT NULL", "BOOLEAN NOT NULL"),
    ("emergency_address_id", "TEXT", "TEXT"),
    ("emergency_status", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("call_forwarding_enabled", "INTEGER NOT NULL", "BOOLEAN NOT NULL"),
    ("cnam_listing_enabled", "INTEGER NOT NULL", "BOOLEAN NOT NULL"),
    ("caller_id_name_enabled", "INTEGER NOT NULL", "BOOLEAN NOT NULL"),
    ("call_recording_enabled", "INTEGER NOT NULL", "BOOLEAN NOT NULL"),
    ("t38_fax_gateway_enabled", "INTEGER NOT NULL", "BOOLEAN NOT NULL"),
    ("phone_number_type", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("inbound_call_screening", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("usage_payment_method", "TEXT NOT NULL", 'TEXT COLLATE "C" NOT NULL'),
    ("hd_voice_enabled", "INTEGER NOT NULL", "BOOLEAN NOT NULL"),
    ("source_type", "TEXT", "TEXT"),
    ("deletion_lock_enabled", "INTEGER NOT NULL", "BOOLEAN NOT NULL"),
    ("purchased_at", "INTEGER NOT NULL", "BIGINT NOT NULL"),
    ("created_at", "INTEGER NOT NULL", "BIGINT NOT NULL"),
    ("updated_at", "INTEGER NOT NULL", "BIGINT NOT NULL"),
]


def _base_schema(engine: int) -> list[str]:
    """Version 1 for one engine (0: SQLite, 1: PostgreSQL): the same tables and indexes."""
    key = "INTEGER PRIMARY KEY" if engine == 0 else "BIGSERIAL PRIMARY KEY"
    big = "INTEGER" if engine == 0 else "BIGINT"
    folded = "TEXT" if engine == 0 else 'TEXT COLLATE "C"'
    columns = ",\n".join(f"{name} {types[engine]}" for name, *types in _NUMBER_COLUMNS)
    return [
        f"CREATE TABLE accounts (id {key}, name TEXT NOT NULL UNIQUE, created_at {big} NOT NULL)",
        f"""CREATE TABLE api_keys (
            id {key},
            account_id {big} NOT NULL REFERENCES accounts(id),
            key_hash TEXT NOT NULL UNIQUE,
            created_at {big} NOT NULL,
            revoked_at {big}
        )""",
        f"""CREATE TABLE connections (
            account_id {big} NOT NULL REFERENCES accounts(id),
            id TEXT NOT NULL,
            name TEXT,
            name_folded {folded},
            PRIMARY KEY (account_id, id)
        )""",
        f"""CREATE TABLE messaging_profiles (
            account_id {big} NOT NULL REFERENCES accounts(id),
            id TEXT NOT NULL,
            name TEXT,
            PRIMARY KEY (account_id, id)
        )""",
        f"""CREATE TABLE phone_numbers (
            id {"INTEGER PRIMARY KEY" if engine == 0 else "BIGINT PRIMARY KEY"},
            account_id {big} NOT NULL REFERENCES accounts(id),
            {columns},
            FOREIGN KEY (account_id, connection_id) REFERENCES connections(account_id, id),
            FOREIGN KEY (account_id, messaging_profile_id)
                REFERENCES messaging_profiles(account_id, id)
        )""",
        f"""CREATE TABLE phone_number_tags (
            account_id {big} NOT NULL,
            tag TEXT NOT NULL,
            phone_number_id {big} NOT NULL REFERENCES phone_numbers(id) ON DELETE CASCADE,
            PRIMARY KEY (account_id, tag, phone_number_id)
        ){" WITHOUT ROWID" if engine == 0 else ""}""",
        "CREATE INDEX phone_number_tags_number ON phone_number_tags(phone_number_id)",
        "CREATE INDEX phone_numbers_created ON phone_numbers(account_id, created_at DESC, id DESC)",
        "CREATE INDEX phone_numbers_purchased ON phone_numbers(account_id, purchased_at, id)",
        "CREATE INDEX phone_numbers_number ON phone_numbers(account_id, phone_number)",
        "CREATE INDEX phone_numbers_payment ON phone_numbers(account_id, usage_payment_method, id)",
        "CREATE INDEX phone_numbers_status ON phone_numbers(account_id, status)",
        "CREATE INDEX phone_numbers_connection ON phone_numbers(account_id, connection_id)",
        "CREATE INDEX phone_numbers_reference ON phone_numbers(account_id, customer_reference)",
        "CREATE INDEX phone_numbers_messaging ON phone_numbers(account_id, messaging_profile_id)",
        "CREATE INDEX connections_name ON connections(account_id, name_folded)",
    ]


# The digits of every number in an index made for substrings.
_SQLITE_DIGITS_INDEX = [
    "CREATE VIRTUAL TABLE phone_number_digits USING fts5("
    "phone_number, tokenize='trigram', content='phone_numbers', content_rowid='id')",
    "CREATE TRIGGER phone_number_digits_insert AFTER INSERT ON phone_numbers BEGIN "
    "INSERT INTO phone_number_digits (rowid, phone_number) VALUES (new.id, new.phone_number); END",
    "CREATE TRIGGER phone_number_digits_delete AFTER DELETE ON phone_numbers BEGIN "
    "INSERT INTO phone_number_digits (phone_number_digits, rowid, phone_number) "
    "VALUES ('delete', old.id, old.phone_number); END",
    "CREATE TRIGGER phone_number_digits_update AFTER UPDATE OF id, phone_number ON phone_numbers "
    "BEGIN INSERT INTO phone_number_digits (phone_number_digits, rowid, phone_number) "
    "VALUES ('delete', old.id, old.phone_number); "
    "INSERT INTO phone_number_digits (rowid, phone_number) VALUES (new.id, new.phone_number); END",
    "INSERT INTO phone_number_digits (phone_number_digits) VALUES ('rebuild')",
]
_POSTGRESQL_DIGITS_INDEX = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX phone_numbers_digits ON phone_numbers USING gin (phone_number gin_trgm_ops)",
]

_DATA_VERSION = ["ALTER TABLE accounts ADD COLUMN data_version BIGINT NOT NULL DEFAULT 0"]

# Which numbers each data version changed (`phone_number_id` NULL: any of them might have), so
# that an index at an older version can be brought forward instead of built again.
_NUMBER_CHANGES = [
    """CREATE TABLE number_changes (
        account_id BIGINT NOT NULL,
        data_version BIGINT NOT NULL,
        phone_number_id BIGINT
    )""",
    "CREATE INDEX number_changes_version ON number_changes(account_id, data_version)",
]

# The bundle a number is in (bundle_status_change); NULL: in none.
_ACTIONS = ["ALTER TABLE phone_numbers ADD COLUMN bundle_id TEXT"]

# A number's voicemail settings, once created; they go with the number. (SQLite takes these
# type names as they are: BOOLEAN binds Python's True as 1.)
_VOICEMAIL = [
    """CREATE TABLE phone_number_voicemail (
        phone_number_id BIGINT PRIMARY KEY REFERENCES phone_numbers(id) ON DELETE CASCADE,
        enabled BOOLEAN NOT NULL,
        pin TEXT
    )"""
]


def _csv_downloads(engine: int) -> list[str]:
    """CSV downloads and their files, kept in the database so that any worker or host serves
    them (engine 0: SQLite, 1: PostgreSQL). A file is stored in parts of about a megabyte, so
    that neither writing nor serving it holds the whole file in memory."""
    return [
        """CREATE TABLE csv_downloads (
            id TEXT PRIMARY KEY,
            account_id BIGINT NOT NULL REFERENCES accounts(id),
            csv_format TEXT NOT NULL,
            filters TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            completed_at BIGINT,
            numbers BIGINT,
            size BIGINT,
            claim TEXT,
            claimed_until BIGINT
        )""",
        "CREATE INDEX csv_downloads_account ON csv_downloads(account_id, created_at DESC, id DESC)",
        "CREATE INDEX csv_downloads_status ON csv_downloads(status, created_at)",
        f"""CREATE TABLE csv_download_parts (
            download_id TEXT NOT NULL REFERENCES csv_downloads(id) ON DELETE CASCADE,
            part BIGINT NOT NULL,
            content {"BLOB" if engine == 0 else "BYTEA"} NOT NULL,
            PRIMARY KEY (download_id, part)
        )""",
    ]


_CSV_DOWNLOADS = (_csv_downloads(0), _csv_downloads(1))

# Bulk jobs, one row per number's operation (outcome NULL: still to do), so that any worker or
# host can run a job and one that was running when its server stopped is finished later, each
# number once. A runner holds a job while `lease_expires_at` is ahead; 0 once it let go.
_JOBS = [
    """CREATE TABLE phone_number_jobs (
        id TEXT PRIMARY KEY,
        account_id BIGINT NOT NULL REFERENCES accounts(id),
        type TEXT NOT NULL,
        status TEXT NOT NULL,
        parameters TEXT NOT NULL,
        targets TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        finished_at BIGINT,
        claimed_by TEXT,
        lease_expires_at BIGINT
    )""",
    "CREATE INDEX phone_number_jobs_account ON phone_number_jobs(account_id, created_at, id)",
    "CREATE INDEX phone_number_jobs_open ON phone_number_jobs(status, lease_expires_at)",
    """CREATE TABLE phone_number_job_operations (
        job_id TEXT NOT NULL REFERENCES phone_number_jobs(id),
        position BIGINT NOT NULL,
        target TEXT NOT NULL,
        phone_number_id BIGINT,
        phone_number TEXT,
        outcome TEXT,
        errors TEXT,
        PRIMARY KEY (job_id, position)
    )""",
]

# The voice settings that the list does not show, each defaulting to what Telnyx shows for a fresh
# number. (SQLite takes BOOLEAN as it is and stores 0/1.)
_VOICE_SETTINGS = [
    f"ALTER TABLE phone_numbers ADD COLUMN {column}"
    for column in (
        "tech_prefix_enabled BOOLEAN NOT NULL DEFAULT FALSE",
        "translated_number TEXT NOT NULL DEFAULT ''",
        "forwards_to TEXT NOT NULL DEFAULT ''",
        "forwarding_type TEXT NOT NULL DEFAULT 'always'",
        "cnam_listing_details TEXT NOT NULL DEFAULT ''",
        "rtp_auto_adjust_enabled BOOLEAN NOT NULL DEFAULT TRUE",
        "accept_any_rtp_packets_enabled BOOLEAN NOT NULL DEFAULT FALSE",
        "inbound_call_recording_format TEXT NOT NULL DEFAULT 'wav'",
        "inbound_call_recording_channels TEXT NOT NULL DEFAULT 'single'",
    )
]

# The messaging settings that the list does not show, defaulting to what Telnyx shows for a fresh
# number: the A2P product (and only it eligible), and health with no message yet. The products
# are a JSON array. (SQLite takes DOUBLE PRECISION as REAL.)
_MESSAGING_SETTINGS = [
    f"ALTER TABLE phone_numbers ADD COLUMN {column}"
    for column in (
        "messaging_product TEXT NOT NULL DEFAULT 'A2P'",
        """eligible_messaging_products TEXT NOT NULL DEFAULT '["A2P"]'""",
        "message_count BIGINT NOT NULL DEFAULT 0",
        "inbound_outbound_ratio DOUBLE PRECISION NOT NULL DEFAULT 0",
        "success_ratio DOUBLE PRECISION NOT NULL DEFAULT 0",
        "spam_ratio DOUBLE PRECISION NOT NULL DEFAULT 0",
    )
]

# A billing group is the account's once a number of the account names it (by import): an update
# may then give it to any other number of the account.
_BILLING_GROUPS = [
    """CREATE TABLE billing_groups (
        account_id BIGINT NOT NULL REFERENCES accounts(id),
        id TEXT NOT NULL,
        PRIMARY KEY (account_id, id)
    )""",
    "INSERT INTO billing_groups (account_id, id) SELECT DISTINCT account_id, billing_group_id "
    "FROM phone_numbers WHERE billing_group_id IS NOT NULL",
]

# PostgreSQL checks a foreign key with a lookup per row, a large part of an import's time in its
# backend (docs/performance.md). The application checks every reference it writes instead: an
# update's connection and messaging profile must be the account's (`missing_association`,
# `UnknownMessagingProfile`), an import writes the connections and profiles its numbers name
# before them, and nothing deletes an account, a connection or a profile. SQLite keeps them:
# there, dropping a constraint means building the table anew.
_NUMBERS_FOREIGN_KEYS_DROPPED_ON_POSTGRESQL = [
    f"ALTER TABLE phone_numbers DROP CONSTRAINT phone_numbers_{name}_fkey"
    for name in ("account_id", "account_id_connection_id", "account_id_messaging_profile_id")
]

# When each account's bulk job and CSV download were last claimed: the runners take the oldest
# waiting work of the account served longest ago, so one account's backlog delays no other's.
_FAIR_RUNNERS = [
    "ALTER TABLE accounts ADD COLUMN job_claimed_at BIGINT",
    "ALTER TABLE accounts ADD COLUMN download_claimed_at BIGINT",
]


def _index_snapshots(engine: int) -> list[str]:
    """Each account's in-memory index as its builder left it (`store/index_builder.py`), in
    parts, so that a server starting or a second worker loads it instead of building it."""
    big = "INTEGER" if engine == 0 else "BIGINT"
    statements = [
        f"""CREATE TABLE index_snapshots (
            account_id {big} NOT NULL REFERENCES accounts(id),
            data_version {big} NOT NULL,
            format INTEGER NOT NULL,
            part INTEGER NOT NULL,
            body {"BLOB" if engine == 0 else "BYTEA"} NOT NULL,
            PRIMARY KEY (account_id, data_version, format, part)
        )"""
    ]
    if engine == 1:  # arrays and bitmaps hardly compress: not worth TOAST's time
        statements.append("ALTER TABLE index_snapshots ALTER COLUMN body SET STORAGE EXTERNAL")
    return statements


# How many times each number's operation of a job and each CSV download were tried, and why a
# download failed: kept with the work, so that the bound on attempts holds across workers, hosts
# and restarts (docs/deployment.md, "Background work and faults").
_BACKGROUND_ATTEMPTS = [
    "ALTER TABLE phone_number_job_operations ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE csv_downloads ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE csv_downloads ADD COLUMN failure TEXT",
]


def _ordering(engine: int) -> list[str]:
    """How numbers come in through the API (docs/ordering.md): the available pool a search draws
    from, what each account's searches returned (only those, or numbers it holds reserved, may
    be ordered), reservations, number orders with their sub orders and numbers, each account's
    webhook URLs, the signing key pair every worker and host signs with, and the webhook outbox."""
    text = "TEXT" if engine == 0 else 'TEXT COLLATE "C"'
    key_bytes = "BLOB" if engine == 0 else "BYTEA"
    return [
        f"""CREATE TABLE available_numbers (
            phone_number {text} PRIMARY KEY,
            country_code TEXT NOT NULL,
            phone_number_type TEXT NOT NULL,
            national_destination_code TEXT NOT NULL,
            locality TEXT NOT NULL,
            administrative_area TEXT NOT NULL,
            rate_center TEXT NOT NULL,
            features TEXT NOT NULL,
            currency TEXT NOT NULL,
            monthly_cost TEXT NOT NULL,
            upfront_cost TEXT NOT NULL,
            quickship BOOLEAN NOT NULL,
            reservable BOOLEAN NOT NULL,
            vanity_format TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL,
            available_from BIGINT NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX available_numbers_search "
        "ON available_numbers(country_code, phone_number_type, phone_number)",
        # A search without a type: its page in number order, and its count, from the index alone
        # (docs/performance.md, "Searching the available pool").
        "CREATE INDEX available_numbers_country "
        "ON available_numbers(country_code, phone_number, available_from)",
        """CREATE TABLE available_number_pools (
            country_code TEXT NOT NULL,
            source TEXT NOT NULL,
            numbers BIGINT NOT NULL,
            made_at BIGINT NOT NULL,
            PRIMARY KEY (country_code, source)
        )""",
        f"""CREATE TABLE searched_numbers (
            account_id BIGINT NOT NULL REFERENCES accounts(id),
            phone_number {text} NOT NULL,
            searched_at BIGINT NOT NULL,
            PRIMARY KEY (account_id, phone_number)
        )""",
        """CREATE TABLE number_reservations (
            id TEXT PRIMARY KEY,
            account_id BIGINT NOT NULL REFERENCES accounts(id),
            status TEXT NOT NULL,
            customer_reference TEXT,
            errors TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )""",
        "CREATE INDEX number_reservations_account "
        "ON number_reservations(account_id, created_at, id)",
        f"""CREATE TABLE reserved_phone_numbers (
            id TEXT PRIMARY KEY,
            reservation_id TEXT NOT NULL REFERENCES number_reservations(id),
            account_id BIGINT NOT NULL REFERENCES accounts(id),
            phone_number {text} NOT NULL,
            status TEXT NOT NULL,
            errors TEXT,
            expires_at BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )""",
        "CREATE INDEX reserved_phone_numbers_held "
        "ON reserved_phone_numbers(phone_number, expires_at)",
        "CREATE INDEX reserved_phone_numbers_reservation "
        "ON reserved_phone_numbers(reservation_id, phone_number)",
        """CREATE TABLE number_orders (
            id TEXT PRIMARY KEY,
            account_id BIGINT NOT NULL REFERENCES accounts(id),
            status TEXT NOT NULL,
            connection_id TEXT,
            messaging_profile_id TEXT,
            billing_group_id TEXT,
            customer_reference TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            complete_after BIGINT NOT NULL,
            attempts BIGINT NOT NULL DEFAULT 0,
            claimed_by TEXT,
            lease_expires_at BIGINT
        )""",
        "CREATE INDEX number_orders_account ON number_orders(account_id, created_at, id)",
        "CREATE INDEX number_orders_open ON number_orders(status, complete_after)",
        """CREATE TABLE sub_number_orders (
            id TEXT PRIMARY KEY,
            order_id TEXT NOT NULL REFERENCES number_orders(id),
            account_id BIGINT NOT NULL REFERENCES accounts(id),
            country_code TEXT NOT NULL,
            phone_number_type TEXT NOT NULL,
            status TEXT NOT NULL,
            customer_reference TEXT,
            requirements TEXT NOT NULL,
            requirement_group_id TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )""",
        "CREATE INDEX sub_number_orders_account ON sub_number_orders(account_id, created_at, id)",
        "CREATE INDEX sub_number_orders_order ON sub_number_orders(order_id)",
        f"""CREATE TABLE number_order_phone_numbers (
            id TEXT PRIMARY KEY,
            order_id TEXT NOT NULL REFERENCES number_orders(id),
            sub_order_id TEXT NOT NULL REFERENCES sub_number_orders(id),
            account_id BIGINT NOT NULL REFERENCES accounts(id),
            position BIGINT NOT NULL,
            phone_number {text} NOT NULL,
            country_code TEXT NOT NULL,
            phone_number_type TEXT NOT NULL,
            locality TEXT NOT NULL,
            status TEXT NOT NULL,
            requirements_status TEXT NOT NULL,
            regulatory_requirements TEXT NOT NULL,
            bundle_id TEXT,
            requirement_group_id TEXT,
            deadline BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )""",
        "CREATE INDEX number_order_phone_numbers_account "
        "ON number_order_phone_numbers(account_id, created_at, id)",
        "CREATE INDEX number_order_phone_numbers_order "
        "ON number_order_phone_numbers(order_id, position)",
        "CREATE INDEX number_order_phone_numbers_sub_order "
        "ON number_order_phone_numbers(sub_order_id, position)",
        "ALTER TABLE accounts ADD COLUMN webhook_url TEXT",
        "ALTER TABLE accounts ADD COLUMN webhook_failover_url TEXT",
        f"""CREATE TABLE signing_keys (
            id INTEGER PRIMARY KEY,
            private_key {key_bytes} NOT NULL,
            public_key TEXT NOT NULL,
            created_at BIGINT NOT NULL
        )""",
        """CREATE TABLE webhook_deliveries (
            id TEXT PRIMARY KEY,
            account_id BIGINT NOT NULL REFERENCES accounts(id),
            event_type TEXT NOT NULL,
            data TEXT NOT NULL,
            occurred_at BIGINT NOT NULL,
            status TEXT NOT NULL,
            attempts BIGINT NOT NULL DEFAULT 0,
            next_attempt_at BIGINT NOT NULL,
            claimed_by TEXT,
            lease_expires_at BIGINT,
            delivered_to TEXT,
            delivered_at BIGINT,
            last_error TEXT,
            created_at BIGINT NOT NULL
        )""",
        "CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at)",
        "CREATE INDEX webhook_deliveries_account ON webhook_deliveries(account_id, created_at)",
    ]


# Whether an inventory holds each pool number, kept by the database itself on every write of
# `phone_numbers` and every number new to the pool, so that a search counts its matches from the
# pool's rows alone (docs/ordering.md, "The available pool"). Holds end by time: they stay in
# their own table.
# Every pool number an inventory holds marked so, in one pass over the pool: the mark's first
# values, and a large SQLite import's (which sets the row trigger aside: store/importer.py).
MARK_POOL_INVENTORY = (
    "UPDATE available_numbers SET in_inventory = TRUE WHERE in_inventory = FALSE AND EXISTS "
    "(SELECT 1 FROM phone_numbers p WHERE p.phone_number = available_numbers.phone_number)"
)


def _pool_inventory_mark(engine: int) -> list[str]:
    """The mark itself, and the pool's indexes of it: a search's page and its count read only
    the rows of its country, mark and equality filter (the folded ones as the search folds them,
    `Dialect.ascii_lower`), in number order."""
    fold = "lower({})" if engine == 0 else 'lower({} COLLATE "C")'
    filtered = {
        "locality": fold.format("locality"),
        "administrative_area": fold.format("administrative_area"),
        "rate_center": fold.format("rate_center"),
        "national_destination_code": "national_destination_code",
    }
    return [
        "ALTER TABLE available_numbers ADD COLUMN in_inventory BOOLEAN NOT NULL DEFAULT FALSE",
        MARK_POOL_INVENTORY,
        "DROP INDEX available_numbers_search",
        "CREATE INDEX available_numbers_search ON available_numbers"
        "(country_code, phone_number_type, in_inventory, phone_number, available_from)",
        "DROP INDEX available_numbers_country",
        "CREATE INDEX available_numbers_country "
        "ON available_numbers(country_code, in_inventory, phone_number, available_from)",
        # The count of a search without filters: half the width of the index above, half the time.
        "CREATE INDEX available_numbers_free "
        "ON available_numbers(country_code, in_inventory, available_from)",
        *(
            f"CREATE INDEX available_numbers_{name} "
            f"ON available_numbers(country_code, in_inventory, {column}, phone_number)"
            for name, column in filtered.items()
        ),
        # The holds in force, found by time (a search counts the ones of its matches).
        "CREATE INDEX reserved_phone_numbers_until "
        "ON reserved_phone_numbers(expires_at, status, account_id, phone_number)",
        "ANALYZE available_numbers",  # the planner's view of the new indexes: `tidy_pool`
    ]


_SQLITE_POOL_INVENTORY_MARK = [
    *_pool_inventory_mark(0),
    "CREATE TRIGGER available_number_into_inventory AFTER INSERT ON phone_numbers BEGIN "
    "UPDATE available_numbers SET in_inventory = TRUE WHERE phone_number = new.phone_number; END",
    "CREATE TRIGGER available_number_out_of_inventory AFTER DELETE ON phone_numbers BEGIN "
    "UPDATE available_numbers SET in_inventory = FALSE WHERE phone_number = old.phone_number; END",
    "CREATE TRIGGER available_number_renumbered AFTER UPDATE OF phone_number ON phone_numbers "
    "BEGIN UPDATE available_numbers SET in_inventory = FALSE "
    "WHERE phone_number = old.phone_number; "
    "UPDATE available_numbers SET in_inventory = TRUE WHERE phone_number = new.phone_number; END",
    "CREATE TRIGGER available_number_pooled AFTER INSERT ON available_numbers "
    "WHEN EXISTS (SELECT 1 FROM phone_numbers WHERE phone_number = new.phone_number) BEGIN "
    "UPDATE available_numbers SET in_inventory = TRUE WHERE phone_number = new.phone_number; END",
]
# PostgreSQL: once a statement, from its transition table (an import's COPY of thousands of
# rows runs one UPDATE, not one a row), the pool's rows locked in number order first, as
# `lock_numbers` locks them.
_POSTGRESQL_POOL_INVENTORY_MARK = [
    *_pool_inventory_mark(1),
    # Its argument: whether the statement's rows (`changed`) entered an inventory or left it.
    """CREATE FUNCTION available_numbers_mark_inventory() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM 1 FROM available_numbers a
            WHERE a.phone_number IN (SELECT phone_number FROM changed)
            ORDER BY a.phone_number FOR UPDATE;
        UPDATE available_numbers a SET in_inventory = TG_ARGV[0]::boolean FROM changed c
            WHERE a.phone_number = c.phone_number;
        RETURN NULL;
    END $$""",
    # Numbers new to the pool (generated, loaded) that an inventory holds already.
    """CREATE FUNCTION available_numbers_pooled() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE available_numbers a SET in_inventory = TRUE FROM changed c
            WHERE a.phone_number = c.phone_number AND EXISTS (SELECT 1 FROM phone_numbers p
                WHERE p.phone_number = c.phone_number OFFSET 0);
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION available_number_renumbered() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE available_numbers SET in_inventory = FALSE WHERE phone_number = OLD.phone_number;
        UPDATE available_numbers SET in_inventory = TRUE WHERE phone_number = NEW.phone_number;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER available_numbers_into_inventory AFTER INSERT ON phone_numbers "
    "REFERENCING NEW TABLE AS changed FOR EACH STATEMENT "
    "EXECUTE FUNCTION available_numbers_mark_inventory('true')",
    "CREATE TRIGGER available_numbers_out_of_inventory AFTER DELETE ON phone_numbers "
    "REFERENCING OLD TABLE AS changed FOR EACH STATEMENT "
    "EXECUTE FUNCTION available_numbers_mark_inventory('false')",
    "CREATE TRIGGER available_numbers_pooled AFTER INSERT ON available_numbers "
    "REFERENCING NEW TABLE AS changed FOR EACH STATEMENT "
    "EXECUTE FUNCTION available_numbers_pooled()",
    # A number's own digits never change through the API; a row trigger, so that the updates that
    # do not touch them capture nothing.
    "CREATE TRIGGER available_number_renumbered AFTER UPDATE OF phone_number ON phone_numbers "
    "FOR EACH ROW WHEN (OLD.phone_number IS DISTINCT FROM NEW.phone_number) "
    "EXECUTE FUNCTION available_number_renumbered()",
]


def _pool_number_endings(engine: int) -> list[str]:
    """Each pool number's digits (past the +) in reverse, and their index: a search of the digits
    a number ends with reads the range of the reversed ones that begin with them, rather than
    testing every number of the country (docs/ordering.md, "The available pool"). Computed by the
    database, so that every writer of the pool fills it: SQLite has no reverse(), so there it is
    the digits taken one by one from the 16th character back (E.164 has at most 15 digits).
    With them, a narrow index for the count of a search of a type alone."""
    if engine == 0:
        reversed_digits = " || ".join(f"substr(phone_number, {i}, 1)" for i in range(16, 1, -1))
        column = f"TEXT GENERATED ALWAYS AS ({reversed_digits}) VIRTUAL"
    else:
        column = 'TEXT COLLATE "C" GENERATED ALWAYS AS (reverse(substr(phone_number, 2))) STORED'
    return [
        f"ALTER TABLE available_numbers ADD COLUMN reversed_digits {column}",
        "CREATE INDEX available_numbers_ending ON available_numbers"
        "(country_code, in_inventory, reversed_digits, available_from, phone_number)",
        # As `available_numbers_free` serves the count of a search without filters.
        "CREATE INDEX available_numbers_typed_free "
        "ON available_numbers(country_code, phone_number_type, in_inventory, available_from)",
        "ANALYZE available_numbers",
    ]


MIGRATIONS: dict[str, list[list[str]]] = {
    "sqlite": [
        _base_schema(0),
        _SQLITE_DIGITS_INDEX,
        _DATA_VERSION,
        _NUMBER_CHANGES,
        _ACTIONS,
        _VOICEMAIL,
        _CSV_DOWNLOADS[0],
        _JOBS,
        _VOICE_SETTINGS,
        _MESSAGING_SETTINGS,
        _BILLING_GROUPS,
        [],  # the numbers' foreign keys stay
        _FAIR_RUNNERS,
        _index_snapshots(0),
        _BACKGROUND_ATTEMPTS,
        _ordering(0),
        _SQLITE_POOL_INVENTORY_MARK,
        _pool_number_endings(0),
    ],
    "postgresql": [
        _base_schema(1),
        _POSTGRESQL_DIGITS_INDEX,
        _DATA_VERSION,
        _NUMBER_CHANGES,
        _ACTIONS,
        _VOICEMAIL,
        _CSV_DOWNLOADS[1],
        _JOBS,
        _VOICE_SETTINGS,
        _MESSAGING_SETTINGS,
        _BILLING_GROUPS,
        _NUMBERS_FOREIGN_KEYS_DROPPED_ON_POSTGRESQL,
        _FAIR_RUNNERS,
        _index_snapshots(1),
        _BACKGROUND_ATTEMPTS,
        _ordering(1),
        _POSTGRESQL_POOL_INVENTORY_MARK,
        _pool_number_endings(1),
    ],
}


def migrate(connection: Connection) -> None:
    """Apply every migration the database has not seen yet, inside the caller's transaction."""
    if connection.dialect.name == "postgresql":
        # Several servers may start at once against one database: one migrates, the rest wait.
        connection.execute("SELECT pg_advisory_xact_lock(72627)")
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)"
    )
    applied = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
    for version, statements in enumerate(MIGRATIONS[connection.dialect.name], start=1):
        if version in applied:
            continue
        for statement in statements:
            connection.execute(statement)
        connection.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
            (version, int(time.time() * 1000)),
        )
