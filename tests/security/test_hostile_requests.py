"""Hostile input: every request here answers 4xx in the JSON error shape, and nothing stored changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from tests.security.conftest import GOOD
from tests.security.support import assert_problem

BASE = "/api/experimental"
DAG = "example_bash_operator"
TRIGGER = f"{BASE}/dags/{DAG}/dag_runs"
POOLS = f"{BASE}/pools"
SQLI = "' OR '1'='1' --"
SQLI_DROP = "x'; DROP TABLE dag_run; --"
SQLI_PATH = "%27%20OR%20%271%27%3D%271%27%20--"
DROP_PATH = "x%27%3B%20DROP%20TABLE%20dag%3B%20--"
DEEP = 100_000
MIB = 1024 * 1024


@dataclass(frozen=True)
class Hostile:
    id: str
    method: str
    url: str
    status: int
    body: Any = None  # bytes are sent as they are; anything else as JSON
    content_type: str | None = None
    says: str | None = None  # a part of the error message, where the status alone could mislead


def pool(**fields: Any) -> dict[str, Any]:
    return {"name": "hostile", "slots": 1, **fields}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


CASES = [
    # Malformed JSON, under every content type a client might claim.
    Hostile("unterminated object", "POST", TRIGGER, 400, b"{"),
    Hostile("missing value", "POST", TRIGGER, 400, b'{"conf": }'),
    Hostile("trailing comma", "POST", POOLS, 400, b'{"name": "x", "slots": 1,}'),
    Hostile("single quotes", "POST", POOLS, 400, b"{'name': 'x', 'slots': 1}"),
    Hostile("bare NaN", "POST", TRIGGER, 400, b"NaN"),
    Hostile("two documents", "POST", TRIGGER, 400, b'{"conf": {}}{"conf": {}}'),
    Hostile("whitespace only body", "POST", POOLS, 400, b"   \n  "),
    Hostile("empty body", "POST", TRIGGER, 400, b""),
    Hostile("infinite number", "POST", TRIGGER, 400, b'{"conf": {"a": 1e999}}'),
    # Bodies that are not JSON at all.
    Hostile("form urlencoded", "POST", POOLS, 400, b"name=x&slots=1", "application/x-www-form-urlencoded"),
    Hostile("xml", "POST", POOLS, 400, b"<pool><name>x</name></pool>", "application/xml"),
    Hostile("plain text", "POST", TRIGGER, 400, b"please trigger", "text/plain"),
    Hostile(
        "multipart",
        "POST",
        POOLS,
        400,
        b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--b--\r\n',
        "multipart/form-data; boundary=b",
    ),
    Hostile("binary", "POST", TRIGGER, 400, b"\xff\xfe\x00\x01\x02", "application/octet-stream"),
    Hostile("invalid utf-8 inside a string", "POST", POOLS, 400, b'{"name": "\xff\xfe", "slots": 1}'),
    Hostile("lone surrogate escape", "POST", POOLS, 400, b'{"name": "\\ud800", "slots": 1}'),
    # Trigger bodies: wrong type for every field, and bodies that are not objects.
    Hostile("trigger body is an array", "POST", TRIGGER, 400, []),
    Hostile("trigger body is a string", "POST", TRIGGER, 400, "abc"),
    Hostile("trigger body is null", "POST", TRIGGER, 400, b"null"),
    Hostile("trigger body is a number", "POST", TRIGGER, 400, 5),
    Hostile("run_id number", "POST", TRIGGER, 400, {"run_id": 123}),
    Hostile("run_id array", "POST", TRIGGER, 400, {"run_id": ["a"]}),
    Hostile("run_id object", "POST", TRIGGER, 400, {"run_id": {"a": 1}}),
    Hostile("run_id boolean", "POST", TRIGGER, 400, {"run_id": True}),
    Hostile("conf array", "POST", TRIGGER, 400, {"conf": [1, 2]}),
    Hostile("conf number", "POST", TRIGGER, 400, {"conf": 5}),
    Hostile("conf boolean", "POST", TRIGGER, 400, {"conf": True}),
    Hostile("conf string not json", "POST", TRIGGER, 400, {"conf": "not json"}),
    Hostile("conf string holding an array", "POST", TRIGGER, 400, {"conf": "[1, 2]"}),
    Hostile("execution_date number", "POST", TRIGGER, 400, {"execution_date": 5}),
    Hostile("execution_date array", "POST", TRIGGER, 400, {"execution_date": ["2020-01-01"]}),
    Hostile("execution_date object", "POST", TRIGGER, 400, {"execution_date": {}}),
    Hostile("execution_date boolean", "POST", TRIGGER, 400, {"execution_date": True}),
    Hostile("replace_microseconds number", "POST", TRIGGER, 400, {"replace_microseconds": 5}),
    Hostile("replace_microseconds array", "POST", TRIGGER, 400, {"replace_microseconds": []}),
    Hostile("replace_microseconds object", "POST", TRIGGER, 400, {"replace_microseconds": {}}),
    # Pool bodies: wrong type for every field, missing and extra keys.
    Hostile("pool body is an array", "POST", POOLS, 400, []),
    Hostile("pool body is null", "POST", POOLS, 400, b"null"),
    Hostile("name number", "POST", POOLS, 400, pool(name=5)),
    Hostile("name null", "POST", POOLS, 400, pool(name=None)),
    Hostile("name array", "POST", POOLS, 400, pool(name=["x"])),
    Hostile("name object", "POST", POOLS, 400, pool(name={})),
    Hostile("name boolean", "POST", POOLS, 400, pool(name=True)),
    Hostile("slots word", "POST", POOLS, 400, pool(slots="abc")),
    Hostile("slots boolean", "POST", POOLS, 400, pool(slots=True)),
    Hostile("slots fraction", "POST", POOLS, 400, pool(slots=1.5)),
    Hostile("slots null", "POST", POOLS, 400, pool(slots=None)),
    Hostile("slots array", "POST", POOLS, 400, pool(slots=[1])),
    Hostile("slots object", "POST", POOLS, 400, pool(slots={})),
    Hostile("slots huge float", "POST", POOLS, 400, pool(slots=1e300)),
    Hostile("slots 2^63", "POST", POOLS, 400, pool(slots=2**63)),
    Hostile("slots below -1", "POST", POOLS, 400, pool(slots="-2")),
    Hostile("slots sql", "POST", POOLS, 400, pool(slots="1; DROP TABLE slot_pool")),
    Hostile("description number", "POST", POOLS, 400, pool(description=5)),
    Hostile("description array", "POST", POOLS, 400, pool(description=[])),
    Hostile("description object", "POST", POOLS, 400, pool(description={})),
    Hostile("description boolean", "POST", POOLS, 400, pool(description=True)),
    Hostile("include_deferred string", "POST", POOLS, 400, pool(include_deferred="yes")),
    Hostile("include_deferred number", "POST", POOLS, 400, pool(include_deferred=5)),
    Hostile("include_deferred null", "POST", POOLS, 400, pool(include_deferred=None)),
    Hostile("extra key", "POST", POOLS, 400, pool(evil="$(reboot)")),
    Hostile("missing slots", "POST", POOLS, 400, {"name": "x"}),
    Hostile("missing name", "POST", POOLS, 400, {"slots": 1}),
    # Huge and deeply nested bodies.
    Hostile("trigger body over 1 MiB", "POST", TRIGGER, 413, {"conf": {"blob": "x" * MIB}}),
    Hostile("pool body over 1 MiB", "POST", POOLS, 413, pool(description="x" * MIB)),
    Hostile("nested 100000 levels", "POST", TRIGGER, 400, b'{"conf": {"a": ' + nested(DEEP) + b"}}"),
    Hostile(
        "nested pool description",
        "POST",
        POOLS,
        400,
        b'{"name": "x", "slots": 1, "description": ' + nested(DEEP) + b"}",
    ),
    Hostile("conf string nested 100000 levels", "POST", TRIGGER, 400, {"conf": nested(DEEP).decode()}),
    Hostile(
        "conf string over orjson's depth limit", "POST", TRIGGER, 400, {"conf": '{"a": ' + nested(1100).decode() + "}"}
    ),
    # Deep enough to break the recursive json module behind orjson's back, shallow enough for orjson.
    Hostile(
        "body nested 600 levels", "POST", TRIGGER, 400, b'{"conf": {"a": ' + nested(600) + b"}}", says="deeper than"
    ),
    Hostile(
        "pool body nested 1000 levels",
        "POST",
        POOLS,
        400,
        b'{"name": "x", "slots": 1, "description": ' + nested(1000) + b"}",
        says="deeper than 512 levels",
    ),
    Hostile(
        "conf string nested 1000 levels",
        "POST",
        TRIGGER,
        400,
        {"conf": '{"a": ' + nested(1000).decode() + "}"},
        says="Dag Run conf nests JSON arrays or objects deeper than 512 levels",
    ),
    Hostile(
        "conf string nested 600 levels",
        "POST",
        TRIGGER,
        400,
        {"conf": '{"a": ' + nested(600).decode() + "}"},
        says="Dag Run conf nests JSON arrays or objects deeper than 512 levels",
    ),
    Hostile("60000 keys in a pool body", "POST", POOLS, 400, {f"k{i}": i for i in range(60_000)}),
    # Unicode and control characters.
    Hostile("pool name NUL", "POST", POOLS, 400, pool(name="bad\x00name")),
    Hostile("pool name bell", "POST", POOLS, 400, pool(name="bad\x07name")),
    Hostile("pool name escape sequence", "POST", POOLS, 400, pool(name="\x1b[31mred\x1b[0m")),
    Hostile("pool name C1 control", "POST", POOLS, 400, pool(name="bad\x9bname")),
    Hostile("pool name blank", "POST", POOLS, 400, pool(name=" \t ")),
    Hostile("pool description NUL", "POST", POOLS, 400, pool(description="a\x00b")),
    Hostile("run_id NUL", "POST", TRIGGER, 400, {"run_id": "run\x00"}),
    Hostile("run_id unicode", "POST", TRIGGER, 400, {"run_id": "ünïcødé"}),
    Hostile("run_id right-to-left override", "POST", TRIGGER, 400, {"run_id": "run\u202efdp.exe"}),
    Hostile("run_id newline", "POST", TRIGGER, 400, {"run_id": "run\nINJECTED LOG LINE"}),
    Hostile("run_id path traversal", "POST", TRIGGER, 400, {"run_id": "../../etc/passwd"}),
    Hostile("run_id shell", "POST", TRIGGER, 400, {"run_id": "$(touch /tmp/pwned)"}),
    Hostile("run_id over 250", "POST", TRIGGER, 400, {"run_id": "r" * 251}),
    Hostile("execution_date NUL", "POST", TRIGGER, 400, {"execution_date": "\x00"}),
    Hostile("execution_date overflow", "POST", TRIGGER, 400, {"execution_date": "9999-12-31T23:00:00-05:00"}),
    Hostile("execution_date 5000 digits", "POST", TRIGGER, 400, {"execution_date": "1" * 5000}),
    Hostile("execution_date emoji", "POST", TRIGGER, 400, {"execution_date": "📅"}),
    # SQL injection strings in every path parameter and body string.
    Hostile("sql in dag_id (paused)", "GET", f"{BASE}/dags/{SQLI_PATH}/paused", 404),
    Hostile("sql in dag_id (runs)", "GET", f"{BASE}/dags/{SQLI_PATH}/dag_runs", 400),
    Hostile("sql in dag_id (code)", "GET", f"{BASE}/dags/{SQLI_PATH}/code", 404),
    Hostile("sql in dag_id (trigger)", "POST", f"{BASE}/dags/{DROP_PATH}/dag_runs", 404, {}),
    Hostile("sql in dag_id (delete)", "DELETE", f"{BASE}/dags/{DROP_PATH}", 404),
    Hostile("sql in dag_id (delete alias)", "DELETE", f"{BASE}/dags/{DROP_PATH}/delete_dag", 404),
    Hostile("sql in dag_id (pause)", "GET", f"{BASE}/dags/{DROP_PATH}/paused/true", 404),
    Hostile("sql in execution_date", "GET", f"{BASE}/dags/{DAG}/dag_runs/{SQLI_PATH}", 400),
    Hostile("sql in task_id", "GET", f"{BASE}/dags/{DAG}/tasks/{SQLI_PATH}", 404),
    Hostile("sql in task_id (instance)", "GET", f"{BASE}/dags/{DAG}/dag_runs/2030-01-01/tasks/{SQLI_PATH}", 404),
    Hostile("sql in paused", "GET", f"{BASE}/dags/{DAG}/paused/{SQLI_PATH}", 400),
    Hostile("sql in pool name (get)", "GET", f"{BASE}/pools/{SQLI_PATH}", 404),
    Hostile("sql in pool name (delete)", "DELETE", f"{BASE}/pools/{DROP_PATH}", 404),
    Hostile("sql in lineage", "GET", f"{BASE}/lineage/{SQLI_PATH}/{SQLI_PATH}", 400),
    Hostile("sql in state", "GET", f"{BASE}/dags/{DAG}/dag_runs?state={SQLI_PATH}", 400),
    Hostile("sql in run_id", "POST", TRIGGER, 400, {"run_id": SQLI_DROP}),
    Hostile("sql in conf string", "POST", TRIGGER, 400, {"conf": SQLI}),
    Hostile("sql in body execution_date", "POST", TRIGGER, 400, {"execution_date": SQLI}),
    Hostile("sql in replace_microseconds", "POST", TRIGGER, 400, {"replace_microseconds": 1, "run_id": SQLI}),
    Hostile("sql in pool name with bad slots", "POST", POOLS, 400, pool(name=SQLI, slots=SQLI)),
    # Path traversal, NUL and odd encodings in ids.
    Hostile("dotdot slash in dag_id", "GET", f"{BASE}/dags/..%2F..%2Fetc%2Fpasswd/code", 404),
    Hostile("dotdot dag_id", "GET", f"{BASE}/dags/%2e%2e/code", 404),
    Hostile("dotdot in pool name", "GET", f"{BASE}/pools/..%2F..%2Fetc%2Fpasswd", 404),
    Hostile("dotdot route", "GET", f"{BASE}/%2e%2e/%2e%2e/etc/passwd", 404),
    Hostile("NUL in dag_id", "GET", f"{BASE}/dags/a%00b/code", 400),
    Hostile("NUL in dag_id (delete)", "DELETE", f"{BASE}/dags/{DAG}%00", 400),
    Hostile("NUL in task_id", "GET", f"{BASE}/dags/{DAG}/tasks/runme_0%00", 400),
    Hostile("NUL in pool name", "GET", f"{BASE}/pools/default_pool%00", 400),
    Hostile("NUL in pool name (delete)", "DELETE", f"{BASE}/pools/default_pool%00x", 400),
    Hostile("NUL in execution_date", "GET", f"{BASE}/dags/{DAG}/dag_runs/%00", 400),
    Hostile("invalid utf-8 in dag_id", "GET", f"{BASE}/dags/%ff%fe/paused", 404),
    Hostile("right-to-left override dag_id", "GET", f"{BASE}/dags/%E2%80%AEevil/paused", 404),
    Hostile("control characters in pool name path", "GET", f"{BASE}/pools/%1b%5b2J", 400),
    # Overlong ids.
    Hostile("dag_id 251 characters", "GET", f"{BASE}/dags/{'d' * 251}/paused", 400),
    Hostile("dag_id 8000 characters", "POST", f"{BASE}/dags/{'d' * 8000}/dag_runs", 400, {}),
    Hostile("task_id 251 characters", "GET", f"{BASE}/dags/{DAG}/tasks/{'t' * 251}", 400),
    Hostile("pool name 257 characters", "GET", f"{BASE}/pools/{'p' * 257}", 400),
    Hostile("pool name 257 characters in body", "POST", POOLS, 400, pool(name="p" * 257)),
    Hostile("state 51 characters", "GET", f"{BASE}/dags/{DAG}/dag_runs?state={'s' * 51}", 400),
    # Wrong methods and unknown routes.
    Hostile("PUT pools", "PUT", POOLS, 405, pool()),
    Hostile("PATCH pool", "PATCH", f"{BASE}/pools/default_pool", 405, {"slots": 1}),
    Hostile("POST test", "POST", f"{BASE}/test", 405, {}),
    Hostile("DELETE dag runs", "DELETE", TRIGGER, 405),
    Hostile("GET dag", "GET", f"{BASE}/dags/{DAG}", 405),
    Hostile("POST pause", "POST", f"{BASE}/dags/{DAG}/paused/true", 405, {}),
    Hostile("DELETE pools", "DELETE", POOLS, 405),
    Hostile("unknown route", "GET", f"{BASE}/dags", 404),
]


def send(client, case: Hostile):
    headers = dict(GOOD)
    if isinstance(case.body, bytes):
        content = case.body
    elif case.body is None and case.method in ("GET", "DELETE"):
        content = None
    else:
        content = orjson.dumps(case.body)
    if case.content_type:
        headers["Content-Type"] = case.content_type
    elif content is not None:
        headers["Content-Type"] = "application/json"
    return client.request(case.method, case.url, content=content, headers=headers)


def test_there_are_at_least_50_hostile_requests():
    assert len(CASES) >= 50
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_request_is_refused_and_changes_nothing(module_apps, case):
    app = module_apps["basic_auth"]
    before = app.snapshot()
    response = send(app.client, case)
    body = assert_problem(response, case.status)
    assert case.says is None or case.says in body["error"], body
    assert response.headers["cache-control"] == "no-store"
    assert app.snapshot() == before


def test_chunked_body_over_the_limit_is_413(module_apps):
    app = module_apps["basic_auth"]
    before = app.snapshot()

    def chunks():
        for _ in range(17):
            yield b'{"conf": {"blob": "' + b"x" * 65536

    response = app.client.post(TRIGGER, content=chunks(), headers=GOOD)
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)
    assert app.snapshot() == before


def test_body_limit_is_the_configured_one(make_app):
    app = make_app("basic_auth", max_body_bytes=1000)
    body = orjson.dumps(pool(description="x" * 1000))
    assert_problem(app.client.post(POOLS, content=body, headers=GOOD), 413)
    assert app.client.post(POOLS, json=pool(description="x" * 900), headers=GOOD).status_code == 200


def test_unauthenticated_hostile_bodies_are_refused_before_they_are_used(module_apps):
    app = module_apps["basic_auth"]
    before = app.snapshot()
    for body in ({"conf": "$(touch /tmp/pwned)"}, {"run_id": SQLI_DROP}):
        response = app.client.post(TRIGGER, json=body)
        assert_problem(response, 401)
    assert app.snapshot() == before


@pytest.mark.parametrize("name", [SQLI, SQLI_DROP, "<script>alert(1)</script>", "$(touch /tmp/pwned)", "ünïcødé 名前"])
def test_hostile_strings_are_stored_as_data(secure, name):
    """Strings that look like SQL, HTML or shell are legal pool names and round-trip unchanged."""
    created = secure.client.post(POOLS, json={"name": name, "slots": 2, "description": name}, headers=GOOD)
    assert created.status_code == 200, created.text
    assert (created.json()["pool"], created.json()["description"]) == (name, name)
    listed = secure.client.get(POOLS, headers=GOOD).json()
    assert [p["pool"] for p in listed] == ["default_pool", "example_single_slot_pool", name]
    tables = secure.snapshot()
    assert {"dag", "dag_run", "slot_pool", "user", "audit_log"} <= set(tables)
    assert len(tables["dag"]) == 4  # the shipped example DAGs
