"""The callback queue: open callbacks read back from the real local store, and `callcue callbacks`."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from desktop.cli import EXIT_OK, main
from desktop.domain.callbacks import ScheduledCallback, due_today, local_day
from desktop.domain.outcomes import OutcomeRecord, OutcomeResult
from desktop.services.callbacks import CallbackService
from desktop.storage import open_store

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


def record(customer_id: str, result: str, *, at: dt.datetime, callback_at: dt.datetime | None = None,
           offer_id: str | None = None) -> OutcomeRecord:
    return OutcomeRecord(outcome_id=str(uuid.uuid4()), decision_id=str(uuid.uuid4()), customer_id=customer_id,
                         result=OutcomeResult(result), recorded_at=at, offer_id=offer_id, callback_at=callback_at,
                         reason="no time" if result == "not_offered" else None)


def cache(store, customer_id: str, name: str, masked: str) -> None:
    store.views.put([f"cust:{customer_id}"], customer_id,
                    {"decision_id": "d", "customer": {"customer_id": customer_id, "display_name": name,
                                                      "masked_msisdn": masked}}, NOW)


def fill(store) -> dict[str, OutcomeRecord]:
    """C1: declined, considering, then a callback in 2 h (open); C2: a callback 1 h ago (open, overdue); C3: a callback
    that a later outcome kept (not open); C4: a callback tomorrow (open, not today); C5: two callbacks, only
    the later one open; C6: a callback 8 days ago (history)."""
    minute = dt.timedelta(minutes=1)
    kept = {
        "declined": record("C1", "declined", at=NOW - 40 * minute, offer_id="O2"),
        "considering": record("C1", "considering", at=NOW - 30 * minute, offer_id="O1"),
        "c1": record("C1", "callback", at=NOW - 29 * minute, callback_at=NOW + dt.timedelta(hours=2)),
        "c2": record("C2", "callback", at=NOW - 3 * 60 * minute, callback_at=NOW - 60 * minute),
        "c3": record("C3", "callback", at=NOW - 50 * minute, callback_at=NOW + 60 * minute),
        "c3-kept": record("C3", "not_offered", at=NOW - 10 * minute),
        "c4": record("C4", "callback", at=NOW - 5 * minute, callback_at=NOW + dt.timedelta(days=1)),
        "c5-old": record("C5", "callback", at=NOW - 20 * minute, callback_at=NOW + 30 * minute),
        "c5": record("C5", "callback", at=NOW - 19 * minute, callback_at=NOW + 45 * minute),
        "c6": record("C6", "callback", at=NOW - dt.timedelta(days=9), callback_at=NOW - dt.timedelta(days=8)),
    }
    for item in kept.values():
        store.record_outcome(item)
    cache(store, "C1", "王芳", "138****8000")
    return kept


def test_open_callbacks_are_read_back_from_the_store(tmp_path):
    with open_store(tmp_path / "callcue.sqlite3") as store:
        records = fill(store)
        queue = CallbackService(store, clock=lambda: NOW).scheduled()
    assert [c.outcome_id for c in queue] == [records[k].outcome_id for k in ("c2", "c5", "c1", "c4")]
    c1 = next(c for c in queue if c.customer_id == "C1")
    assert c1 == ScheduledCallback(records["c1"].outcome_id, "C1", NOW + dt.timedelta(hours=2),
                                   NOW - dt.timedelta(minutes=29), "王芳", "138****8000", "considering")
    c2 = queue[0]
    assert c2.overdue(NOW) and not c1.overdue(NOW)
    assert c2.display_name is None and c2.last_result is None  # not cached here, no earlier outcome
    # The idle screen: due before the end of the local day (Shanghai: 10:00 now, C4 is tomorrow).
    shanghai = dt.timezone(dt.timedelta(hours=8))
    assert [c.customer_id for c in due_today(queue, NOW.astimezone(shanghai))] == ["C2", "C5", "C1"]


def test_local_day_is_the_day_of_the_given_zone():
    shanghai = dt.timezone(dt.timedelta(hours=8))
    start, end = local_day(dt.datetime(2026, 11, 23, 23, 30, tzinfo=shanghai))
    assert (start.isoformat(), end.isoformat()) == ("2026-11-23T00:00:00+08:00", "2026-11-24T00:00:00+08:00")


def test_callcue_callbacks_lists_the_store(tmp_path, capsys):
    path = tmp_path / "callcue.sqlite3"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with open_store(path) as store:
        store.record_outcome(record("C1", "callback", at=now, callback_at=now + dt.timedelta(hours=1)))
        cache(store, "C1", "王芳", "138****8000")
        store.record_outcome(record("C3", "callback", at=now, callback_at=now + dt.timedelta(hours=1)))
        store.record_outcome(record("C3", "declined", at=now + dt.timedelta(seconds=1), offer_id="O1"))
    assert main(["callbacks", "--json", "--store", str(path)]) == EXIT_OK
    listed = json.loads(capsys.readouterr().out)
    assert [(c["customer_id"], c["display_name"], c["masked_number"]) for c in listed] == [
        ("C1", "王芳", "138****8000")]
    assert dt.datetime.fromisoformat(listed[0]["due_at"]) == now + dt.timedelta(hours=1)
    assert "13800138000" not in json.dumps(listed)
    assert main(["callbacks", "--store", str(path)]) == EXIT_OK
    text = capsys.readouterr().out
    assert "王芳" in text and "138****8000" in text and "C3" not in text


def test_callcue_callbacks_without_a_data_file_says_so(tmp_path, capsys):
    assert main(["callbacks", "--store", str(tmp_path / "none.sqlite3")]) != EXIT_OK
    assert "no CallCue data file" in capsys.readouterr().err
