"""The `numbers-api` command, run as a user runs it: a subprocess per command. What it did is read
back through the API (the `api` fixture or `make_client` on the same database file)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from numbers_api.demo import demo_records
from numbers_api.serialisation import format_timestamp
from numbers_api.settings import DATABASE_URL_VARIABLE
from numbers_api.store.database import Database
from numbers_api.store.schema import MIGRATIONS
from tests.conftest import ApiClient, make_client
from tests.support.contract import CONTRACT_URI, documents

LIST = "/v2/phone_numbers"


def run(
    *args: str,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`numbers-api [--database-url URL] ARGS`, with NUMBERS_API_DATABASE_URL only if `env` sets
    it."""
    command = [sys.executable, "-m", "numbers_api"]
    if database_url is not None:
        command += ["--database-url", database_url]
    environment = {k: v for k, v in os.environ.items() if k != DATABASE_URL_VARIABLE}
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env={**environment, **(env or {})},
        cwd=cwd,
        timeout=120,
        check=False,
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1]


def create_account(database_url: str, name: str) -> str:
    return last_line(run("accounts", "create", name, database_url=database_url))


def status(api: ApiClient, key: str) -> int:
    return api.get(LIST, key).status_code


def everything(api: ApiClient, key: str) -> list[dict[str, Any]]:
    """Every number of the key's account, in phone-number order."""
    response = api.get(LIST, key, "page[size]=250")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"]["total_pages"] <= 1
    return sorted(body["data"], key=lambda item: item["phone_number"])


