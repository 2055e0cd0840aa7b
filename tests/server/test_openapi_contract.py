"""The committed OpenAPI document is the contract: it must match what the server serves."""

from __future__ import annotations

import json

from server_stub.api.openapi import COMMITTED_PATH, openapi_document


def test_committed_openapi_matches_the_server(api):
    committed = json.loads(COMMITTED_PATH.read_text(encoding="utf-8"))
    served = api.client.get("/openapi.json").json()
    assert served == openapi_document()
    assert committed == json.loads(json.dumps(served)), (
        "resources/openapi/server-v1.json drifted from the server: review the API change, then run "
        "`callcue-server openapi -o resources/openapi/server-v1.json`"
    )


def test_contract_covers_every_v1_operation():
    paths = json.loads(COMMITTED_PATH.read_text(encoding="utf-8"))["paths"]
    assert set(paths) == {"/v1/health", "/v1/me", "/v1/pop", "/v1/outcomes", "/v1/outcomes/{outcome_id}/retraction", "/v1/customers", "/v1/offers", "/v1/campaigns",
                          "/v1/worklist/next", "/v1/worklist/leases/{lease_id}/renew",
                          "/v1/worklist/leases/{lease_id}/release", "/v1/outbound/attempts", "/v1/outbound/figures",
                          "/v1/outbound/campaigns"}
    assert set(paths["/v1/worklist/next"]) == {"get", "post"}  # POST takes the lease; GET kept (issue 16's name)
    outcome_item = paths["/v1/outcomes"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert outcome_item  # the item schema is documented even though items are checked one by one
