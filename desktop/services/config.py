"""Configuration: machine file < user file < environment < command line, with a versioned schema.

    schema_version = 1
    [server]
    url = "https://analytics.example.com"
    ca_bundle = "/etc/ssl/company-ca.pem"   # relative paths are relative to the file
    [ui]
    language = "zh_CN"

Every problem raises ConfigError naming the file (or variable) and the key, so IT can fix it from the
message alone. The token is never part of the configuration (keyring, or CALLCUE_TOKEN).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from desktop.calls.connect_option import ConnectOptionError, parse_host_port
from desktop.domain.errors import UserFacingError
from desktop.domain.outcomes import OutcomeResult

SCHEMA_VERSION = 1
APP_NAME = "CallCue"


class ConfigError(UserFacingError):
    """A configuration source is invalid. `source` is the file path or variable, `key` the dotted key."""

    code = "config_invalid"

    def __init__(self, source: str, key: str | None, problem: str) -> None:
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")
        self.source = source
        self.key = key
        self.problem = problem


# --- the schema ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Setting:
    kind: str  # str | opt_str | int | float | bool | path | str_list | choice
    default: Any
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    check: Callable[[Any], str | None] | None = None  # returns a problem or None


def _check_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"must be an http:// or https:// URL, got {value!r}"
    return None


def _check_file(value: Path | None) -> str | None:
    if value is None:
        return None
    shown = str(value) if len(str(value)) <= 200 else str(value)[:200] + "…"
    try:
        exists = value.is_file()
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL character …
        return f"file {shown!r} cannot be used ({getattr(exc, 'strerror', None) or exc})"
    return None if exists else f"file {shown!r} does not exist"


def _non_empty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


# The bridge token travels in an HTTP header and, for browsers, inside a WebSocket subprotocol name,
# which allows only these characters.
_BRIDGE_TOKEN = re.compile(r"[A-Za-z0-9._~+-]{16,256}")
_ORIGIN = re.compile(r"(https?)://([a-z0-9.-]+|\[[0-9a-f:.]+\])(:[0-9]{1,5})?")


def _check_bridge_token(value: str | None) -> str | None:
    if value is None or _BRIDGE_TOKEN.fullmatch(value):
        return None
    return "must be 16 to 256 characters of A-Z a-z 0-9 . _ ~ + - (e.g. from `openssl rand -hex 32`)"


def _check_origins(values: tuple[str, ...]) -> str | None:
    for value in values:
        if value in ("*", "null"):
            # '*' would let every web page drive the panel; 'null' is shared by all sandboxed and file:// pages.
            return f"{value!r} is not allowed: list each web application's origin, e.g. 'https://crm.example.com'"
        match = _ORIGIN.fullmatch(value.lower().rstrip("/"))
        if not match:
            return f"{value!r} is not an origin: scheme://host[:port] without a path, e.g. 'https://crm.example.com'"
        if match.group(3) is not None and not 0 < int(match.group(3)[1:]) <= 65535:
            return f"{value!r} has no valid port: a port is 1 to 65535"
    return None


def _check_connector_address(name: str) -> Callable[[str | None], str | None]:
    def check(value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parse_host_port(value, name=name)
        except ConnectOptionError as exc:
            return str(exc)
        return None

    return check


_SINGLE_LINE = re.compile(r"[^\x00-\x1f\x7f]{1,256}")
_AMI_DEVICE = re.compile(r"[A-Za-z0-9]+/[^\s,;]{1,120}")


def _check_single_line(value: str | None) -> str | None:
    if value is None or _SINGLE_LINE.fullmatch(value):
        return None
    return "must be one line of at most 256 characters"


def _check_dial_template(value: str | None) -> str | None:
    if value is None:
        return None
    if not _SINGLE_LINE.fullmatch(value) or "{number}" not in value or value.count("{") != 1:
        return "must be one line with {number} once, e.g. 'sip:{number}@pbx.example.com'"
    return None


def _check_ami_devices(value: str | None) -> str | None:
    for device in (value or "").split(","):
        if device.strip() and not _AMI_DEVICE.fullmatch(device.strip()):
            return "must list the agent's AMI devices as TECH/NAME, comma-separated, e.g. 'PJSIP/1001'"
    return None


SHORTCUT_DEFAULTS = {
    # Ctrl+digit, not bare digits: agents type numbers into the softphone while the panel is open.
    OutcomeResult.ACCEPTED: "Ctrl+1",
    OutcomeResult.DECLINED: "Ctrl+2",
    OutcomeResult.CONSIDERING: "Ctrl+3",
    OutcomeResult.CALLBACK: "Ctrl+4",
    OutcomeResult.NOT_OFFERED: "Ctrl+5",
    OutcomeResult.DO_NOT_DISTURB: "Ctrl+6",
}

SCHEMA: dict[str, _Setting] = {
    "server.url": _Setting("opt_str", None, check=_check_url),
    "server.ca_bundle": _Setting("path", None, check=_check_file),
    "server.timeout_s": _Setting("float", 2.0, low=0.2, high=30.0),
    "agent.id": _Setting("opt_str", None),
    "ui.language": _Setting("choice", "system", choices=("system", "zh_CN", "en")),
    "ui.theme": _Setting("choice", "system", choices=("system", "light", "dark")),
    "ui.dock": _Setting("choice", "right", choices=("right", "left")),
    "ui.always_on_top": _Setting("bool", True),
    "ui.wrapup_reminder_s": _Setting("int", 30, low=0, high=3600),
    **{f"shortcuts.{r.value}": _Setting("str", key, check=_non_empty) for r, key in SHORTCUT_DEFAULTS.items()},
    "sync.interval_s": _Setting("int", 15, low=5, high=3600),
    # An outcome waits this long before it is sent: undone meanwhile (Ctrl+Z), it never leaves the PC.
    "sync.undo_window_s": _Setting("int", 8, low=0, high=60),
    "cache.ttl_h": _Setting("int", 24, low=1, high=720),
    "bridge.port": _Setting("int", 47615, low=0, high=65535),  # 0 turns the local bridge off
    "bridge.token": _Setting("opt_str", None, check=_check_bridge_token),
    "bridge.allowed_origins": _Setting("str_list", (), check=_check_origins),
    # Call sources (docs/connectors.md): HOST:PORT, or empty for off.
    "connectors.baresip": _Setting("opt_str", None, check=_check_connector_address("baresip")),
    "connectors.ami": _Setting("opt_str", None, check=_check_connector_address("ami")),
    "connectors.ami_username": _Setting("opt_str", None, check=_check_single_line),
    "connectors.ami_secret": _Setting("opt_str", None, check=_check_single_line),  # see _check_secret_file
    "connectors.ami_device": _Setting("opt_str", None, check=_check_ami_devices),
    # Outbound dialing (issue 16): what each way of dialing is given; None: the plain number.
    "connectors.baresip_dial_template": _Setting("opt_str", None, check=_check_dial_template),
    "connectors.system_dial_template": _Setting("opt_str", None, check=_check_dial_template),  # None: tel:{number}
    "connectors.ami_dial_template": _Setting("opt_str", None, check=_check_dial_template),  # the Originate's Exten
    "connectors.ami_dial_context": _Setting("str", "from-internal", check=_check_single_line),
    "connectors.host_dial_template": _Setting("opt_str", None, check=_check_dial_template),  # dial.requested's number
    # How outbound calls are dialed: auto (baresip, else AMI, else a host that dials, else the system's tel:/sip:
    # handler) or host (always a host application over the bridge or the SDK: event dial.requested).
    "outbound.dialer": _Setting("choice", "auto", choices=("auto", "host")),
    "store.path": _Setting("path", None),
}
SECTIONS = tuple(dict.fromkeys(k.split(".")[0] for k in SCHEMA))

ENVIRONMENT = {
    "CALLCUE_SERVER_URL": "server.url",
    "CALLCUE_AGENT_ID": "agent.id",
    "CALLCUE_CA_BUNDLE": "server.ca_bundle",
    "CALLCUE_LANGUAGE": "ui.language",
    "CALLCUE_STORE_PATH": "store.path",
    "CALLCUE_BRIDGE_PORT": "bridge.port",
    "CALLCUE_BRIDGE_TOKEN": "bridge.token",
    "CALLCUE_AMI_SECRET": "connectors.ami_secret",
}


# --- the result ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSettings:
    url: str | None
    ca_bundle: Path | None
    timeout_s: float

    @property
    def verify(self) -> bool | str:
        """For AnalyticsClient(verify=…): the company CA bundle when set, else the system's."""
        return str(self.ca_bundle) if self.ca_bundle else True


