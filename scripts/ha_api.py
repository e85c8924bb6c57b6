"""Home Assistant's REST and WebSocket APIs, with the standard library only (for scripts/ha_check.py).

:class:`RestClient` onboards a fresh instance (first user, token) and calls its REST API;
:func:`websocket_call` opens the WebSocket API, authenticates, sends one command and returns its result
(the registries are only there). Every network wait is bounded by the ``timeout`` given.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455
_MAX_MESSAGE = 64 << 20


class ApiError(RuntimeError):
    """Home Assistant answered with an error, or not at all."""


class RestClient:
    """Home Assistant's REST API on ``http://host:port``; ``token`` once onboarded."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.base = f"http://{host}:{port}"
        self.timeout = timeout
        self.token = ""

    def request(self, method: str, path: str, body: Any = None, form: dict[str, str] | None = None,
                auth: bool = True) -> Any:
        """The decoded JSON answer (None when empty); ApiError on an HTTP error or a failed connection."""
        headers = {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as err:
            raise ApiError(f"{method} {path}: HTTP {err.code}: {err.read()[:500].decode(errors='replace')}") from None
        except (urllib.error.URLError, OSError) as err:
            raise ApiError(f"{method} {path}: {err}") from None
        return json.loads(raw) if raw else None

    def onboard(self, username: str, password: str) -> None:
        """Create the owner (the first onboarding step) and log in as them (``self.token``)."""
        client_id = self.base + "/"
        answer = self.request("POST", "/api/onboarding/users", auth=False, body={
            "client_id": client_id, "name": "Check", "username": username, "password": password, "language": "en"})
        tokens = self.request("POST", "/auth/token", auth=False, form={
            "grant_type": "authorization_code", "code": answer["auth_code"], "client_id": client_id})
        self.token = tokens["access_token"]

    def states(self) -> dict[str, dict[str, Any]]:
        """Every entity's state object, by entity id."""
        return {state["entity_id"]: state for state in self.request("GET", "/api/states")}

    def call_service(self, domain: str, service: str, **data: Any) -> None:
        """``domain.service`` with ``data`` (e.g. ``entity_id``)."""
        self.request("POST", f"/api/services/{domain}/{service}", body=data)

    def websocket(self, command: str, **fields: Any) -> Any:
        """One WebSocket command's result."""
        return websocket_call(self.host, self.port, self.token, {"type": command, **fields}, self.timeout)


def websocket_call(host: str, port: int, token: str, message: dict[str, Any], timeout: float) -> Any:
    """Connect to ``/api/websocket``, authenticate, send ``message`` (id 1) and return its result."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        connection = _WebSocket(sock, f"{host}:{port}")
        if connection.receive().get("type") != "auth_required":
            raise ApiError("websocket: expected auth_required")
        connection.send({"type": "auth", "access_token": token})
        if (reply := connection.receive()).get("type") != "auth_ok":
            raise ApiError(f"websocket: authentication failed: {reply}")
        connection.send({"id": 1, **message})
        while True:
            reply = connection.receive()
            if reply.get("id") == 1 and reply.get("type") == "result":
                if not reply.get("success"):
                    raise ApiError(f"websocket {message['type']}: {reply.get('error')}")
                return reply.get("result")


class _WebSocket:
    """The client side of RFC 6455 on a connected socket: text messages, masked as a client must."""

    def __init__(self, sock: socket.socket, host: str) -> None:
        self._sock = sock
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /api/websocket HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        self._buffer = b""
        while b"\r\n\r\n" not in self._buffer:
            self._fill()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        headers = {name.strip().lower(): value.strip()
                   for name, _, value in (line.partition(":") for line in lines[1:])}
        if " 101 " not in lines[0] + " " or headers.get("sec-websocket-accept") != accept:
            raise ApiError(f"websocket handshake refused: {lines[0]}")

    def _fill(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ApiError("websocket: connection closed")
        self._buffer += chunk

    def _take(self, count: int) -> bytes:
        while len(self._buffer) < count:
            self._fill()
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        mask = os.urandom(4)
        self._sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send(self, message: dict[str, Any]) -> None:
        self._send_frame(0x1, json.dumps(message).encode())

    def receive(self) -> dict[str, Any]:
        """The next text message, decoded (pings are answered, control frames skipped)."""
        parts: list[bytes] = []
        while True:
            first, second = self._take(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self._take(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self._take(8))
            if length > _MAX_MESSAGE:
                raise ApiError(f"websocket: a {length}-byte frame")
            mask = self._take(4) if second & 0x80 else b""
            payload = self._take(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise ApiError("websocket: closed by Home Assistant")
            if opcode == 0x9:
                self._send_frame(0xA, payload)
            elif opcode in (0x0, 0x1):
                parts.append(payload)
                if first & 0x80:
                    return json.loads(b"".join(parts))
