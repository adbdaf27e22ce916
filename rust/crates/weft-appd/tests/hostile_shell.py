#!/usr/bin/env python3
"""A hostile app shell, written as an attacker would: weft-appd starts it as
session N's UI shell (`<shell> <app-id> <session>`, its session channel on
standard input), and it tries every request of the supervisor protocol on
every door it can reach, with MessagePack frames made by hand. It writes one
JSON line per attempt to $HOSTILE_REPORT.<session>, then waits to be killed.

Attempts: each request on its own channel (for its session and another), the
operator socket at $XDG_RUNTIME_DIR/weft/appd.sock, and listening for another
session's events.
"""

import json
import os
import socket
import struct
import sys
import time


def pack(value):
    """The MessagePack of str, int, list and dict values (what requests use)."""
    if isinstance(value, str):
        data = value.encode()
        return (bytes([0xA0 | len(data)]) if len(data) < 32 else b"\xd9" + bytes([len(data)])) + data
    if isinstance(value, bool):
        return b"\xc3" if value else b"\xc2"
    if isinstance(value, int):
        return bytes([value]) if 0 <= value < 128 else b"\xcf" + struct.pack(">Q", value)
    if isinstance(value, list):
        return bytes([0x90 | len(value)]) + b"".join(pack(item) for item in value)
    if isinstance(value, dict):
        return bytes([0x80 | len(value)]) + b"".join(pack(k) + pack(v) for k, v in value.items())
    raise TypeError(value)


def unpack(data, at=0):
    """One MessagePack value from data[at:]: (value, next offset)."""
    tag = data[at]
    at += 1
    if tag < 0x80:
        return tag, at
    if 0x80 <= tag <= 0x8F or tag in (0xDE, 0xDF):
        count, at = (tag & 0x0F, at) if tag <= 0x8F else unpack_len(data, at, tag == 0xDF)
        result = {}
        for _ in range(count):
            key, at = unpack(data, at)
            result[key], at = unpack(data, at)
        return result, at
    if 0x90 <= tag <= 0x9F or tag in (0xDC, 0xDD):
        count, at = (tag & 0x0F, at) if tag <= 0x9F else unpack_len(data, at, tag == 0xDD)
        result = []
        for _ in range(count):
            item, at = unpack(data, at)
            result.append(item)
        return result, at
    if 0xA0 <= tag <= 0xBF or tag in (0xD9, 0xDA, 0xDB):
        if tag <= 0xBF:
            size = tag & 0x1F
        else:
            width = {0xD9: 1, 0xDA: 2, 0xDB: 4}[tag]
            size, at = int.from_bytes(data[at:at + width], "big"), at + width
        return data[at:at + size].decode(errors="replace"), at + size
    if tag == 0xC0:
        return None, at
    if tag in (0xC2, 0xC3):
        return tag == 0xC3, at
    widths = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}
    if tag in widths:
        return int.from_bytes(data[at:at + widths[tag]], "big"), at + widths[tag]
    raise ValueError(f"MessagePack tag {tag:#x}")


def unpack_len(data, at, wide):
    width = 4 if wide else 2
    return int.from_bytes(data[at:at + width], "big"), at + width


def send(sock, message):
    payload = pack(message)
    sock.sendall(struct.pack(">I", len(payload)) + payload)


def receive(sock):
    """The next message, or None when the connection closed."""
    header = read_exactly(sock, 4)
    if header is None:
        return None
    body = read_exactly(sock, struct.unpack(">I", header)[0])
    return None if body is None else unpack(body)[0]


def read_exactly(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


EVENTS = {"APP_READY", "APP_STATE", "IPC_MESSAGE", "NAVIGATION_GESTURE", "NOTIFICATION", "LOG_LINE", "LOGS_END"}


def answer(sock, request, foreign_events):
    """Sends request; the first reply that is not an event (events are noted)."""
    send(sock, request)
    while True:
        reply = receive(sock)
        if reply is None:
            return "closed"
        kind = reply.get("type")
        if kind in EVENTS:
            foreign_events.extend([reply] if reply.get("session") != OWN else [])
            continue
        return reply.get("code", kind) if kind == "ERROR" else kind


OWN = int(sys.argv[2])
OTHER = int(os.environ["HOSTILE_OTHER_SESSION"])
report = open(f"{os.environ['HOSTILE_REPORT']}.{OWN}", "w")


def note(door, request, result):
    report.write(json.dumps({"door": door, "request": request, "answer": result}) + "\n")
    report.flush()


channel = socket.socket(fileno=os.dup(0))
foreign = []
note("channel", {"type": "HELLO"}, answer(channel, {"type": "HELLO", "versions": [1]}, foreign))
for request in [
    {"type": "ATTACH_UI", "session": OWN},
    {"type": "IPC_FORWARD", "session": OWN, "message": "hostile"},
    {"type": "QUERY_APP_STATE", "session": OWN},
    {"type": "LAUNCH_APP", "app_id": "org.weft.clock"},
    {"type": "TERMINATE_APP", "session": OTHER},
    {"type": "TERMINATE_APP", "session": OWN},
    {"type": "QUERY_RUNNING"},
    {"type": "QUERY_INSTALLED_APPS"},
    {"type": "IPC_FORWARD", "session": OTHER, "message": "interval 1"},
    {"type": "ATTACH_UI", "session": OTHER},
    {"type": "QUERY_APP_STATE", "session": OTHER},
    {"type": "FOCUS_SESSION", "session": OTHER},
    {"type": "PANEL_GESTURE", "gesture": "home"},
    {"type": "QUERY_LOGS", "session": OTHER, "follow": True},
    {"type": "QUERY_LOGS", "session": OWN, "follow": False},
]:
    note("channel", request, answer(channel, request, foreign))

# Another session's events: the other app keeps sending to its UI.
channel.settimeout(0.2)
deadline = time.monotonic() + 2
while time.monotonic() < deadline:
    try:
        reply = receive(channel)
    except socket.timeout:
        continue
    if reply is None:
        break
    if reply.get("session") != OWN:
        foreign.append(reply)
note("channel", {"type": "(listening)"}, [event.get("type") for event in foreign])

# The operator socket: reachable by path (Landlock does not govern connect).
operator = socket.socket(socket.AF_UNIX)
try:
    operator.connect(os.path.join(os.environ["XDG_RUNTIME_DIR"], "weft/appd.sock"))
    operator.settimeout(5)
    note("operator", {"type": "HELLO"}, answer(operator, {"type": "HELLO", "versions": [1]}, []))
    note("operator", {"type": "QUERY_RUNNING"}, answer(operator, {"type": "QUERY_RUNNING"}, []))
except OSError as error:
    note("operator", {"type": "HELLO"}, f"error: {error}")
note("done", {}, "done")
time.sleep(600)