@dataclass(frozen=True)
class AgentSettings:
    id: str | None


@dataclass(frozen=True)
class UiSettings:
    language: str
    theme: str
    dock: str
    always_on_top: bool
    wrapup_reminder_s: int


@dataclass(frozen=True)
class ShortcutSettings:
    accepted: str
    declined: str
    considering: str
    callback: str
    not_offered: str
    do_not_disturb: str

    def for_result(self, result: OutcomeResult) -> str:
        return getattr(self, OutcomeResult(result).value)


@dataclass(frozen=True)
class SyncSettings:
    interval_s: int
    undo_window_s: int = 8


@dataclass(frozen=True)
class CacheSettings:
    ttl_h: int


@dataclass(frozen=True)
class BridgeSettings:
    port: int
    token: str | None
    allowed_origins: tuple[str, ...]


@dataclass(frozen=True)
class ConnectorSettings:
    baresip: str | None  # HOST:PORT of baresip's ctrl_tcp (loopback only), None: off
    ami: str | None  # HOST:PORT of the Asterisk manager interface, None: off
    ami_username: str | None
    ami_secret: str | None  # never shown by config_as_dict
    ami_device: str | None  # the agent's endpoint(s), e.g. "PJSIP/1001" (comma-separated)
    baresip_dial_template: str | None = None  # outbound dialing through baresip: None = the plain number
    system_dial_template: str | None = None  # a URI handed to the system: None = tel:{number}
    ami_dial_template: str | None = None  # outbound dialing through Asterisk Originate: the Exten (None: the number)
    ami_dial_context: str = "from-internal"  # … and its dialplan context
    host_dial_template: str | None = None  # dialing by a host (dial.requested): None = the plain number

    def __repr__(self) -> str:
        return (f"ConnectorSettings(baresip={self.baresip!r}, ami={self.ami!r}, ami_username={self.ami_username!r}, "
                f"ami_secret={'<set>' if self.ami_secret else None}, ami_device={self.ami_device!r})")


