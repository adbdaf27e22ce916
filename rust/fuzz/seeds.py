#!/usr/bin/env python3
"""Writes the committed seed corpora and dictionaries of the fuzz targets:
`python3 rust/fuzz/seeds.py` (from the repository's root). The seeds are the
messages the test suites and docs/protocol.md exchange, framed as the real
peers frame them (length-prefixed MessagePack with named fields, JSON lines)."""

import json
import tomllib
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def msgpack(value):
    """MessagePack of JSON-like values, as rmp-serde writes named structs."""
    if value is None:
        return b"\xc0"
    if value is True or value is False:
        return b"\xc3" if value else b"\xc2"
    if isinstance(value, int):
        if 0 <= value < 128:
            return bytes([value])
        return b"\xcf" + struct.pack(">Q", value)
    if isinstance(value, str):
        data = value.encode()
        if len(data) < 32:
            return bytes([0xA0 | len(data)]) + data
        return b"\xd9" + bytes([len(data)]) + data if len(data) < 256 else b"\xda" + struct.pack(">H", len(data)) + data
    if isinstance(value, list):
        return bytes([0x90 | len(value)]) + b"".join(msgpack(item) for item in value)
    if isinstance(value, dict):
        return bytes([0x80 | len(value)]) + b"".join(msgpack(k) + msgpack(v) for k, v in value.items())
    raise TypeError(value)


def frame(value):
    payload = msgpack(value)
    return struct.pack(">I", len(payload)) + payload


APPD = [
    {"type": "HELLO", "versions": [1]},
    {"type": "LAUNCH_APP", "app_id": "org.weft.hello"},
    {"type": "TERMINATE_APP", "session": 1},
    {"type": "QUERY_RUNNING"},
    {"type": "QUERY_APP_STATE", "session": 2},
    {"type": "QUERY_INSTALLED_APPS"},
    {"type": "IPC_FORWARD", "session": 1, "message": "{\"name\":\"WEFT\"}"},
    {"type": "ATTACH_UI", "session": 3},
    {"type": "FOCUS_SESSION", "session": 1},
    {"type": "PANEL_GESTURE", "gesture": "swipe-up"},
    {"type": "ALLOW_DOWNGRADE", "app_id": "org.weft.clock"},
    {"type": "QUERY_LOGS", "session": 1, "follow": True},
]
COMPOSITOR = [
    {"type": "HELLO", "versions": [1]},
    {"type": "OPEN_SESSION", "session": 1, "app_id": "org.weft.hello"},
    {"type": "CLOSE_SESSION", "session": 1, "reason": "session ended"},
    {"type": "FOCUS_SESSION", "session": 2},
    {"type": "SCREENSHOT", "path": "/run/user/1000/weft/shot.png"},
]
SESSION = [
    {"type": "ipc", "message": "hello"},
    {"type": "notification", "title": "Timer", "body": "done\nnow"},
    {"type": "clipboard-read", "id": 1},
    {"type": "clipboard-write", "id": 2, "text": "copied"},
    {"type": "error", "message": "bad"},
    {"type": "clipboard-text", "id": 1, "text": None},
    {"type": "done", "id": 8, "error": None},
]
PORTAL = [
    {"root": "xdg-documents"},
    {"root": "app-data"},
    {"open": {"root": "xdg-documents", "path": "notes/today.txt", "write": True, "create": True}},
    {"open": {"root": "app-data", "path": "state", "directory": True}},
]


def write(target, seeds, words):
    corpus = HERE / "corpus" / target
    shutil.rmtree(corpus, ignore_errors=True)
    corpus.mkdir(parents=True)
    for number, seed in enumerate(seeds):
        (corpus / f"seed-{number:02}").write_bytes(seed)
    dictionary = HERE / "dict" / f"{target}.dict"
    dictionary.parent.mkdir(exist_ok=True)
    dictionary.write_text("".join(f'"{dict_escape(word)}"\n' for word in sorted(set(words))))


