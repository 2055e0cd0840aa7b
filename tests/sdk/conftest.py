"""SDK fixtures: the real server process (as in tests/gui) and panels embedded through plugin_sdk only."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable, Iterator

import pytest

from plugin_sdk import PanelConfig, embed_panel
from tests.desktop_runtime.conftest import no_leftover_threads  # noqa: F401 - autouse fixture
from tests.gui.conftest import (  # noqa: F401 - fixtures
    CALM,
    COMPLAINT,
    PRICE_SENSITIVE,
    LiveServer,
    memory_keyring,
    server,
)

__all__ = ["CALM", "COMPLAINT", "PRICE_SENSITIVE", "LiveServer"]


@pytest.fixture
def embed(qtbot, tmp_path, server) -> Iterator[Callable[..., object]]:  # noqa: F811 - the fixture
    """embed(parent, name="a", credentials=..., **config) -> PanelHandle; every handle is closed after the test."""
    handles = []

    def make(parent, name: str = "a", credentials: Callable[[], str | None] | None = None, **fields):
        config = PanelConfig(**{"server_url": server.base_url, "agent_id": "agent-007", "language": "en",
                                "theme": "light", "store_path": tmp_path / f"{name}.sqlite3", **fields})
        handle = embed_panel(parent, config, credentials=credentials or (lambda: server.token))
        handles.append(handle)
        return handle

    yield make
    for handle in handles:
        handle.close()


@pytest.fixture
def host_window(qtbot):
    """A host window: a softphone number field on the left, room for a panel on the right."""
    from PySide6 import QtWidgets

    window = QtWidgets.QWidget()
    qtbot.addWidget(window)
    layout = QtWidgets.QHBoxLayout(window)
    window.number = QtWidgets.QLineEdit()
    layout.addWidget(window.number)
    window.resize(900, 700)
    return window
