"""The one place the UI imports Qt from (so a binding or version change touches one file)."""

from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import QCoreApplication, Qt, Signal, Slot

__all__ = ["QCoreApplication", "Qt", "QtCore", "QtGui", "QtWidgets", "Signal", "Slot"]