def dict_escape(word):
    """A libFuzzer dictionary entry's body: printable ASCII as it is, the
    rest (and quotes and backslashes) as \\xHH bytes."""
    return "".join(chr(byte) if 32 <= byte < 127 and chr(byte) not in '"\\' else f"\\x{byte:02X}"
                   for byte in word.encode())


def words_of(messages):
    found = set()
    for message in messages:
        for key, value in message.items():
            found.add(key)
            if isinstance(value, str):
                found.add(value)
            if isinstance(value, dict):
                found |= words_of([value])
    return found


def with_weft_pack(work):
    """`work(weft_pack, key, package, scratch)` on a copy of hello's package
    with a throwaway key, using the workspace's weft-pack (built by `make
    test`; CARGO_TARGET_DIR or /var/cache/weft/target)."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", "/var/cache/weft/target"))
    weft_pack = target / "debug/weft-pack"
    with tempfile.TemporaryDirectory() as scratch:
        package = Path(scratch) / "hello"
        shutil.copytree(REPO / "build/apps/hello", package)
        key = Path(scratch) / "k"
        subprocess.run([weft_pack, "generate-key", key], check=True, capture_output=True)
        return work(weft_pack, key, package, Path(scratch))


def signed_statement():
    """hello's `wapp.sig`."""
    def sign(weft_pack, key, package, _scratch):
        subprocess.run([weft_pack, "sign", "--key", key, package], check=True, capture_output=True)
        return (package / "wapp.sig").read_bytes()
    return with_weft_pack(sign)


def built_image():
    """hello's signed image (`weft-pack build-image`): its EROFS filesystem
    comes first, the dm-verity tree after it."""
    def build(weft_pack, key, package, scratch):
        out = scratch / "images"
        subprocess.run([weft_pack, "build-image", "--key", key, "--out", out, package],
                       check=True, capture_output=True)
        return next(out.glob("*.wimg")).read_bytes()
    return with_weft_pack(build)


def image_statement():
    """The statement inside hello's image signature, and one whose image
    parameters fit the fuzz target's image (3 blocks: 2 of data, 1 of tree)."""
    def build(weft_pack, key, package, scratch):
        out = scratch / "images"
        subprocess.run([weft_pack, "build-image", "--key", key, "--out", out, package],
                       check=True, capture_output=True)
        return tomllib.loads(next(out.glob("*.sig")).read_text())["statement"]
    statement = with_weft_pack(build)
    fitting = tomllib.loads(statement)
    fitting["image"].update({"file": "org.weft.hello-0.1.0.wimg", "size": 12288,
                             "data-size": 8192, "hash-offset": 8192})
    fitting_text = "\n".join(f"{key} = {json.dumps(value)}" for key, value in fitting.items()
                             if not isinstance(value, (dict, list)))
    fitting_text += "\n[image]\n" + "\n".join(f"{key} = {json.dumps(value)}"
                                              for key, value in fitting["image"].items())
    fitting_text += "\n" + "".join("\n[[files]]\n" + "\n".join(
        f"{key} = {json.dumps(value)}" for key, value in entry.items()) for entry in fitting["files"])
    return [statement.encode(), fitting_text.encode() + b"\n"]


def key_files():
    """A public and a private key as `weft-pack generate-key` writes them."""
    def keys(weft_pack, key, _package, _scratch):
        return [Path(f"{key}.pub").read_bytes(), Path(key).read_bytes()]
    return with_weft_pack(keys)


def tree_entry(kind, mode, name, content=None):
    """One entry of the package_tree target's input."""
    entry = bytes([kind, mode]) + name.encode() + b"\0"
    if content is not None:
        entry += bytes([len(content)]) + content
    return entry


