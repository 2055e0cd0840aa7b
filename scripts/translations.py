#!/usr/bin/env python3
"""Keep the Qt translations in step with the code.

  python scripts/translations.py update   # extract tr() strings into resources/translations/*.ts (keeps
                                          # existing translations; new ones are marked unfinished)
  python scripts/translations.py release  # compile .ts -> .qm (what the app loads)
  python scripts/translations.py check    # exit 1 listing strings that are missing or untranslated

Translators edit the .ts files with Qt Linguist (`pyside6-linguist`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TS_DIR = ROOT / "resources" / "translations"
LANGUAGES = ("zh_CN",)
SOURCES = sorted(str(p) for p in (ROOT / "desktop").rglob("*.py") if "/ui/" in str(p) or p.name == "app.py")


def _tool(name: str) -> str:
    candidate = Path(sys.executable).with_name(f"pyside6-{name}")
    return str(candidate) if candidate.exists() else (shutil.which(f"pyside6-{name}") or f"pyside6-{name}")


def ts_path(language: str) -> Path:
    return TS_DIR / f"callcue_{language}.ts"


def update() -> None:
    for language in LANGUAGES:
        subprocess.run([_tool("lupdate"), "-no-obsolete", "-locations", "none", *SOURCES, "-ts",
                        str(ts_path(language))], check=True, capture_output=True)


def release() -> None:
    for language in LANGUAGES:
        subprocess.run([_tool("lrelease"), str(ts_path(language)), "-qm",
                        str(TS_DIR / f"callcue_{language}.qm")], check=True, capture_output=True)


def messages(ts_file: Path) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(context, source) -> (translation text, type attribute such as 'unfinished')."""
    found = {}
    for context in ET.parse(ts_file).getroot().iter("context"):
        name = context.findtext("name")
        for message in context.iter("message"):
            translation = message.find("translation")
            found[(name, message.findtext("source"))] = (
                (translation.text or "") if translation is not None else "",
                translation.get("type") if translation is not None else "unfinished",
            )
    return found


def problems() -> list[str]:
    issues = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "fresh.ts"
        subprocess.run([_tool("lupdate"), "-locations", "none", *SOURCES, "-ts", str(fresh)], check=True,
                       capture_output=True)
        in_code = set(messages(fresh))
    for language in LANGUAGES:
        committed = messages(ts_path(language))
        for context, source in sorted(in_code - set(committed)):
            issues.append(f"{language}: not in the .ts file (run update): {context}: {source!r}")
        for (context, source), (text, kind) in sorted(committed.items()):
            if (context, source) in in_code and (not text.strip() or kind in ("unfinished", "vanished", "obsolete")):
                issues.append(f"{language}: untranslated: {context}: {source!r}")
    return issues


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "update":
        update()
    elif command == "release":
        release()
    elif command == "check":
        found = problems()
        for line in found:
            print(line)
        return 1 if found else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
