"""GuiInbox (desktop/runtime/gui_thread.py): the one way back to the GUI thread for tasks, the bridge,
connectors and scheduler jobs."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QThread, QTimer

from desktop.runtime.gui_thread import GuiInbox

RUNTIME = Path(__file__).resolve().parents[2] / "desktop" / "runtime"


def test_calls_from_many_threads_run_on_the_gui_thread_in_the_order_each_thread_posted(qtbot):
    inbox = GuiInbox()
    ran: list[tuple[str, int, bool]] = []
    gui = QThread.currentThread()

    def record(name: str, n: int) -> None:
        ran.append((name, n, QThread.currentThread() is gui))

    def poster(name: str) -> None:
        for n in range(200):
            inbox.post(record, name, n)

    threads = [threading.Thread(target=poster, args=(f"t{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    qtbot.waitUntil(lambda: len(ran) == 600, timeout=5000)
    assert all(on_gui for _name, _n, on_gui in ran)
    for name in ("t0", "t1", "t2"):
        assert [n for who, n, _gui in ran if who == name] == list(range(200))
    inbox.deleteLater()


def test_a_post_from_the_gui_thread_runs_later_never_inside_the_caller(qtbot):
    inbox = GuiInbox()
    ran: list[str] = []
    inbox.post(ran.append, "later")
    ran.append("now")
    qtbot.waitUntil(lambda: ran == ["now", "later"], timeout=2000)
    inbox.deleteLater()


def test_a_slice_lets_timers_in_between_and_a_failing_call_harms_nobody(qtbot):
    inbox = GuiInbox(slice_s=0.0)  # one call per turn of the event loop
    order: list[str] = []

    def fail() -> None:
        raise RuntimeError("a bug in one call")

    inbox.post(order.append, "a")
    inbox.post(fail)
    inbox.post(order.append, "b")
    QTimer.singleShot(0, lambda: order.append("timer"))
    qtbot.waitUntil(lambda: len(order) == 3, timeout=2000)
    assert order[0] == "a" and order.index("timer") < order.index("b")
    inbox.deleteLater()


def test_a_closed_inbox_refuses_calls_and_hands_back_what_waited(qtbot):
    inbox = GuiInbox()
    ran: list[int] = []
    assert inbox.post(ran.append, 1)
    waiting = inbox.close()
    assert [args for _fn, args in waiting] == [(1,)] and inbox.closed
    assert not inbox.post(ran.append, 2)
    # The drain the first post queued comes before this marker's: once the marker ran, it found nothing.
    marker = GuiInbox()
    marked: list[bool] = []
    marker.post(marked.append, True)
    qtbot.waitUntil(lambda: marked == [True], timeout=2000)
    assert ran == []
    inbox.deleteLater()
    marker.deleteLater()


def test_every_runtime_host_goes_back_to_the_gui_thread_through_the_inbox():
    """No queued Signal.emit or invokeMethod of their own: tasks, bridge, connectors and scheduler post."""
    for name in ("tasks.py", "bridge_host.py", "connectors_host.py", "scheduler.py"):
        source = (RUNTIME / name).read_text(encoding="utf-8")
        assert "GuiInbox(" in source, name
        assert "QueuedConnection" not in source and "invokeMethod" not in source, name