def main():
    manifests = sorted(REPO.glob("apps/*/wapp.toml"))
    write("manifest", [path.read_bytes() for path in manifests],
          ["[package]", "[runtime]", "[ui]", "[limits]", "id", "name", "version", "capabilities",
           "module", "entry", "memory-mb", "fetch", "sys:notifications", "sys:clipboard",
           "fs:app-data", "fs:xdg-documents", "net:fetch", "https://", "\"", "=", "\\u202e"])
    write("appd_frame", [frame(message) for message in APPD], words_of(APPD))
    write("appd_json", [json.dumps(message).encode() for message in APPD], words_of(APPD))
    write("compositor_frame", [frame(message) for message in COMPOSITOR], words_of(COMPOSITOR))
    write("session_line", [json.dumps(message).encode() + b"\n" for message in SESSION],
          words_of(SESSION) | {"\n"})
    write("portal_request", [json.dumps(message).encode() for message in PORTAL], words_of(PORTAL))
    write("mount_request", [b"mount org.weft.hello\n", b"unmount org.weft.clock\n", b"release-all\n"],
          ["mount ", "unmount ", "release-all", "\n", "org.weft.hello", ".."])
    write("app_url", [url.encode() for url in [
        "weft-app://org.weft.fuzz/ui/index.html", "weft-app://org.weft.fuzz/ui/sub/deep.css?x=1#top",
        "weft-app://org.weft.fuzz/ui/%2e%2e/wapp.toml", "weft-app://org.weft.fuzz/ui/link",
        "weft-app://org.weft.other/ui/index.html"]],
          ["weft-app://", "org.weft.fuzz", "/ui/", "%2e", "%2f", "..", "/", "?", "#", "link", "wapp.toml"])
    write("appd_settings", [(REPO / "tests/vm/appd.toml").read_bytes(),
                            b"ws-port = 0\n[restart]\npolicy = \"never\"\nmax = 3\n"],
          ["[restart]", "[session]", "trusted-keys", "aot-dir", "ws-port", "ws-origins", "app-shell",
           "cgroups", "compositor-socket", "mount-socket", "ready-timeout-ms", "stop-grace-ms",
           "backoff-ms", "max", "policy", "never", "memory-max", "cpu-max", "pids-max", "=", "true",
           "\""])
    write("erofs_image", [built_image()], ["wapp.toml", "app.wasm", "ui", "index.html"])
    endpoint = "weft-app://org.weft.fuzz/.weft/ipc"
    write("bridge_request", [url.encode() for url in [
        endpoint, f"{endpoint}?m=hi", f"{endpoint}?m=a%20b%2B%E2%82%AC#frag", f"{endpoint}?x=1&m=a+b",
        f"{endpoint}/more?m=x", "weft-app://org.weft.other/.weft/ipc?m=x"]],
          [endpoint, "?m=", "&m=", "%", "%2", "+", "#", "=", "/"])
    write("image_statement", image_statement(),
          ["[image]", "[[files]]", "file", "size", "data-size", "hash-offset", "hash-algorithm",
           "sha256", "data-block-size", "hash-block-size", "salt", "root-hash", "erofs-uuid",
           "4096", "8192", "12288", "org.weft.hello-0.1.0.wimg", "format", "id", "version", "key",
           "files-sha256", "path", "kind", "dir", "mode", "\""])
    write("package_tree", [
        tree_entry(0, 0o75, "ui") + tree_entry(3, 0o64, "ui/index.html", b"<h1>hi</h1>")
        + tree_entry(3, 0o64, "wapp.toml", b"[package]") + tree_entry(3, 0o64, "app.wasm", b"\0asm"),
        tree_entry(0, 0o75, "ui") + tree_entry(6, 0o64, "ui/link"),
        tree_entry(7, 0o64, "fifo") + tree_entry(3, 0o64, "bad\\name", b"x"),
        tree_entry(3, 0o64, "wapp.sig", b"sig") + tree_entry(3, 0o300, "setuid", b"x"),
    ], ["ui", "/", "\\", "..", "wapp.sig", "\x01"])
    write("key_file", key_files(), ["-----BEGIN PUBLIC KEY-----", "-----END PUBLIC KEY-----",
                                     "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----",
                                     "\n", "MCowBQYDK2VwAyEA", "MC4CAQAwBQYDK2VwBCIEI"])
    write("statement", [signed_statement()],
          ["format", "signature", "statement", "id", "version", "key", "files-sha256", "[[files]]",
           "path", "kind", "file", "dir", "mode", "sha256", '"""', "org.weft.hello"])


if __name__ == "__main__":
    main()