def write_records(path: Path, *records: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


# --- accounts and keys --------------------------------------------------------------------------


def test_accounts_create_prints_a_working_key_as_the_last_line(
    api: ApiClient, database_url: str
) -> None:
    result = run("accounts", "create", "acme", database_url=database_url)
    assert result.returncode == 0, result.stderr
    key = result.stdout.splitlines()[-1]
    assert "acme" in result.stdout
    response = api.get(LIST, key)
    assert response.status_code == 200
    assert response.json()["meta"]["total_results"] == 0


def test_each_account_gets_its_own_key(api: ApiClient, database_url: str) -> None:
    first = create_account(database_url, "first")
    second = create_account(database_url, "second")
    assert first != second
    assert (status(api, first), status(api, second)) == (200, 200)


def test_accounts_create_with_a_name_taken_fails_clearly(api: ApiClient, database_url: str) -> None:
    key = create_account(database_url, "acme")
    result = run("accounts", "create", "acme", database_url=database_url)
    assert result.returncode == 1
    assert result.stderr.strip() == "numbers-api: an account named 'acme' already exists"
    assert result.stdout == ""
    assert status(api, key) == 200


def test_accounts_create_with_an_empty_name_fails(database_url: str) -> None:
    result = run("accounts", "create", " ", database_url=database_url)
    assert result.returncode == 1
    assert "must not be empty" in result.stderr


def test_keys_create_adds_another_working_key(api: ApiClient, database_url: str) -> None:
    first = create_account(database_url, "acme")
    second = last_line(run("keys", "create", "acme", database_url=database_url))
    assert second != first
    assert (status(api, first), status(api, second)) == (200, 200)


def test_keys_of_one_account_see_the_same_numbers(
    api: ApiClient, database_url: str, tmp_path: Path
) -> None:
    first = create_account(database_url, "acme")
    second = last_line(run("keys", "create", "acme", database_url=database_url))
    path = write_records(tmp_path / "in.jsonl", {"phone_number": "+19705550100"})
    assert run("import", str(path), "--account", "acme", database_url=database_url).returncode == 0
    assert everything(api, first) == everything(api, second)
    assert len(everything(api, first)) == 1


def test_keys_create_for_an_unknown_account_fails(database_url: str) -> None:
    result = run("keys", "create", "nobody", database_url=database_url)
    assert result.returncode == 1
    assert "no account named 'nobody'" in result.stderr


def test_revoked_key_stops_working_at_once(api: ApiClient, database_url: str) -> None:
    first = create_account(database_url, "acme")
    second = last_line(run("keys", "create", "acme", database_url=database_url))
    assert status(api, first) == 200
    result = run("keys", "revoke", first, database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert status(api, first) == 401  # the same running app, no restart
    assert status(api, second) == 200


def test_revoking_an_unknown_key_fails(database_url: str) -> None:
    create_account(database_url, "acme")
    result = run("keys", "revoke", "KEYnot-a-key", database_url=database_url)
    assert result.returncode == 1
    assert "no active key matches" in result.stderr


def test_revoking_a_key_twice_fails_the_second_time(database_url: str) -> None:
    key = create_account(database_url, "acme")
    assert run("keys", "revoke", key, database_url=database_url).returncode == 0
    assert run("keys", "revoke", key, database_url=database_url).returncode == 1


def test_keys_are_stored_only_as_hashes(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'numbers.db'}"  # the bytes on disk are read below
    key = create_account(database_url, "acme")
    key2 = last_line(run("keys", "create", "acme", database_url=database_url))
    database_file = tmp_path / "numbers.db"
    with closing(sqlite3.connect(database_file)) as connection:
        hashes = {row[0] for row in connection.execute("SELECT key_hash FROM api_keys")}
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert hashes == {hashlib.sha256(k.encode()).hexdigest() for k in (key, key2)}
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("numbers.db*"))
    assert key.encode() not in stored
    assert key2.encode() not in stored


# --- choosing the database -----------------------------------------------------------------------


def test_database_url_option_chooses_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chosen.db'}"
    key = create_account(url, "acme")
    assert (tmp_path / "chosen.db").is_file()
    assert status(make_client(url), key) == 200


def test_relative_database_url_is_relative_to_the_working_directory(tmp_path: Path) -> None:
    key = last_line(
        run("accounts", "create", "acme", database_url="sqlite:///rel.db", cwd=tmp_path)
    )
    assert (tmp_path / "rel.db").is_file()
    assert status(make_client(f"sqlite:///{tmp_path / 'rel.db'}"), key) == 200


def test_environment_variable_chooses_the_database_when_no_option_is_given(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    result = run("accounts", "create", "acme", env={DATABASE_URL_VARIABLE: url}, cwd=tmp_path)
    key = last_line(result)
    assert (tmp_path / "from-env.db").is_file()
    assert not (tmp_path / "numbers.db").exists()
    assert status(make_client(url), key) == 200


def test_option_wins_over_the_environment_variable(tmp_path: Path) -> None:
    option = f"sqlite:///{tmp_path / 'option.db'}"
    variable = f"sqlite:///{tmp_path / 'variable.db'}"
    result = run(
        "accounts",
        "create",
        "acme",
        database_url=option,
        env={DATABASE_URL_VARIABLE: variable},
        cwd=tmp_path,
    )
    key = last_line(result)
    assert (tmp_path / "option.db").is_file()
    assert not (tmp_path / "variable.db").exists()
    assert status(make_client(option), key) == 200


def test_default_database_is_numbers_db_in_the_working_directory(tmp_path: Path) -> None:
    key = last_line(run("accounts", "create", "acme", cwd=tmp_path))
    assert (tmp_path / "numbers.db").is_file()
    assert status(make_client(f"sqlite:///{tmp_path / 'numbers.db'}"), key) == 200


def test_unsupported_database_url_is_refused(tmp_path: Path) -> None:
    result = run("accounts", "create", "acme", database_url="mysql://db/x", cwd=tmp_path)
    assert result.returncode == 2
    assert "unsupported database URL" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_unreachable_postgresql_is_a_clear_error(tmp_path: Path) -> None:
    url = "postgresql://127.0.0.1:1/none?connect_timeout=2"
    result = run("accounts", "create", "acme", database_url=url, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"numbers-api: cannot connect to {url}")
    assert "Traceback" not in result.stderr


def test_database_opened_again_keeps_its_data_and_is_migrated_once(
    tmp_path: Path, database_url: str
) -> None:
    key = create_account(database_url, "acme")
    path = write_records(tmp_path / "in.jsonl", {"phone_number": "+19705550100", "tags": ["a"]})
    assert run("import", str(path), "--account", "acme", database_url=database_url).returncode == 0

    def migrations() -> list[tuple[int, int]]:
        database = Database(database_url)
        rows = database.connection().execute("SELECT version, applied_at FROM schema_migrations")
        applied = [(int(version), int(at)) for version, at in rows]
        database.close()
        return sorted(applied)

    applied = migrations()
    assert [version for version, _ in applied] == list(range(1, len(MIGRATIONS["sqlite"]) + 1))
    assert run("keys", "create", "acme", database_url=database_url).returncode == 0
    assert migrations() == applied
    client = make_client(database_url)
    numbers = everything(client, key)
    assert [(n["phone_number"], n["tags"]) for n in numbers] == [("+19705550100", ["a"])]


# --- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        ((), ("--database-url", "--version", "accounts", "keys", "import", "demo", "serve")),
        (("accounts",), ("create",)),
        (("accounts", "create"), ("NAME",)),
        (("keys",), ("create", "revoke")),
        (("keys", "create"), ("NAME",)),
        (("keys", "revoke"), ("KEY",)),
        (("import",), ("FILE", "--account", "line N: FIELD: REASON")),
        (("demo",), ("--numbers", "--seed", "10000")),
        (("serve",), ("--host", "--port", "--workers")),
    ],
    ids=[
        "numbers-api",
        "accounts",
        "accounts create",
        "keys",
        "keys create",
        "keys revoke",
        "import",
        "demo",
        "serve",
    ],
)
def test_help_of_each_command_exits_0_and_names_its_options(
    tmp_path: Path, command: tuple[str, ...], mentions: tuple[str, ...]
) -> None:
    result = run(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: numbers-api")
    for word in mentions:
        assert word in result.stdout
    assert list(tmp_path.iterdir()) == []  # help opens no database


# --- demo ---------------------------------------------------------------------------------------


def run_demo(database_url: str, *args: str) -> str:
    """`numbers-api demo ARGS`; returns the key it prints last."""
    return last_line(run("demo", *args, database_url=database_url))


def spec_example() -> dict[str, Any]:
    schemas = documents()[CONTRACT_URI]["components"]["schemas"]
    example: dict[str, Any] = schemas["PhoneNumberDetailed"]["example"]
    return example


def test_demo_makes_account_demo_with_n_numbers_and_prints_its_key(
    api: ApiClient, database_url: str
) -> None:
    key = run_demo(database_url, "--numbers", "50")
    response = api.get(LIST, key, "page[size]=1")
    assert response.status_code == 200
    assert response.json()["meta"]["total_results"] == 50


def test_demo_account_is_named_demo(api: ApiClient, database_url: str) -> None:
    run_demo(database_url, "--numbers", "5")
    second_key = last_line(run("keys", "create", "demo", database_url=database_url))
    assert api.get(LIST, second_key, "page[size]=1").json()["meta"]["total_results"] == 5


def test_demo_includes_the_spec_example_record(api: ApiClient, database_url: str) -> None:
    key = run_demo(database_url, "--numbers", "50")
    response = api.get(LIST, key, "filter[phone_number]=9705555098")
    assert response.status_code == 200
    assert response.json()["data"] == [spec_example()]


def test_demo_numbers_are_realistic(api: ApiClient, database_url: str) -> None:
    key = run_demo(database_url, "--numbers", "50")
    numbers = everything(api, key)
    assert len({n["phone_number"] for n in numbers}) == 50
    assert len({n["id"] for n in numbers}) == 50
    assert len({n["country_iso_alpha2"] for n in numbers}) > 1
    assert len({n["status"] for n in numbers}) > 1
    assert any(n["connection_name"] for n in numbers)
    assert any(n["tags"] for n in numbers)


def test_demo_numbers_are_updated_after_their_creation_and_never_in_the_future() -> None:
    now = format_timestamp(int(time.time() * 1000))
    for record in demo_records(5000, seed=3, taken=set()):
        assert record["created_at"] <= record["updated_at"] <= now, record


def test_demo_with_the_same_seed_gives_the_same_numbers(tmp_path: Path) -> None:
    first_url = f"sqlite:///{tmp_path / 'first.db'}"
    second_url = f"sqlite:///{tmp_path / 'second.db'}"
    first = everything(
        make_client(first_url), run_demo(first_url, "--numbers", "50", "--seed", "7")
    )
    second = everything(
        make_client(second_url), run_demo(second_url, "--numbers", "50", "--seed", "7")
    )
    assert first == second


def test_demo_with_another_seed_gives_other_numbers(tmp_path: Path) -> None:
    first_url = f"sqlite:///{tmp_path / 'first.db'}"
    second_url = f"sqlite:///{tmp_path / 'second.db'}"
    first = everything(
        make_client(first_url), run_demo(first_url, "--numbers", "50", "--seed", "1")
    )
    second = everything(
        make_client(second_url), run_demo(second_url, "--numbers", "50", "--seed", "2")
    )
    shared = {n["phone_number"] for n in first} & {n["phone_number"] for n in second}
    assert shared == {"+19705555098"}  # only the spec's example is in both


def test_demo_run_twice_resets_the_account(api: ApiClient, database_url: str) -> None:
    run_demo(database_url, "--numbers", "50")
    result = run("demo", "--numbers", "20", "--seed", "3", database_url=database_url)
    assert result.returncode == 0, result.stderr
    key = result.stdout.splitlines()[-1]
    numbers = everything(api, key)
    assert len(numbers) == 20
    assert "+19705555098" in {n["phone_number"] for n in numbers}


def test_demo_leaves_other_accounts_alone(
    api: ApiClient, database_url: str, tmp_path: Path
) -> None:
    other = create_account(database_url, "other")
    path = write_records(tmp_path / "in.jsonl", {"phone_number": "+19705550100"})
    assert run("import", str(path), "--account", "other", database_url=database_url).returncode == 0
    run_demo(database_url, "--numbers", "10")
    run_demo(database_url, "--numbers", "10")
    assert [n["phone_number"] for n in everything(api, other)] == ["+19705550100"]


# --- database URLs ------------------------------------------------------------------------------


def test_a_database_url_that_cannot_be_opened_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    url = f"sqlite:///{tmp_path}/a-file/numbers.db"
    result = run("accounts", "create", "acme", database_url=url)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"numbers-api: cannot open {url}: ")
    assert len(result.stderr.splitlines()) == 1


def test_a_file_that_is_not_a_database_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("these are not the numbers you are looking for\n" * 100)
    result = run("accounts", "create", "acme", database_url=f"sqlite:///{tmp_path}/notes.db")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "file is not a database" in result.stderr


def test_a_database_password_is_never_printed() -> None:
    url = "postgresql://numbers:s3cret-pw@127.0.0.1:1/numbers?connect_timeout=2"
    result = run("accounts", "create", "acme", database_url=url)
    assert result.returncode == 2
    assert "s3cret-pw" not in result.stderr
    assert "numbers:***@127.0.0.1:1" in result.stderr
