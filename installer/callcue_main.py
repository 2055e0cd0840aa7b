"""Entry point of the frozen panel (PyInstaller runs this as __main__): `callcue …` from the bundle."""

import sys

from desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
