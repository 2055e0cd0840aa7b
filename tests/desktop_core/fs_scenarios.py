"""Store scenarios on a real tmpfs (full or read-only), run in a child process inside a private mount
namespace (`unshare --user --map-root-user --mount`): the mount vanishes with the process, needs no root,
and a failing test can never leave a mount behind. Prints one JSON line with what happened.

    python -m tests.desktop_core.fs_scenarios full|readonly_new|readonly_existing MOUNT_DIR
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid
from pathlib import Path

from desktop.domain.outcomes import OutcomeRecord, OutcomeResult
from desktop.storage import StoreError, open_store


def _record(i: int) -> OutcomeRecord:
    return OutcomeRecord(
        outcome_id=str(uuid.uuid4()), decision_id=str(uuid.uuid4()), customer_id=f"C{i}",
        result=OutcomeResult.DECLINED, recorded_at=dt.datetime.now(dt.UTC), offer_id="CARE-CHECKUP",
        note="备注" * 900,
    )


def _mount(directory: Path, options: str) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)], check=True)


def full(directory: Path) -> dict:
    """Fill a 2 MiB volume through record_outcome; then free space and count what survived."""
    _mount(directory, "size=2m")
    (directory / "ballast").write_bytes(b"\0" * 256 * 1024)  # what IT deletes to make room again
    path = directory / "data" / "callcue.sqlite3"
    store = open_store(path)
    saved: list[str] = []
    error = None
    try:
        for i in range(10_000):
            saved.append(store.record_outcome(_record(i)).outcome_id)
    except StoreError as exc:
        error = {"type": type(exc).__name__, "code": exc.user_error.code, "message": str(exc)}
    store.close()
    # Free space as IT would, then every outcome the agent was told "saved" must be there.
    (directory / "ballast").unlink(missing_ok=True)
    reopened = open_store(path)
    found = {e.outcome_id for e in reopened.outcomes.entries(limit=100_000)}
    reopened.close()
    return {"saved": len(saved), "error": error, "all_saved_present": found >= set(saved)}


def readonly_new(directory: Path) -> dict:
    _mount(directory, "size=1m,ro")
    try:
        open_store(directory / "data" / "callcue.sqlite3")
    except StoreError as exc:
        return {"error": {"type": type(exc).__name__, "code": exc.user_error.code, "message": str(exc)}}
    return {"error": None}


def readonly_existing(directory: Path) -> dict:
    """The volume turns read-only under a working store (remount), then the agent records an outcome."""
    _mount(directory, "size=4m")
    path = directory / "callcue.sqlite3"
    with open_store(path) as store:
        first = store.record_outcome(_record(0)).outcome_id
    subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
    try:
        with open_store(path) as store:
            store.record_outcome(_record(1))
    except StoreError as exc:
        error = {"type": type(exc).__name__, "code": exc.user_error.code, "message": str(exc)}
    else:
        error = None
    return {"error": error, "first": first}


def _short_record(i: int) -> OutcomeRecord:
    return OutcomeRecord(
        outcome_id=str(uuid.uuid4()), decision_id=str(uuid.uuid4()), customer_id=f"C{i}",
        result=OutcomeResult.DECLINED, recorded_at=dt.datetime.now(dt.UTC), offer_id="CARE-CHECKUP",
    )


def reserve(directory: Path) -> dict:
    """A disk-full episode on a 24 MiB volume, then IT frees 4 MiB and the agent keeps taking calls: each pop
    wants to cache a 40 KB customer document and log the pop; then outcomes are recorded. Reports what was
    saved (the store's real outcome reserve, 16 MiB, is larger than what was freed)."""
    _mount(directory, "size=24m")
    path = directory / "data" / "callcue.sqlite3"
    store = open_store(path)
    now = dt.datetime.now(dt.UTC)
    document = {"customer": {"customer_id": "C"}, "profile": "x" * 40_000}
    store.views.put(["cust:C-start"], "C-start", document, now)  # plenty of room yet: cached
    store.record_outcome(_short_record(0))
    ballast: list[Path] = []
    try:
        for i in range(64):  # the disk fills up (another program, a big download …)
            ballast.append(directory / f"ballast-{i}")
            ballast[-1].write_bytes(b"\0" * 1024 * 1024)
    except OSError:
        pass
    saved_before_full = 0
    full_error = None
    try:
        for i in range(5000):
            store.record_outcome(_record(i))
            saved_before_full += 1
    except StoreError as exc:
        full_error = exc.user_error.code
    try:
        open_store(directory / "data" / "another.sqlite3")
        new_store_error = None
    except StoreError as exc:
        new_store_error = exc.user_error.code
    never_written_left = (directory / "data" / "another.sqlite3").exists()
    for extra in ballast[:4]:  # IT frees 4 MiB
        extra.unlink(missing_ok=True)
    cached = skipped = logged = 0
    for i in range(300):  # the next calls pop
        try:
            store.views.put([f"cust:C{i}"], f"C{i}", document, now)
            cached += 1
        except StoreError:
            skipped += 1
        try:
            store.pops.log(popped_at=now, state="live", call_id=f"call-{i}", customer_id=f"C{i}", decision_id=None,
                           agent_id="agent-007", offers_presented=["A"] * 50, suppressed=[], campaign_id=None,
                           wave=None)
            logged += 1
        except StoreError:
            pass
    outcomes_after = 0
    after_error = None
    try:
        for i in range(30):
            store.record_outcome(_short_record(1000 + i))
            outcomes_after += 1
    except StoreError as exc:
        after_error = exc.user_error.code
    for extra in ballast[4:]:  # the disk is cleaned up: caching resumes
        extra.unlink(missing_ok=True)
    try:
        store.views.put(["cust:C-after"], "C-after", document, now)
        cache_resumed = True
    except StoreError:
        cache_resumed = False
    store.close()
    return {"full_error": full_error, "saved_before_full": saved_before_full, "new_store_error": new_store_error,
            "never_written_left": never_written_left, "cached": cached, "skipped": skipped, "logged": logged,
            "outcomes_after": outcomes_after, "after_error": after_error, "cache_resumed": cache_resumed}


SCENARIOS = {"full": full, "readonly_new": readonly_new, "readonly_existing": readonly_existing,
             "reserve": reserve}


def run_in_namespace(scenario: str, directory: Path, cwd: Path) -> dict | None:
    """Run a scenario in a private user+mount namespace; None when this machine cannot do that."""
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        return None
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", sys.executable, "-m", "tests.desktop_core.fs_scenarios",
         scenario, str(directory)],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(SCENARIOS[sys.argv[1]](Path(sys.argv[2]))))
