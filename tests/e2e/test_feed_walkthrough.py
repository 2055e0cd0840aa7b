"""docs/feeds.md's walk-through, as a carrier runs it, on SQLite and PostgreSQL: the real CLI in child
processes and the real server on loopback. From the IBM Telco data set (real customers) and the example
catalog: import customers, import the catalog, preview and apply an audience ("month-to-month contract and
tenure under 12 months"), start the server and pop 7590-VHVEG: offers with reasons, the campaign, wave n/m
and contact guidance — then the panel renders that very document."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys

import pytest
import requests

from server_stub.live import live_server
from tests.conftest import REPO_ROOT

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

CATALOG = REPO_ROOT / "resources" / "feeds" / "catalog.example.toml"
CAMPAIGN, WAVE = "CMP_NEW_CUSTOMER_CARE", 2  # the example catalog's campaign whose current wave is inbound
CUSTOMER = "7590-VHVEG"  # the first IBM customer: month-to-month, one month with the carrier
CONDITIONS = ("--where", "contract == month_to_month", "--where", "tenure_months < 12")

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


def server_cli(*args: str, database_url: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "server_stub.cli", *args, "--database-url", database_url],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "TERM": "dumb"})
    if check:
        assert done.returncode == 0, f"{args[:2]} exited {done.returncode}: {done.stderr}\n{done.stdout}"
    return done


def independent_count(csv_path) -> int:
    """The audience counted straight from the CSV, without CallCue's mapping, importer or SQL."""
    with csv_path.open(encoding="utf-8", newline="") as handle:
        return sum(1 for row in csv.DictReader(handle)
                   if row["Contract"] == "Month-to-month" and int(row["tenure"]) < 12)


def test_walkthrough_from_ibm_customers_to_a_pop_with_campaign_and_wave(database_url, shared_data_dir, tmp_path,
                                                                       qtbot):
    ibm = shared_data_dir / "telco_customer_churn_ibm.csv"
    server_cli("db", "upgrade", database_url=database_url)
    customers = server_cli("import", "customers", str(ibm), "--mapping", "ibm-telco", database_url=database_url)
    assert "7,043" in customers.stdout + customers.stderr

    # Before the catalog there is nothing to pitch: the starting point.
    server_cli("import", "catalog", str(CATALOG), database_url=database_url)
    again = server_cli("import", "catalog", str(CATALOG), database_url=database_url)
    assert "nothing changed" in (again.stdout + again.stderr).lower()

    expected = independent_count(ibm)
    assert expected > 1000  # the data set's real share of new month-to-month customers
    preview = server_cli("audience", "preview", "--campaign", CAMPAIGN, "--wave", str(WAVE), *CONDITIONS,
                         "--json", database_url=database_url)
    figures = json.loads(preview.stdout.strip().splitlines()[-1])
    assert figures["count"] == expected
    applied = server_cli("audience", "apply", "--campaign", CAMPAIGN, "--wave", str(WAVE), *CONDITIONS,
                         "--reason", "新入网按月计费客户", database_url=database_url)
    assert f"{expected:,}" in applied.stdout + applied.stderr or str(expected) in applied.stdout + applied.stderr

    token = server_cli("token", "create", "--agent", "walk-agent", database_url=database_url).stdout.strip()
    with live_server(database_url, tmp_path / "logs") as server:
        response = requests.get(f"{server.base_url}/v1/pop", params={"customer_id": CUSTOMER},
                                headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    pop = response.json()

    pitchable = [offer for offer in pop["offers"] if not offer["suppressed"]]
    assert pitchable, "no offer to pitch on a fed-in world"
    assert all(offer["reason"]["zh"] and offer["reason"]["en"] for offer in pop["offers"])
    assert {offer["offer_id"] for offer in pitchable} & {"RET_CONTRACT_12M", "RBT_VIDEO", "ADDON_DATA_30G"}
    contact = pop["contact"]
    assert contact["campaign"]["campaign_id"] == CAMPAIGN
    assert contact["wave"]["seq"] == WAVE and contact["wave"]["of"] == 3
    assert contact["wave"]["channel"] == "inbound_call"
    assert contact["contacts_max"] is not None and contact["eligible_now"] is True
    assert contact["member"]["reason"] == "新入网按月计费客户"
    # The tenure condition of the loyalty gift: a one-month customer sees it greyed, with the catalog's words.
    gift = next(offer for offer in pop["offers"] if offer["offer_id"] == "CARE_LOYALTY_GIFT")
    assert gift["suppressed"] and any("6" in reason["zh"] for reason in gift["suppressed_by"])

    assert_panel_shows(qtbot, pop)

    # A customer outside the audience (a two-year contract) is not in the campaign.
    with ibm.open(encoding="utf-8", newline="") as handle:
        outsider = next(row["customerID"] for row in csv.DictReader(handle) if row["Contract"] == "Two year")
    with live_server(database_url, tmp_path / "logs2") as server:
        other = requests.get(f"{server.base_url}/v1/pop", params={"customer_id": outsider},
                             headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert all(offer["campaign_id"] != CAMPAIGN for offer in other["offers"])


def assert_panel_shows(qtbot, document: dict) -> None:
    """The panel renders this very document: offers, the campaign, wave n/m and the contact guidance."""
    from PySide6 import QtWidgets

    from desktop.domain.pop import parse_pop
    from desktop.domain.states import PopKey, PopResult, PopState
    from desktop.ui.i18n import Texts
    from desktop.ui.pop_view import PopView

    now = dt.datetime.now(dt.UTC)
    doc = parse_pop(document)
    view = PopView(Texts("zh_CN", REPO_ROOT / "resources" / "translations"))
    qtbot.addWidget(view)
    view.resize(420, 1600)
    view.show()
    view.render(PopResult(PopState.LIVE, PopKey(customer_id=doc.customer.customer_id), doc, now), now)
    shown = "\n".join(label.text() for label in view.findChildren(QtWidgets.QLabel) if label.isVisibleTo(view))
    first = next(offer for offer in document["offers"] if not offer["suppressed"])
    for text in ("新入网客户关怀季", "第 2 / 3 波", first["title"]["zh"], first["reason"]["zh"]):
        assert text in shown, (text, shown)
