"""Regression: PySide6 6.12.0 on CPython 3.11 lost a reference to None/True/False on many calls and
aborted the interpreter after a few hundred thousand of them (a long agent shift). The pinned binding
must survive what a shift of pops does to it."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
from PySide6 import QtWidgets
app = QtWidgets.QApplication([])
label, widget = QtWidgets.QLabel(), QtWidgets.QWidget()
for _ in range(300_000):
    label.setText("x")
    widget.isVisible()
print("ok")
"""


def test_many_void_and_bool_calls_do_not_abort_the_interpreter():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