@dataclass(frozen=True)
class OutboundSettings:
    dialer: str = "auto"  # auto | host


@dataclass(frozen=True)
class StoreSettings:
    path: Path | None  # None: the default in the user's data directory (ConfigPaths.store_file)


@dataclass(frozen=True)
class Config:
    server: ServerSettings
    agent: AgentSettings
    ui: UiSettings
    shortcuts: ShortcutSettings
    sync: SyncSettings
    cache: CacheSettings
    bridge: BridgeSettings
    connectors: ConnectorSettings
    store: StoreSettings
    outbound: OutboundSettings = field(default_factory=OutboundSettings)
    # dotted key -> where its value came from: 'default', a file path, 'env CALLCUE_…' or 'command line'
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def get(self, dotted: str) -> Any:
        section, name = dotted.split(".", 1)
        return getattr(getattr(self, section), name)


_SECTION_TYPES = {
    "server": ServerSettings, "agent": AgentSettings, "ui": UiSettings, "shortcuts": ShortcutSettings,
    "sync": SyncSettings, "cache": CacheSettings, "bridge": BridgeSettings,
    "connectors": ConnectorSettings, "store": StoreSettings, "outbound": OutboundSettings,
}


# --- paths ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigPaths:
    machine_file: Path
    user_file: Path
    data_dir: Path
    log_dir: Path

    @property
    def store_file(self) -> Path:
        return self.data_dir / "callcue.sqlite3"


def default_paths(platform: str | None = None, environ: Mapping[str, str] | None = None) -> ConfigPaths:
    """Where CallCue looks for its files on this (or the given) platform."""
    platform = platform or sys.platform
    environ = os.environ if environ is None else environ
    if platform.startswith("win"):
        program_data = environ.get("ProgramData") or environ.get("PROGRAMDATA") or r"C:\ProgramData"
        machine = Path(program_data) / APP_NAME / "config.toml"
    elif platform == "darwin":
        machine = Path("/Library/Application Support") / APP_NAME / "config.toml"
    else:
        machine = Path("/etc/callcue/config.toml")
    return ConfigPaths(
        machine_file=machine,
        user_file=platformdirs.user_config_path(APP_NAME, appauthor=False) / "config.toml",
        data_dir=platformdirs.user_data_path(APP_NAME, appauthor=False),
        log_dir=platformdirs.user_log_path(APP_NAME, appauthor=False),
    )


