#!/usr/bin/env python3
"""Fill untranslated entries of a .ts file from a Python dict file (source -> translation).

  python scripts/fill_translations.py resources/translations/callcue_zh_CN.ts my_translations.py

The dict file defines ZH = {...}. Existing finished translations are kept; Qt Linguist remains the
tool for reviewing them.
"""

from __future__ import annotations

import runpy
import sys
import xml.etree.ElementTree as ET


def main(ts_file: str, dict_file: str) -> int:
    translations = runpy.run_path(dict_file)["ZH"]
    tree = ET.parse(ts_file)
    filled = 0
    for message in tree.getroot().iter("message"):
        translation = message.find("translation")
        source = message.findtext("source")
        if translation is not None and translation.get("type") == "unfinished" and source in translations:
            translation.text = translations[source]
            del translation.attrib["type"]
            filled += 1
    tree.write(ts_file, encoding="utf-8", xml_declaration=True)
    print(f"filled {filled} translations")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
