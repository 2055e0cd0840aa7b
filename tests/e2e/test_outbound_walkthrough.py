"""Outbound on fed-in data (docs/feeds.md, step 5): the IBM Telco customers, the example catalog's outbound
campaign and an audience loaded into its wave; agents pull from the worklist of the real server on loopback in
the order an independent reading of the CSV predicts, record call results and an outcome, and the report shows
the figures. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import json
import uuid
import zoneinfo

import pytest
import requests

from server_stub.live import live_server
from tests.e2e.test_feed_walkthrough import CATALOG, CONDITIONS, server_cli

CAMPAIGN = "CMP_RETENTION_CALLS"
pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


def audience_by_value(csv_path) -> list[str]:
    """The audience straight from the CSV, in the worklist's order for members of one priority with no
    responses yet: monthly charge (expected value × the same prior acceptance) high to low, then id."""
    with csv_path.open(encoding="utf-8", newline="") as handle:
        rows = [(-round(float(r["MonthlyCharges"]) * 100), r["customerID"]) for r in csv.DictReader(handle)
                if r["Contract"] == "Month-to-month" and int(r["tenure"]) < 12]
    return [customer for _, customer in sorted(rows)]


def in_example_hours(now: dt.datetime) -> bool:
    local = now.astimezone(zoneinfo.ZoneInfo("Asia/Shanghai"))
    minute = local.hour * 60 + local.minute
    return 9 * 60 <= minute < 12 * 60 or 13 * 60 + 30 <= minute < 20 * 60 + 30


def test_ibm_customers_fed_into_an_outbound_wave_are_worked_from_the_worklist(database_url, shared_data_dir,
                                                                             tmp_path):
    ibm = shared_data_dir / "telco_customer_churn_ibm.csv"
    server_cli("db", "upgrade", database_url=database_url)
    server_cli("import", "customers", str(ibm), "--mapping", "ibm-telco", database_url=database_url)
    server_cli("import", "catalog", str(CATALOG), database_url=database_url)
    expected = audience_by_value(ibm)
    applied = server_cli("audience", "apply", "--campaign", CAMPAIGN, "--wave", "1", *CONDITIONS,
                         "--reason", "按月计费新客户挽留", database_url=database_url)
    assert f"{len(expected):,}" in applied.stdout + applied.stderr
    tokens = [server_cli("token", "create", "--agent", f"caller-{n}", database_url=database_url).stdout.strip()
              for n in range(2)]
    lead = server_cli("token", "create", "--agent", "lead-1", "--role", "lead", database_url=database_url)
    lead_token = lead.stdout.strip()

    def take(server, token: str) -> dict:
        response = requests.post(f"{server.base_url}/v1/worklist/next", timeout=30,
                                 headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        return response.json()

    with live_server(database_url, tmp_path / "logs") as server:
        first = take(server, tokens[0])
    if not in_example_hours(dt.datetime.now(dt.UTC)) and first["status"] == "empty":
        # The example's calling hours are Beijing office hours: out of them the worklist says so and when it
        # opens. An operator widening the hours is one more catalog import; do that to go on at any hour.
        assert first["empty"]["code"] == "outside_calling_hours" and first["empty"]["next_at"]
        wide = tmp_path / "catalog.toml"
        wide.write_text(CATALOG.read_text(encoding="utf-8").replace(
            'calling_hours = ["09:00-12:00", "13:30-20:30"]', 'calling_hours = ["00:00-24:00"]'), encoding="utf-8")
        server_cli("import", "catalog", str(wide), database_url=database_url)
        with live_server(database_url, tmp_path / "logs1") as server:
            first = take(server, tokens[0])

    with live_server(database_url, tmp_path / "logs2") as server:
        assert first["status"] == "leased", first
        second = take(server, tokens[1])
        assert [first["customer_id"], second["customer_id"]] == expected[:2]
        assert first["campaign"]["campaign_id"] == CAMPAIGN and first["wave"]["seq"] == 1
        assert first["why"]["member_reason"] == "按月计费新客户挽留"
        pop = first["pop"]
        assert pop["customer"]["customer_id"] == expected[0] and pop["contact"]["channel"] == "outbound_call"
        assert pop["contact"]["campaign"]["campaign_id"] == CAMPAIGN
        assert all(offer["reason"]["zh"] and offer["reason"]["en"] for offer in pop["offers"])

        def call(token: str, lease: dict, result: str) -> dict:
            response = requests.post(f"{server.base_url}/v1/outbound/attempts", timeout=30,
                                     headers={"Authorization": f"Bearer {token}"},
                                     json={"attempt_id": str(uuid.uuid4()), "lease_id": lease["lease_id"],
                                           "result": result, "called_at": dt.datetime.now(dt.UTC).isoformat()})
            assert response.status_code == 200, response.text
            return response.json()

        connected = call(tokens[0], first["lease"], "connected")
        busy = call(tokens[1], second["lease"], "busy")
        assert connected["closed_reason"] == "connected" and busy["next_attempt_at"]
        outcome = {"outcome_id": str(uuid.uuid4()), "decision_id": pop["decision_id"],
                   "customer_id": expected[0], "offer_id": "RET_CONTRACT_12M", "result": "declined",
                   "recorded_at": dt.datetime.now(dt.UTC).isoformat()}
        stored = requests.post(f"{server.base_url}/v1/outcomes", json={"outcomes": [outcome]}, timeout=30,
                               headers={"Authorization": f"Bearer {tokens[0]}"}).json()
        assert stored["accepted"] == 1, stored
        # The second agent's next customer is the third of the list (the second waits for its retry).
        assert take(server, tokens[1])["customer_id"] == expected[2]
        figures = requests.get(f"{server.base_url}/v1/outbound/figures", timeout=30,
                               headers={"Authorization": f"Bearer {lead_token}"}).json()
    whole = next(r for r in figures["rows"] if r["wave"] is None)
    assert (whole["attempts"], whole["connected"], whole["connect_rate"], whole["accepted"]) == (2, 1, 0.5, 0)
    report = server_cli("report", "outbound", "--json", database_url=database_url)
    assert json.loads(report.stdout)["rows"] == figures["rows"]
    table = server_cli("report", "outbound", "--lang", "zh_CN", database_url=database_url).stdout
    assert "外呼接通率" in table and "50.0%" in table
