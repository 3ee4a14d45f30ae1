"""GET /pools, GET /pools/{name}, POST /pools (create or update), DELETE /pools/{name}.

Like Airflow's own tests (reference §8.1), each test starts from default_pool plus experimental_1
(0 slots) and experimental_2 (1 slot), each described by its name.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from slipstream.storage.db import session_scope
from slipstream.storage.models import Pool
from tests.api.support import (
    BASE,
    assert_error,
    assert_error_matching,
    assert_json,
    set_pools,
    snapshot,
)

EMPTY_NAME = "Pool name shouldn't be empty"
NAME_TOO_LONG = "Pool name can't be more than 256 characters"


def read_pools(settings) -> list[dict]:
    """Every pool as the API renders it, read straight from the table."""
    with session_scope(settings.database_url, write=False) as db:
        return [
            {
                "description": pool.description,
                "id": pool.id,
                "include_deferred": pool.include_deferred,
                "pool": pool.pool,
                "slots": pool.slots,
            }
            for pool in db.scalars(select(Pool).order_by(Pool.id))
        ]


def pool_json(settings, name: str) -> dict:
    return next(pool for pool in read_pools(settings) if pool["pool"] == name)


@pytest.fixture
def pools(app_settings):
    set_pools(app_settings, [("experimental_1", 0, "experimental_1"), ("experimental_2", 1, "experimental_2")])
    return read_pools(app_settings)


def create(client, body, **kwargs):
    if "content" in kwargs:
        return client.post(f"{BASE}/pools", **kwargs)
    return client.post(f"{BASE}/pools", json=body, **kwargs)


class TestListPools:
    def test_every_pool_by_id_default_pool_first(self, client, pools):
        default, first, second = pools
        assert default == {
            "description": "Default pool",
            "id": 1,
            "include_deferred": False,
            "pool": "default_pool",
            "slots": 128,
        }
        assert (first["pool"], first["slots"], first["description"]) == ("experimental_1", 0, "experimental_1")
        assert (second["pool"], second["slots"], second["description"]) == ("experimental_2", 1, "experimental_2")

        assert_json(client.get(f"{BASE}/pools"), 200, pools)

    def test_the_example_pool_exists_when_examples_are_loaded(self, client):
        assert_json(
            client.get(f"{BASE}/pools"),
            200,
            [
                {
                    "description": "Default pool",
                    "id": 1,
                    "include_deferred": False,
                    "pool": "default_pool",
                    "slots": 128,
                },
                {
                    "description": "Used by example_pool",
                    "id": 2,
                    "include_deferred": False,
                    "pool": "example_single_slot_pool",
                    "slots": 1,
                },
            ],
        )


class TestGetPool:
    def test_one_pool(self, client, app_settings, pools):
        assert_json(client.get(f"{BASE}/pools/experimental_2"), 200, pool_json(app_settings, "experimental_2"))

    def test_default_pool(self, client, pools):
        assert_json(
            client.get(f"{BASE}/pools/default_pool"),
            200,
            {"description": "Default pool", "id": 1, "include_deferred": False, "pool": "default_pool", "slots": 128},
        )

    def test_unknown(self, client, pools):
        assert_error(client.get(f"{BASE}/pools/foo"), 404, "Pool 'foo' doesn't exist")

    @pytest.mark.parametrize("name", ["%20", "%20%20", "%09"])
    def test_blank_name(self, client, pools, name):
        assert_error(client.get(f"{BASE}/pools/{name}"), 400, EMPTY_NAME)

    def test_name_longer_than_any_pool(self, client, pools):
        assert_error_matching(client.get(f"{BASE}/pools/{'x' * 257}"), 400, r"is too long")


class TestCreatePool:
    def test_creates_a_pool(self, client, app_settings, pools):
        response = create(client, {"name": "foo", "slots": 1, "description": ""})

        assert_json(response, 200, pool_json(app_settings, "foo"))
        assert response.json() == {
            "description": "",
            "id": response.json()["id"],
            "include_deferred": False,
            "pool": "foo",
            "slots": 1,
        }
        assert len(read_pools(app_settings)) == 4

    def test_description_is_optional(self, client, app_settings, pools):
        response = create(client, {"name": "foo", "slots": 3})

        assert_json(response, 200, pool_json(app_settings, "foo"))
        assert response.json()["description"] is None

    def test_include_deferred_is_stored(self, client, app_settings, pools):
        response = create(client, {"name": "foo", "slots": 3, "description": None, "include_deferred": True})

        assert_json(response, 200, pool_json(app_settings, "foo"))
        assert response.json()["include_deferred"] is True

    def test_airflow_2_7_client_body(self, client, app_settings, pools):
        response = create(client, {"name": "foo", "slots": 2, "description": "d", "include_deferred": False})

        assert_json(response, 200, pool_json(app_settings, "foo"))

    def test_an_existing_name_is_updated_and_keeps_its_id(self, client, app_settings, pools):
        before = pool_json(app_settings, "experimental_1")

        response = create(client, {"name": "experimental_1", "slots": 10, "description": "new"})

        assert_json(response, 200, {**before, "slots": 10, "description": "new"})
        assert read_pools(app_settings) == [
            pools[0],
            {**before, "slots": 10, "description": "new"},
            pools[2],
        ]

    def test_update_without_description_keeps_it(self, client, app_settings, pools):
        response = create(client, {"name": "experimental_1", "slots": 5})

        assert_json(response, 200, {**pools[1], "slots": 5, "description": "experimental_1"})

    def test_update_with_null_description_clears_it(self, client, app_settings, pools):
        response = create(client, {"name": "experimental_1", "slots": 5, "description": None})

        assert_json(response, 200, {**pools[1], "slots": 5, "description": None})

    def test_update_without_include_deferred_keeps_it(self, client, app_settings, pools):
        assert create(client, {"name": "experimental_1", "slots": 5, "include_deferred": True}).status_code == 200

        response = create(client, {"name": "experimental_1", "slots": 6})

        assert_json(response, 200, {**pools[1], "slots": 6, "include_deferred": True})

    def test_default_pool_can_be_resized(self, client, app_settings, pools):
        response = create(client, {"name": "default_pool", "slots": 4, "description": "Default pool"})

        assert_json(response, 200, {**pools[0], "slots": 4})

    def test_256_character_name(self, client, app_settings, pools):
        name = "x" * 256

        assert_json(create(client, {"name": name, "slots": 1}), 200, pool_json(app_settings, name))

    @pytest.mark.parametrize(
        "headers",
        [{"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}, {}],
        ids=["text-plain", "form-urlencoded", "none"],
    )
    def test_body_is_json_whatever_the_content_type(self, client, app_settings, pools, headers):
        response = create(client, None, content=b'{"name": "foo", "slots": 2}', headers=headers)

        assert_json(response, 200, pool_json(app_settings, "foo"))

    @pytest.mark.parametrize(
        ("slots", "stored"),
        [("7", 7), (" 7 ", 7), ("+3", 3), ("-1", -1), (-1, -1), (0, 0), (1.0, 1), (2**31 - 1, 2**31 - 1)],
    )
    def test_accepted_slots(self, client, app_settings, pools, slots, stored):
        response = create(client, {"name": "foo", "slots": slots})

        assert_json(response, 200, pool_json(app_settings, "foo"))
        assert response.json()["slots"] == stored

    @pytest.mark.parametrize(
        ("slots", "shown"),
        [
            (1.5, "1.5"),
            ("1.5", "1.5"),
            ("abc", "abc"),
            ("foo", "foo"),
            ("", ""),
            ("1e3", "1e3"),
            (True, "True"),
            (False, "False"),
            (2**31, "2147483648"),
            (2**64, "18446744073709551616"),
            (-2, "-2"),
            ("-2", "-2"),
            (1e300, "1e+300"),
            (None, "None"),
            ([1], "[1]"),
            ({}, "{}"),
        ],
    )
    def test_rejected_slots(self, client, app_settings, pools, slots, shown):
        before = snapshot(app_settings)

        assert_error(create(client, {"name": "foo", "slots": slots}), 400, f"Bad value for `slots`: {shown}")
        assert_error(create(client, {"name": "experimental_1", "slots": slots}), 400, f"Bad value for `slots`: {shown}")
        assert snapshot(app_settings) == before

    @pytest.mark.parametrize("raw", [b"NaN", b"Infinity", b"-Infinity"])
    def test_non_finite_slots_are_not_json(self, client, app_settings, pools, raw):
        # JSON has no NaN or Infinity: such a body is refused before it reaches the pool checks.
        before = snapshot(app_settings)

        response = create(client, None, content=b'{"name": "foo", "slots": ' + raw + b"}")

        assert_error_matching(response, 400, r"^Request body is not valid JSON")
        assert snapshot(app_settings) == before

    @pytest.mark.parametrize("name", ["", "    ", "\t\n"])
    def test_blank_name(self, client, app_settings, pools, name):
        before = snapshot(app_settings)

        assert_error(create(client, {"name": name, "slots": 1, "description": ""}), 400, EMPTY_NAME)
        assert len(read_pools(app_settings)) == 3
        assert snapshot(app_settings) == before

    def test_name_longer_than_256_characters(self, client, app_settings, pools):
        before = snapshot(app_settings)

        assert_error(create(client, {"name": "x" * 257, "slots": 1}), 400, NAME_TOO_LONG)
        assert snapshot(app_settings) == before

    def test_checks_run_in_airflows_order_empty_name_slots_length(self, client, pools):
        assert_error(create(client, {"name": " ", "slots": "abc"}), 400, EMPTY_NAME)
        assert_error(create(client, {"name": "x" * 300, "slots": "abc"}), 400, "Bad value for `slots`: abc")

    @pytest.mark.parametrize(
        ("body", "pattern"),
        [
            ({"slots": 1}, r"'name' is a required property"),
            ({"name": "foo"}, r"'slots' is a required property"),
            ({}, r"is a required property"),
            ({"name": "foo", "slots": 1, "extra": 1}, r"Additional properties are not allowed \('extra'"),
            ({"pool": "foo", "slots": 1}, r"'name' is a required property"),
            ({"name": 5, "slots": 1}, r"5 is not of type 'string'"),
            ({"name": None, "slots": 1}, r"None is not of type 'string'"),
            ({"name": True, "slots": 1}, r"True is not of type 'string'"),
            ({"name": ["a"], "slots": 1}, r"is not of type 'string'"),
            ({"name": "foo", "slots": 1, "description": 5}, r"5 is not of type 'string'"),
            ({"name": "foo", "slots": 1, "description": ["a"]}, r"is not of type 'string'"),
            ({"name": "foo", "slots": 1, "description": {"a": 1}}, r"is not of type 'string'"),
            ({"name": "foo", "slots": 1, "include_deferred": "yes"}, r"'yes' is not of type 'boolean'"),
            ({"name": "foo", "slots": 1, "include_deferred": None}, r"None is not of type 'boolean'"),
            ({"name": "foo", "slots": 1, "include_deferred": 1}, r"1 is not of type 'boolean'"),
        ],
    )
    def test_missing_extra_or_mistyped_keys(self, client, app_settings, pools, body, pattern):
        before = snapshot(app_settings)

        assert_error_matching(create(client, body), 400, pattern)
        assert snapshot(app_settings) == before

    @pytest.mark.parametrize("content", [b"[]", b'"foo"', b"null", b"5", b"", b'[{"name": "a", "slots": 1}]'])
    def test_body_that_is_not_an_object(self, client, app_settings, pools, content):
        before = snapshot(app_settings)

        assert_error_matching(create(client, None, content=content), 400, r".")
        assert snapshot(app_settings) == before


class TestDeletePool:
    def test_answers_the_deleted_pool(self, client, app_settings, pools):
        deleted = pool_json(app_settings, "experimental_2")

        assert_json(client.delete(f"{BASE}/pools/experimental_2"), 200, deleted)

        assert read_pools(app_settings) == pools[:2]
        assert_error(client.get(f"{BASE}/pools/experimental_2"), 404, "Pool 'experimental_2' doesn't exist")

    def test_unknown(self, client, app_settings, pools):
        before = snapshot(app_settings)

        assert_error(client.delete(f"{BASE}/pools/foo"), 404, "Pool 'foo' doesn't exist")
        assert snapshot(app_settings) == before

    def test_default_pool_cannot_be_deleted(self, client, app_settings, pools):
        before = snapshot(app_settings)

        assert_error(client.delete(f"{BASE}/pools/default_pool"), 400, "default_pool cannot be deleted")
        assert snapshot(app_settings) == before

    @pytest.mark.parametrize("name", ["%20", "%20%20%20"])
    def test_blank_name(self, client, app_settings, pools, name):
        before = snapshot(app_settings)

        assert_error(client.delete(f"{BASE}/pools/{name}"), 400, EMPTY_NAME)
        assert snapshot(app_settings) == before

    def test_a_deleted_pool_can_be_created_again(self, client, app_settings, pools):
        assert client.delete(f"{BASE}/pools/experimental_1").status_code == 200

        response = create(client, {"name": "experimental_1", "slots": 2})

        assert_json(response, 200, pool_json(app_settings, "experimental_1"))
        assert len(read_pools(app_settings)) == 3