# --- loading ---------------------------------------------------------------------------------------


# Settings holding a secret: a problem with one names the key and the kind of value, never the value
# (ConfigError messages reach stderr, the log and support tickets).
SECRET_KEYS = frozenset({"bridge.token", "connectors.ami_secret"})


def _describe(value: Any, key: str | None = None) -> str:
    if key in SECRET_KEYS:
        return f"a {_toml_kind(value)} (value not shown: it is a secret)"
    return json.dumps(value, ensure_ascii=False, default=str)[:60]


def _toml_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false value"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "table"
    return type(value).__name__


def _coerce(key: str, value: Any, source: str, *, from_text: bool, base_dir: Path | None) -> Any:
    """Check (and for environment/command-line text, convert) one value against the schema."""
    spec = SCHEMA[key]
    kind = spec.kind

    def fail(problem: str) -> ConfigError:
        return ConfigError(source, key, problem)

    if from_text and isinstance(value, str):
        text = value.strip()
        if kind == "bool":
            lowered = text.lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise fail(f"must be true or false, got {value!r}")
            value = lowered in ("1", "true", "yes", "on")
        elif kind == "int":
            try:
                value = int(text)
            except ValueError:
                raise fail(f"must be a whole number, got {value!r}") from None
        elif kind == "float":
            try:
                value = float(text)
            except ValueError:
                raise fail(f"must be a number, got {value!r}") from None
        elif kind == "str_list":
            value = [part.strip() for part in text.split(",") if part.strip()]

    if kind in ("str", "opt_str", "choice", "path"):
        if value is None and kind in ("opt_str", "path"):
            return None
        if not isinstance(value, str | Path):
            raise fail(f"must be a string, got {_describe(value, key)}")
        value = str(value).strip()
        if kind == "opt_str" and not value:
            return None
        if kind == "choice" and value not in spec.choices:
            raise fail(f"must be one of {', '.join(spec.choices)}, got {value!r}")
        if kind == "path":
            if not value:
                return None
            path = Path(value).expanduser()
            value = path if path.is_absolute() or base_dir is None else base_dir / path
    elif kind == "bool":
        if not isinstance(value, bool):
            raise fail(f"must be true or false, got {_describe(value)}")
    elif kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise fail(f"must be a whole number, got {_describe(value)}")
    elif kind == "float":
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise fail(f"must be a number, got {_describe(value)}")
        value = float(value)
    elif kind == "str_list":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise fail(f"must be a list of strings, got {_describe(value)}")
        value = tuple(value)
    if spec.low is not None and value < spec.low:
        raise fail(f"must be at least {spec.low:g}, got {value}")
    if spec.high is not None and value > spec.high:
        raise fail(f"must be at most {spec.high:g}, got {value}")
    if kind == "opt_str" and key == "server.url":
        value = value.rstrip("/")
    if spec.check is not None:
        problem = spec.check(value)
        if problem:
            raise fail(problem)
    return value


