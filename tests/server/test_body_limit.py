"""The server's body limit (server_stub/api/middleware.py): a body over the limit gets the documented 413
`body_too_large` whether its Content-Length says so or a chunked stream only shows it on the way; FastAPI's
400 "There was an error parsing the body" never answers in its place (issue 14, point 7)."""

from __future__ import annotations

import json

import requests

from tests.gui.conftest import server  # noqa: F401 - the real server on loopback (module scope)
from tests.server.factories import add_customer
from tests.server.test_pop_rules import outcome

LIMIT = 1024 * 1024  # server_stub.api.app.DEFAULT_MAX_BODY_BYTES


def chunks(data: bytes, size: int = 64 * 1024):
    """A body without Content-Length: sent as Transfer-Encoding: chunked (or ASGI messages with more_body)."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_a_chunked_body_over_the_limit_gets_413_and_one_within_it_is_served(api):
    add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")
    headers = {**api.headers(), "Content-Type": "application/json"}
    huge = json.dumps({"outcomes": [outcome(doc, "declined", "CARE-CHECKUP", note="x" * 2_000_000)]}).encode()
    too_big = api.client.post("/v1/outcomes", content=chunks(huge), headers=headers)
    assert too_big.status_code == 413, too_big.text
    assert too_big.json() == {"error": {"code": "body_too_large",
                                        "message": "The request body is larger than 1024 KiB; send smaller batches."}}
    # A valid batch just over the limit (trailing JSON whitespace), in small pieces: refused, not applied.
    item = outcome(doc, "declined", "CARE-CHECKUP")
    edge = json.dumps({"outcomes": [item]}).encode()
    edge += b" " * (LIMIT - len(edge) + 1)
    assert len(edge) == LIMIT + 1
    refused = api.client.post("/v1/outcomes", content=chunks(edge, 4096), headers=headers)
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "body_too_large", refused.text
    # Within the limit, chunked, is served as usual: the refused outcome was never stored.
    served = api.client.post("/v1/outcomes", content=chunks(json.dumps({"outcomes": [item]}).encode(), 7),
                             headers=headers)
    assert served.status_code == 200 and served.json()["accepted"] == 1, served.text


def test_a_chunked_body_over_the_limit_gets_413_over_a_real_socket(server):  # noqa: F811 - the fixture
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    body = b'{"outcomes": [{"note": "' + b"x" * (3 * LIMIT) + b'"}]}'
    with requests.Session() as session:
        refused = session.post(f"{server.base_url}/v1/outcomes", data=chunks(body), headers=headers, timeout=30)
        assert refused.request.headers.get("Transfer-Encoding") == "chunked"
        assert refused.status_code == 413 and refused.json()["error"]["code"] == "body_too_large", refused.text
        # The rest of the refused body was read and dropped: the next request is answered normally.
        assert session.get(f"{server.base_url}/v1/health", timeout=10).status_code == 200
