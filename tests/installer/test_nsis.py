"""The Windows installer script compiles with NSIS (Debian's makensis), warnings as errors, around the
Linux bundle as a stand-in payload. The real Windows build: .github/workflows/windows-installer.yml."""

from __future__ import annotations

import shutil
import sys

from tests.installer.conftest import BUILD_PY, ROOT, run, unavailable

NSI = ROOT / "installer" / "windows" / "callcue.nsi"


def makensis_ready() -> None:
    if shutil.which("makensis") is None:
        unavailable("makensis is missing: apt-get install nsis (scripts/bootstrap.sh --test does)")


def test_windows_installer_compiles_around_the_bundle(bundle, tmp_path):
    makensis_ready()
    run([sys.executable, str(BUILD_PY), "nsis", "--fast", "--version", "1.2.3rc1", "--bundle", str(bundle),
         "--out", str(tmp_path)], timeout=300)
    setup = tmp_path / "CallCue-1.2.3rc1-setup.exe"
    head = setup.read_bytes()[:2]
    assert head == b"MZ", "not a Windows executable"
    payload = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink())
    assert setup.stat().st_size >= payload, "the bundle is not inside the installer (stored uncompressed)"


def test_the_script_takes_the_documented_silent_parameters():
    script = NSI.read_text(encoding="utf-8")
    for option in ("/SERVER=", "/BRIDGEPORT=", "/ORIGINS=", "/BRIDGETOKEN=", "/AUTOSTART="):
        assert f'${{GetOptions}} $R0 "{option}"' in script, option
    docs = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    for option in ("/S", "/SERVER=", "/BRIDGEPORT=", "/ORIGINS=", "/BRIDGETOKEN=", "/AUTOSTART=", "/D="):
        assert option in docs, f"docs/deployment.md does not document {option}"


def test_a_missing_payload_is_a_plain_error(tmp_path):
    makensis_ready()
    result = run([sys.executable, str(BUILD_PY), "nsis", "--fast", "--bundle", str(tmp_path / "missing"),
                  "--out", str(tmp_path)], check=False)
    assert result.returncode == 1
    assert "is not a CallCue bundle" in result.stderr