def read_config_file(path: Path) -> dict[str, Any]:
    """The raw TOML table of one file ({} when it does not exist); ConfigError when unreadable."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except IsADirectoryError:
        raise ConfigError(source, None, "is a directory, not a settings file") from None
    except OSError as exc:
        raise ConfigError(source, None, f"cannot be read ({exc.strerror})") from None
    try:
        table = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(source, None, "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, None, f"is not valid TOML: {exc}") from None
    except RecursionError:
        # ~1 KB of nested arrays or inline tables exhausts the parser's stack: damage, not a setting.
        raise ConfigError(source, None, "is not a settings file: its values are nested too deeply") from None
    except (ValueError, MemoryError):
        # tomllib's failures besides TOMLDecodeError, e.g. an integer of more than 4,300 digits.
        raise ConfigError(source, None, "is not valid TOML: a value is too large to read") from None
    # Whether the parser above ran out of stack depends on how deep the caller's stack already was; this
    # bound does not, so a file is either damaged or not, whoever reads it.
    if _nesting_depth(table) > MAX_NESTING:
        raise ConfigError(source, None, "is not a settings file: its values are nested too deeply")
    return table


MAX_NESTING = 16  # tables and lists inside each other; a settings file needs 3 ([section] > key > list)


def _nesting_depth(value: Any) -> int:
    """How deeply tables and lists nest in `value` (without recursion: the value may be deep)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_NESTING:
                break
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _flatten(table: Mapping[str, Any], source: str) -> dict[str, Any]:
    version = table.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigError(source, "schema_version", f"must be a whole number >= 1, got {_describe(version)}")
    if version > SCHEMA_VERSION:
        raise ConfigError(
            source, "schema_version",
            f"is {version}: the file is for a newer CallCue (this one reads version {SCHEMA_VERSION})",
        )
    flat: dict[str, Any] = {}
    for section, content in table.items():
        if section == "schema_version":
            continue
        if section not in SECTIONS:
            raise ConfigError(source, section, f"unknown section (known: {', '.join(SECTIONS)})")
        if not isinstance(content, dict):
            raise ConfigError(source, section, "must be a table, e.g. [" + section + "]")
        for name, value in content.items():
            key = f"{section}.{name}"
            if key not in SCHEMA:
                known = ", ".join(k.split(".", 1)[1] for k in SCHEMA if k.startswith(section + "."))
                raise ConfigError(source, key, f"unknown setting (known in [{section}]: {known})")
            flat[key] = value
    return flat


def load_config(
    *,
    machine_file: Path | None,
    user_file: Path | None,
    environ: Mapping[str, str],
    cli: Mapping[str, Any],
) -> Config:
    """Merge the four sources (later wins). `cli` maps dotted keys to values; None values are ignored."""
    values = {key: spec.default for key, spec in SCHEMA.items()}
    sources = dict.fromkeys(SCHEMA, "default")
    for path in (machine_file, user_file):
        if path is None:
            continue
        for key, value in _flatten(read_config_file(path), str(path)).items():
            values[key] = _coerce(key, value, str(path), from_text=False, base_dir=path.parent)
            sources[key] = str(path)
            if key == "connectors.ami_secret" and values[key]:
                _check_secret_file(path, key)
    for variable, key in ENVIRONMENT.items():
        raw = environ.get(variable)
        if raw is not None and raw.strip():
            values[key] = _coerce(key, raw, f"environment variable {variable}", from_text=True, base_dir=None)
            sources[key] = f"env {variable}"
    for key, value in cli.items():
        if value is None:
            continue
        if key not in SCHEMA:
            raise ConfigError("command line", key, "unknown setting")
        values[key] = _coerce(key, value, "command line", from_text=True, base_dir=Path.cwd())
        sources[key] = "command line"
    _check_shortcuts(values, sources)
    _check_ami_login(values, sources)
    sections: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        section, name = key.split(".", 1)
        sections.setdefault(section, {})[name] = value
    return Config(**{s: _SECTION_TYPES[s](**fields) for s, fields in sections.items()}, sources=sources)


def _check_secret_file(path: Path, key: str) -> None:
    """A secret may sit in a settings file only if not every user of the computer can read it."""
    if os.name == "nt":
        return  # ProgramData ACLs are IT's business; there is no mode to check
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & 0o004:
        raise ConfigError(
            str(path), key,
            "a secret in a file every user can read: make the file readable only by root and the agents' group "
            "(chown root:callcue; chmod 640), or give the secret in CALLCUE_AMI_SECRET instead")


