"""A scripted AMI peer on 127.0.0.1: serves the transcripts in tests/connectors/transcripts/ over real TCP.

Asterisk is not packaged in Debian 12, so the AMI connector is tested against transcripts written by hand
from the AMI documentation. This server plays the PBX side of one transcript per accepted connection (the
next transcript for the next connection, which is how reconnects are tested). It has its own tiny parser
for the client's actions, so it does not share code with what it tests.

Transcript language (one directive or message per block; blocks are separated by empty lines):

    # comment lines (outside messages)
    BANNER Asterisk Call Manager/7.0.3      send the greeting line
    EXPECT Challenge                        read the client's next action; it must be this one. $ACTIONID
                                            in later messages is its ActionID. Pings are answered meanwhile.
    EXPECT Login                            as above, and check the MD5 key against the server's secret
    Key: Value                              a message to send ($ACTIONID, $CHALLENGE substituted)
    Key: Value
    LONGLINE 20000                          a message with a line of that many bytes (over the limit)
    RAWHEX 4576…                            these bytes, as they are (e.g. not UTF-8, control characters)
    SENTINEL                                a call ringing on the agent's device, Linkedid "sentinel.1":
                                            tests wait for it to know everything before it was processed
    NOPONG                                  stop answering Ping from here on
    CLOSE                                   drop the connection (the client then reconnects)

After the last block the server holds the connection: it answers Ping, answers Logoff with Goodbye, and
waits for the client to leave.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

TRANSCRIPTS = Path(__file__).with_name("transcripts")
CHALLENGE = "840415273"


@dataclass
class Step:
    kind: str  # banner | expect | send | sentinel | nopong | close | longline | rawhex
    text: str = ""


def load_transcript(name: str) -> list[Step]:
    text = (TRANSCRIPTS / name).read_text(encoding="utf-8")
    steps: list[Step] = []
    message: list[str] = []

    def flush() -> None:
        if message:
            steps.append(Step("send", "\r\n".join(message) + "\r\n\r\n"))
            message.clear()

    for line in text.splitlines():
        if not message and line.startswith("#"):
            continue
        if not line.strip():
            flush()
            continue
        word, _, rest = line.partition(" ")
        if not message and word in ("BANNER", "EXPECT", "SENTINEL", "NOPONG", "CLOSE", "LONGLINE", "RAWHEX"):
            steps.append(Step(word.lower(), rest.strip()))
            continue
        message.append(line)
    flush()
    return steps


def sentinel_messages(device: str) -> str:
    lines = [
        ["Event: Newchannel", "Channel: PJSIP/carrier-sentinel", "ChannelState: 4", "ChannelStateDesc: Ring",
         "CallerIDNum: 19999999999", "Exten: 4008001000", "Uniqueid: sentinel.1", "Linkedid: sentinel.1"],
        ["Event: DialBegin", "Channel: PJSIP/carrier-sentinel", "CallerIDNum: 19999999999",
         "Uniqueid: sentinel.1", "Linkedid: sentinel.1", f"DestChannel: {device}-sentinel",
         "DestChannelState: 0", "DestCallerIDNum: 1001", "DestUniqueid: sentinel.2", "DestLinkedid: sentinel.1"],
    ]
    return "".join("\r\n".join(block) + "\r\n\r\n" for block in lines)


@dataclass
class Connection:
    actions: list[dict[str, str]] = field(default_factory=list)
    login_key_ok: bool | None = None
    errors: list[str] = field(default_factory=list)


class ScriptedAmiServer:
    def __init__(self, transcripts: list[str], *, secret: str = "s3cret", device: str = "PJSIP/1001") -> None:
        self.scripts = [load_transcript(name) for name in transcripts]
        self.secret = secret
        self.device = device
        self.connections: list[Connection] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(4)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._accept_loop, name="fake-ami", daemon=True)

    def __enter__(self) -> ScriptedAmiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        assert not self._thread.is_alive(), "the fake AMI server did not stop"

    @property
    def errors(self) -> list[str]:
        return [error for connection in self.connections for error in connection.errors]

    def wait_for(self, predicate, timeout: float = 5.0) -> None:
        with self._changed:
            assert self._changed.wait_for(predicate, timeout), "the fake AMI server did not get there in time"

    def _accept_loop(self) -> None:
        index = 0
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            record = Connection()
            with self._changed:
                self.connections.append(record)
                self._changed.notify_all()
            script = self.scripts[index] if index < len(self.scripts) else [Step("close")]
            index += 1
            with conn:
                try:
                    self._play(conn, script, record)
                except ConnectionError:
                    pass  # the client went away first: fine
                except OSError as exc:
                    record.errors.append(f"socket: {exc}")
            with self._changed:
                self._changed.notify_all()

    def _play(self, conn: socket.socket, script: list[Step], record: Connection) -> None:
        conn.settimeout(0.1)
        reader = _ActionReader(conn, self._stop)
        state = {"action_id": "", "pong": True}
        for step in script:
            if step.kind == "banner":
                conn.sendall(step.text.encode() + b"\r\n")
            elif step.kind == "send":
                text = step.text.replace("$ACTIONID", state["action_id"]).replace("$CHALLENGE", CHALLENGE)
                conn.sendall(text.encode("utf-8"))
            elif step.kind == "longline":
                conn.sendall(b"Event: Newchannel\r\nCallerIDName: " + "名".encode() * (int(step.text) // 3)
                             + b"\r\nUniqueid: long.1\r\n\r\n")
            elif step.kind == "rawhex":
                conn.sendall(bytes.fromhex(step.text))
            elif step.kind == "sentinel":
                conn.sendall(sentinel_messages(self.device).encode())
            elif step.kind == "nopong":
                state["pong"] = False
            elif step.kind == "close":
                return
            elif step.kind == "expect":
                action = self._next_action(conn, reader, record, state)
                if action is None:
                    record.errors.append(f"the client left before {step.text}")
                    return
                if action.get("action", "").lower() != step.text.lower():
                    record.errors.append(f"expected {step.text}, got {action.get('action')}")
                    return
                state["action_id"] = action.get("actionid", "")
                if step.text.lower() == "login":
                    expected = hashlib.md5((CHALLENGE + self.secret).encode()).hexdigest()
                    record.login_key_ok = (action.get("authtype", "").lower() == "md5"
                                           and action.get("key") == expected and "secret" not in action)
        while self._next_action(conn, reader, record, state) is not None:
            pass

    def _next_action(self, conn, reader, record: Connection, state) -> dict[str, str] | None:
        """The client's next action that is not an unexpected Ping/Logoff (answered here)."""
        while True:
            action = reader.next()
            if action is None:
                return None
            record.actions.append(action)
            with self._changed:
                self._changed.notify_all()
            name = action.get("action", "").lower()
            if name == "ping" and state["pong"]:
                conn.sendall(f"Response: Success\r\nActionID: {action.get('actionid', '')}\r\nPing: Pong\r\n"
                             "Timestamp: 1730000000.000000\r\n\r\n".encode())
                continue
            if name == "ping":
                continue
            if name == "logoff":
                conn.sendall(f"Response: Goodbye\r\nActionID: {action.get('actionid', '')}\r\n"
                             "Message: Thanks for all the fish.\r\n\r\n".encode())
                return None
            return action


class _ActionReader:
    """The client's actions: blocks of 'Key: Value' lines ending with an empty line (keys lower-cased)."""

    def __init__(self, conn: socket.socket, stop: threading.Event) -> None:
        self._conn = conn
        self._stop = stop
        self._buffer = b""

    def next(self) -> dict[str, str] | None:
        while b"\r\n\r\n" not in self._buffer:
            if self._stop.is_set():
                return None
            try:
                data = self._conn.recv(4096)
            except TimeoutError:
                continue
            if not data:
                return None
            self._buffer += data
        block, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        action = {}
        for line in block.decode().split("\r\n"):
            key, _, value = line.partition(":")
            action[key.strip().lower()] = value.strip()
        return action
