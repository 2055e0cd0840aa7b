"""`--connect NAME=HOST:PORT` and the `connectors.*` HOST:PORT settings: parsing with clear errors.

    callcue --connect baresip=127.0.0.1:4444 --connect ami=pbx.example.com:5038

Kept free of the connectors themselves so the command line can use it without importing them.

Which hosts are allowed: baresip runs beside the panel, so its address must be loopback (ctrl_tcp has no
authentication: anything that can reach it can place calls). An AMI PBX is usually elsewhere: any host
name or address (it authenticates the login). Neither may be a wildcard address (0.0.0.0, ::).
"""

from __future__ import annotations

import argparse
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

CONNECTOR_NAMES: Final = ("baresip", "ami")
DEFAULT_PORTS: Final = {"ami": 5038}  # baresip's ctrl_tcp has no customary port: always give it
_HOST_NAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")


class ConnectOptionError(ValueError):
    """A connector address that cannot be used; the message says what to write instead."""


@dataclass(frozen=True, slots=True)
class ConnectTarget:
    name: str  # "baresip" | "ami"
    host: str
    port: int

    @property
    def address(self) -> str:
        """HOST:PORT as the settings file takes it (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_host_port(text: str, *, name: str) -> tuple[str, int]:
    """'127.0.0.1:4444', 'localhost:4444', '[::1]:4444', 'pbx.example.com' (AMI: port 5038) → (host, port).
    Raises ConnectOptionError."""
    if name not in CONNECTOR_NAMES:
        raise ConnectOptionError(f"unknown connector {name!r} (known: {', '.join(CONNECTOR_NAMES)})")
    value = text.strip()
    example = "127.0.0.1:4444" if name == "baresip" else "pbx.example.com:5038"
    if not value:
        raise ConnectOptionError(f"{name}: give HOST:PORT, e.g. {example}")
    host, port_text = _split(value, name, example)
    if port_text is None:
        if name not in DEFAULT_PORTS:
            raise ConnectOptionError(f"{name}: the port is missing (HOST:PORT, e.g. {example})")
        port = DEFAULT_PORTS[name]
    else:
        if not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5:
            raise ConnectOptionError(f"{name}: the port must be a number from 1 to 65535 (e.g. {example})")
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise ConnectOptionError(f"{name}: the port must be a number from 1 to 65535 (e.g. {example})")
    _check_host(host, name, example)
    return host, port


def parse_connect_option(text: str) -> ConnectTarget:
    """'baresip=127.0.0.1:4444' → ConnectTarget. Raises ConnectOptionError."""
    name, equals, address = text.partition("=")
    name = name.strip().lower()
    if not equals or not name:
        raise ConnectOptionError(
            "--connect takes NAME=HOST:PORT, e.g. baresip=127.0.0.1:4444 or ami=pbx.example.com:5038")
    if name not in CONNECTOR_NAMES:
        raise ConnectOptionError(f"--connect: unknown connector {name[:20]!r} (known: {', '.join(CONNECTOR_NAMES)})")
    host, port = parse_host_port(address, name=name)
    return ConnectTarget(name, host, port)


def connect_argument(text: str) -> ConnectTarget:
    """argparse `type=` for --connect: the same checks, reported the argparse way."""
    try:
        return parse_connect_option(text)
    except ConnectOptionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def connect_overrides(targets: Iterable[ConnectTarget] | None) -> dict[str, str]:
    """--connect values as configuration overrides ({'connectors.baresip': '127.0.0.1:4444'}); for a
    connector given twice the last one wins, like any repeated option."""
    return {f"connectors.{target.name}": target.address for target in targets or ()}


def _split(value: str, name: str, example: str) -> tuple[str, str | None]:
    if value.startswith("["):
        close = value.find("]")
        if close < 0:
            raise ConnectOptionError(f"{name}: an IPv6 address needs its closing ']' (e.g. [::1]:4444)")
        host, rest = value[1:close], value[close + 1 :]
        if rest and not rest.startswith(":"):
            raise ConnectOptionError(f"{name}: expected ':PORT' after ']' (e.g. [::1]:4444)")
        return host, rest[1:] if rest else None
    if value.count(":") > 1:
        raise ConnectOptionError(f"{name}: write an IPv6 address in brackets, e.g. [::1]:4444")
    host, colon, port = value.partition(":")
    return host, port if colon else None


def _check_host(host: str, name: str, example: str) -> None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None:
        if not host.isascii() or not _HOST_NAME.fullmatch(host):
            raise ConnectOptionError(f"{name}: {host[:60]!r} is not a host name or IP address (e.g. {example})")
        if name == "baresip" and host.lower().rstrip(".") != "localhost":
            raise ConnectOptionError(
                "baresip: the address must be on this computer (127.0.0.1, [::1] or localhost): ctrl_tcp has "
                "no password, so it must never listen on the network")
        return
    if address.is_unspecified:
        raise ConnectOptionError(f"{name}: {host} is a wildcard address; give the address to connect to "
                                 f"(e.g. {example})")
    if address.is_multicast:
        raise ConnectOptionError(f"{name}: {host} is a multicast address")
    if name == "baresip" and not address.is_loopback:
        raise ConnectOptionError(
            "baresip: the address must be on this computer (127.0.0.1, [::1] or localhost): ctrl_tcp has no "
            "password, so it must never listen on the network")