def _check_ami_login(values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    if values["connectors.ami"] and not (values["connectors.ami_username"] and values["connectors.ami_secret"]):
        raise ConfigError(sources["connectors.ami"], "connectors.ami",
                          "needs connectors.ami_username and connectors.ami_secret (or CALLCUE_AMI_SECRET)")


def _check_shortcuts(values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    seen: dict[str, str] = {}
    for result in OutcomeResult:
        key = f"shortcuts.{result.value}"
        normalized = values[key].replace(" ", "").lower()
        if normalized in seen:
            raise ConfigError(sources[key], key, f"{values[key]!r} is already the shortcut for {seen[normalized]}")
        seen[normalized] = key


# --- saving the user's own settings ------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    # A JSON string literal is a valid TOML basic string (same escapes).
    return json.dumps(str(value), ensure_ascii=False)


def _render(flat: Mapping[str, Any]) -> str:
    lines = ["# CallCue user settings (written by CallCue; comments are not kept)",
             f"schema_version = {SCHEMA_VERSION}"]
    for section in SECTIONS:
        entries = [(k.split(".", 1)[1], v) for k, v in flat.items() if k.startswith(section + ".") and v is not None]
        if entries:
            lines.append("")
            lines.append(f"[{section}]")
            lines.extend(f"{name} = {_toml_value(value)}" for name, value in entries)
    return "\n".join(lines) + "\n"


def save_user_settings(user_file: Path, updates: Mapping[str, Any]) -> None:
    """Merge `updates` (dotted keys, e.g. {'server.url': …, 'agent.id': …}) into the user's file.

    Values are validated like loaded ones; None removes a key. Written atomically (temp file + rename).
    There is no token key: the token lives in the keyring only.
    """
    source = str(user_file)
    current = _flatten(read_config_file(user_file), source)
    for key, value in updates.items():
        if key not in SCHEMA:
            raise ConfigError(source, key, "unknown setting")
        if value is None:
            current.pop(key, None)
            continue
        checked = _coerce(key, value, source, from_text=False, base_dir=None)
        current[key] = str(checked) if isinstance(checked, Path) else checked
    text = _render({k: current[k] for k in SCHEMA if k in current})
    user_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=user_file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, user_file)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def config_as_dict(config: Config) -> dict[str, Any]:
    """For diagnostics (`callcue config show`): dotted key -> value (paths as text)."""
    out = {}
    for key in SCHEMA:
        value = config.get(key)
        out[key] = str(value) if isinstance(value, Path) else value
    if out["bridge.token"] is not None:
        out["bridge.token"] = "<set>"  # diagnostics get pasted into tickets; the secret stays out
    if out["connectors.ami_secret"] is not None:
        out["connectors.ami_secret"] = "<set>"
    return out


def load_config_or_defaults(
    *,
    machine_file: Path | None,
    user_file: Path | None,
    environ: Mapping[str, str],
    cli: Mapping[str, Any],
    now: Callable[[], Any] | None = None,
) -> tuple[Config, list[ConfigError]]:
    """load_config for starting the panel: a damaged settings *file* does not keep the agent from working.

    A damaged user file (unreadable, not UTF-8, not TOML) is moved aside — kept as
    `config.toml.damaged-YYYYmmdd-HHMMSS` for IT — and the panel starts without it; a bad machine file
    (IT's, not the agent's to move) is ignored for this run. Each problem is returned, naming the file,
    the setting and where the damaged file went, so the panel can tell the agent. A readable file with a
    wrong value, and mistakes in the environment or on the command line, still raise ConfigError: that is
    a configuration to fix (the message names the key), not damage, and guessing around it could send
    outcomes to the wrong server.
    """
    import datetime as dt

    clock = now or (lambda: dt.datetime.now())
    files = {"machine": machine_file, "user": user_file}
    problems: list[ConfigError] = []
    for which, path in files.items():
        if path is None:
            continue
        try:
            read_config_file(path)
        except ConfigError as exc:
            if which == "user":
                target = path.with_name(f"{path.name}.damaged-{clock().strftime('%Y%m%d-%H%M%S')}")
                try:
                    path.rename(target)
                except OSError:
                    files["user"] = None
                    outcome = "ignored for now (it could not be moved aside)"
                else:
                    outcome = f"moved aside to {target}; CallCue started without it"
            else:
                files["machine"] = None
                outcome = "ignored; CallCue started without it (tell IT)"
            problems.append(ConfigError(exc.source, exc.key, f"{exc.problem} — {outcome}"))
    return load_config(machine_file=files["machine"], user_file=files["user"], environ=environ, cli=cli), problems


__all__ = [
    "SCHEMA_VERSION",
    "Config",
    "ConfigError",
    "ConfigPaths",
    "config_as_dict",
    "default_paths",
    "load_config",
    "load_config_or_defaults",
    "read_config_file",
    "save_user_settings",
]
