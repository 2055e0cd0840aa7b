"""How the panel's process paints: set before Qt paints anything (no Qt import here: desktop.cli calls it
before it creates the QApplication, without loading the app's modules)."""

from __future__ import annotations

import os

# Qt's raster engine hands every fill of 96 or more spans (a card's background, the window's) to its GUI
# thread pool and waits for it. On the 2-core desktops of a contact centre, whose other core runs the fetch
# and the store, the hand-over costs more than the fill: a zh_CN pop repainted in 11 ms with the pool and in
# 2.5 ms without (offscreen); re-pops painted 1.5-2 ms sooner in bench/pop_latency. Qt reads the variable
# once, at its first fill: it must be set before anything paints.
NO_GUI_THREADPOOL = ("QT_NO_GUI_THREADPOOL", "1")


def serial_painting() -> None:
    """Paint on the GUI thread alone (see NO_GUI_THREADPOOL), unless the environment already says."""
    os.environ.setdefault(*NO_GUI_THREADPOOL)
