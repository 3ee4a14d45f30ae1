"""Bodies are validated as the document json.loads reads (Connexion's parser, and the handler's)."""

from __future__ import annotations

import json

import pytest

from slipstream.api.http import loads_like_json_module

BODIES = [
    b'{"run_id": "r", "conf": {"a": [1, 2.5, -0.0, null, true, "\\u00e9"]}}',
    b"18446744073709551616",  # past 64 bits: orjson alone would read a float
    b"-9223372036854775809",
    b'{"slots": 18446744073709551615, "n": -9223372036854775808}',  # the edges orjson keeps as ints
    b'{"id": "12345678901234567890123"}',  # long digits inside a string
    b"[1e300, 0.1, 123456789012345678.5]",
    '"caf\u00e9 \u2713"'.encode(),
]


@pytest.mark.parametrize("body", BODIES, ids=lambda b: b.decode()[:40])
def test_the_document_is_what_json_loads_reads(body):
    expected = json.dumps(json.loads(body))  # as text: 2**64 must stay an int, not become a float
    assert json.dumps(loads_like_json_module(body)) == expected
    assert json.dumps(loads_like_json_module(body.decode())) == expected
