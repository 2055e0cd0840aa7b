"""zh_CN must be complete: every tr() string in the UI has a finished translation, and the shipped .qm
is compiled from the committed .ts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import translations  # noqa: E402


def test_every_ui_string_is_translated():
    problems = translations.problems()
    assert not problems, "untranslated UI strings (fix with scripts/translations.py update + Qt Linguist):\n" + "\n".join(
        problems)


def test_compiled_translations_match_the_sources(tmp_path):
    for language in translations.LANGUAGES:
        compiled = tmp_path / f"{language}.qm"
        subprocess.run([translations._tool("lrelease"), str(translations.ts_path(language)), "-qm", str(compiled)],
                       check=True, capture_output=True)
        shipped = translations.TS_DIR / f"callcue_{language}.qm"
        assert shipped.read_bytes() == compiled.read_bytes(), "run: python scripts/translations.py release"
