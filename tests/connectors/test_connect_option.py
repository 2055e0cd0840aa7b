"""`--connect NAME=HOST:PORT`: parsing, the allowed hosts, and the clear errors."""

from __future__ import annotations

import argparse

import pytest

from desktop.calls.connect_option import (
    ConnectOptionError,
    ConnectTarget,
    connect_argument,
    connect_overrides,
    parse_connect_option,
)
from desktop.calls.connectors import build_connectors
from desktop.services.config import load_config


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("baresip=127.0.0.1:4444", ConnectTarget("baresip", "127.0.0.1", 4444)),
        ("baresip=localhost:4444", ConnectTarget("baresip", "localhost", 4444)),
        ("baresip=[::1]:4444", ConnectTarget("baresip", "::1", 4444)),
        (" AMI = pbx.example.com:5039", ConnectTarget("ami", "pbx.example.com", 5039)),
        ("ami=10.1.2.3", ConnectTarget("ami", "10.1.2.3", 5038)),
        ("ami=127.0.0.1:5038", ConnectTarget("ami", "127.0.0.1", 5038)),
    ],
)
def test_connect_options(text, target):
    assert parse_connect_option(text) == target


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("baresip", "takes NAME=HOST:PORT"),
        ("=127.0.0.1:1", "takes NAME=HOST:PORT"),
        ("skype=127.0.0.1:1", "unknown connector 'skype'"),
        ("baresip=", "give HOST:PORT"),
        ("baresip=127.0.0.1", "the port is missing"),
        ("baresip=127.0.0.1:port", "the port must be a number"),
        ("baresip=127.0.0.1:0", "the port must be a number from 1 to 65535"),
        ("baresip=10.0.0.8:4444", "must be on this computer"),
        ("baresip=pbx.example.com:4444", "must be on this computer"),
        ("ami=::1:5038", "IPv6 address in brackets"),
        ("ami=[::1:5038", "closing ']'"),
        ("ami=0.0.0.0:5038", "wildcard address"),
        ("ami=224.0.0.1:5038", "multicast"),
        ("ami=pbx_example!:5038", "not a host name"),
        ("ami=пбх.example:5038", "not a host name"),
    ],
)
def test_bad_connect_options_say_what_to_write(text, problem):
    with pytest.raises(ConnectOptionError, match=problem):
        parse_connect_option(text)


def test_argparse_reports_the_same_message_and_overrides_map_to_settings():
    parser = argparse.ArgumentParser(prog="callcue", exit_on_error=False)
    parser.add_argument("--connect", action="append", type=connect_argument)
    args = parser.parse_args(["--connect", "baresip=127.0.0.1:4444", "--connect", "ami=[fd00::5]:5038"])
    assert connect_overrides(args.connect) == {"connectors.baresip": "127.0.0.1:4444",
                                               "connectors.ami": "[fd00::5]:5038"}
    assert connect_overrides(None) == {}
    with pytest.raises(argparse.ArgumentError, match="must be on this computer"):
        parser.parse_args(["--connect", "baresip=192.168.0.2:4444"])


def test_build_connectors_from_loaded_settings():
    config = load_config(machine_file=None, user_file=None, environ={"CALLCUE_AMI_SECRET": "topsecret"}, cli={
        **connect_overrides([parse_connect_option("baresip=127.0.0.1:4444"),
                             parse_connect_option("ami=pbx.example.com")]),
        "connectors.ami_username": "callcue", "connectors.ami_device": "PJSIP/1001, Local/1001@agents"})
    connectors = build_connectors(config.connectors, on_event=lambda _e: None)
    assert [(c.connector_name, c.address) for c in connectors] == [("baresip", "127.0.0.1:4444"),
                                                                    ("ami", "pbx.example.com:5038")]
    assert connectors[1].tracker.devices == {"pjsip/1001", "local/1001@agents"}
    assert "topsecret" not in repr(connectors[1]) + repr(config) and not any(c.is_running for c in connectors)
    none = load_config(machine_file=None, user_file=None, environ={}, cli={})
    assert build_connectors(none.connectors, on_event=lambda _e: None) == []
