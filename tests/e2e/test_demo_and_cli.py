"""The product as a new user runs it: `callcue demo` (server + sample data + panel + a real pop) writes
a screenshot in each language; `callcue pop` from a second process reaches the running panel."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import pytest
from PySide6 import QtGui

from desktop.runtime.single_instance import InstanceNotResponding, SingleInstance


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_demo_pops_a_real_caller_and_writes_a_screenshot(tmp_path, language):
    shot = tmp_path / f"demo-{language}.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "desktop.cli", "demo", "--headless", "--screenshot", str(shot), "--lang", language,
         "--customers", "500"],
        capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert str(shot) in result.stdout
    image = QtGui.QImage(str(shot))
    assert not image.isNull() and image.width() >= 380 and image.height() >= 600


def test_second_callcue_forwards_pop_and_bad_events_are_refused(tmp_path, qapp, monkeypatch):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "TMPDIR": str(tmp_path),
           "CALLCUE_SERVER_URL": "http://127.0.0.1:9", "CALLCUE_AGENT_ID": "a1", "CALLCUE_TOKEN": "cc_x_y"}
    panel = subprocess.Popen([sys.executable, "-m", "desktop.cli", "run", "--headless"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Wait until the panel listens (a `callcue pop` sent before that would start a panel of its own):
        # asked from this process, which never becomes an instance, waiting on the panel between tries.
        monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the panel's socket is (Qt's temp directory)
        instance = SingleInstance("callcue")
        listening = False
        for _ in range(150):
            try:
                listening = instance.try_forward(["show"], timeout_ms=2000)
            except InstanceNotResponding:
                listening = False  # bound but not yet answering: still starting
            if listening or panel.poll() is not None:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                panel.wait(timeout=0.1)
        assert listening, "the panel never started listening"
        forwarded = subprocess.run(
            [sys.executable, "-m", "desktop.cli", "pop", "--ani", "13800138000", "--call-id", "c-1"],
            capture_output=True, text=True, timeout=30, env=env)
        assert panel.poll() is None, panel.stderr.read()
        assert forwarded is not None and forwarded.returncode == 0, forwarded.stderr
        refused = subprocess.run([sys.executable, "-m", "desktop.cli", "pop", "--call-id", "c-2"],
                                 capture_output=True, text=True, timeout=30, env=env)
        assert refused.returncode == 2
        assert "ani" in refused.stderr and "13800138000" not in refused.stderr
    finally:
        panel.terminate()
        panel.wait(timeout=15)
        panel.stdout.close()
        panel.stderr.close()


def test_callcue_pop_reaches_a_running_demo_instead_of_opening_a_second_panel(tmp_path, qapp, monkeypatch):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "TMPDIR": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_STATE_HOME": str(tmp_path / "state")}
    # Not --headless: a visible demo (offscreen platform here) is the panel the agent works in.
    demo = subprocess.Popen([sys.executable, "-m", "desktop.cli", "demo", "--customers", "200"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        monkeypatch.setenv("TMPDIR", str(tmp_path))
        instance = SingleInstance("callcue")
        listening = False
        for _ in range(300):
            try:
                listening = instance.try_forward(["show"], timeout_ms=2000)
            except InstanceNotResponding:
                listening = False
            if listening or demo.poll() is not None:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                demo.wait(timeout=0.1)
        assert listening, "the demo panel never listened for `callcue pop`"
        forwarded = subprocess.run(
            [sys.executable, "-m", "desktop.cli", "pop", "--ani", "13800138000", "--call-id", "c-demo-2"],
            capture_output=True, text=True, timeout=60, env=env)
        assert forwarded.returncode == 0, forwarded.stderr
        assert demo.poll() is None
        second = subprocess.run([sys.executable, "-m", "desktop.cli", "demo", "--customers", "50"],
                                capture_output=True, text=True, timeout=60, env=env)
        assert second.returncode == 2 and "already running" in second.stderr
    finally:
        demo.terminate()
        demo.wait(timeout=30)
        demo.stdout.close()
        demo.stderr.close()
