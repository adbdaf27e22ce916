#!/usr/bin/env python3
"""Boots the WEFT VM under QEMU (TCG) and runs its scenarios.

Usage: run.py KERNEL INITRAMFS OUT_DIR [SCENARIO ...]

Scenarios: boot, tampered, untrusted, kill, cgroup, cpu (default: all). The guest's
/init (tests/vm/init) prints WEFT-RESULT lines; on WEFT-SCREENSHOT <name> this
script takes a QMP screendump (PNG kept as an artifact, PPM checked pixel by
pixel) and answers on the console so the guest goes on. Exit status 0 only
when every scenario asked for passed, every screenshot check passed, and the
guest powered itself off.
"""

import json
import os
import socket
import subprocess
import sys
import time

SCENARIOS = ["boot", "tampered", "untrusted", "kill", "cgroup", "cpu", "user"]
# The compositor's background (backend::BACKGROUND) and weston-simple-shm's
# fixed 250x250 window with a white border, at the app area's origin.
BACKGROUND = (0x1C, 0x24, 0x30)
WHITE = (0xFF, 0xFF, 0xFF)
WINDOW = 250
TIMEOUT_S = 900
# How long a screenshot may take to show what the guest says is on screen.
SETTLE_S = 10


def read_ppm(path):
    """(width, height, rgb bytes) of a binary PPM (P6, maxval 255)."""
    with open(path, "rb") as f:
        data = f.read()
    fields, at = [], 0
    while len(fields) < 4:
        while data[at : at + 1].isspace():
            at += 1
        if data[at : at + 1] == b"#":
            at = data.index(b"\n", at) + 1
            continue
        end = at
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[at:end])
        at = end
    assert fields[0] == b"P6" and fields[3] == b"255", f"{path}: not an 8-bit P6 PPM"
    return int(fields[1]), int(fields[2]), data[at + 1 :]


def pixel(image, x, y):
    width, _, rgb = image
    at = (y * width + x) * 3
    return tuple(rgb[at : at + 3])


def check_hello(image):
    """The app's window is on screen where the layout puts it: white border at
    the origin, its pattern inside, nothing but background outside."""
    width, height, _ = image
    problems = []
    if pixel(image, 0, 0) != WHITE:
        problems.append(f"origin is {pixel(image, 0, 0)}, not the window's white border")
    inside = sum(
        pixel(image, x, y) != BACKGROUND for x in range(0, WINDOW, 5) for y in range(0, WINDOW, 5)
    )
    if inside < 0.9 * (WINDOW // 5) ** 2:
        problems.append(f"only {inside} of {(WINDOW // 5) ** 2} sampled window pixels are drawn")
    outside = [
        (x, y)
        for x in range(0, width, 7)
        for y in range(0, height, 7)
        if (x >= WINDOW or y >= WINDOW) and pixel(image, x, y) != BACKGROUND
    ]
    if outside:
        problems.append(f"{len(outside)} sampled pixels outside the window are not background, e.g. {outside[:3]}")
    return problems


def check_after_kill(image):
    """The killed app's window is gone: the whole screen is background."""
    width, height, _ = image
    drawn = [
        (x, y) for x in range(0, width, 3) for y in range(0, height, 3) if pixel(image, x, y) != BACKGROUND
    ]
    return [f"{len(drawn)} sampled pixels are still drawn, e.g. {drawn[:3]}"] if drawn else []


CHECKS = {"hello": check_hello, "before-kill": check_hello, "after-kill": check_after_kill}


class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.file = self.sock.makefile("rw")
        json.loads(self.file.readline())  # greeting
        self.call("qmp_capabilities")

    def call(self, command, **arguments):
        self.file.write(json.dumps({"execute": command, "arguments": arguments}) + "\n")
        self.file.flush()
        while True:
            reply = json.loads(self.file.readline())
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RuntimeError(f"QMP {command}: {reply['error']}")


def connect(path, deadline):
    while True:
        try:
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(path)
            return sock
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main():
    kernel, initramfs, out = sys.argv[1:4]
    wanted = sys.argv[4:] or SCENARIOS
    unknown = [name for name in wanted if name not in SCENARIOS]
    if unknown:
        sys.exit(f"unknown scenario {unknown}; known: {', '.join(SCENARIOS)}")
    os.makedirs(out, exist_ok=True)
    serial_path, qmp_path = f"{out}/serial.sock", f"{out}/qmp.sock"
    for path in (serial_path, qmp_path):
        if os.path.exists(path):
            os.unlink(path)
    started = time.monotonic()
    qemu = subprocess.Popen(
        [
            "qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-smp", "2",
            "-display", "none", "-monitor", "none", "-no-reboot",
            "-vga", "none", "-device", "virtio-gpu-pci,xres=1024,yres=768",
            "-chardev", f"socket,id=console,path={serial_path},server=on,wait=on",
            "-serial", "chardev:console",
            "-qmp", f"unix:{qmp_path},server=on,wait=off",
            "-kernel", kernel, "-initrd", initramfs,
            "-append", f"console=ttyS0 quiet panic=-1 weft.scenarios={','.join(wanted)}",
        ],
    )
    deadline = started + TIMEOUT_S
    console = connect(serial_path, deadline)
    while not os.path.exists(qmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    qmp = Qmp(qmp_path)
    results, problems, times, measures, buffer = {}, [], {}, [], b""
    log = open(f"{out}/serial.log", "wb")
    console.settimeout(1)
    while time.monotonic() < deadline:
        try:
            chunk = console.recv(65536)
        except socket.timeout:
            if qemu.poll() is not None:
                break
            continue
        if not chunk:
            break
        log.write(chunk)
        log.flush()
        buffer += chunk
        while b"\n" in buffer:
            raw, buffer = buffer.split(b"\n", 1)
            line = raw.decode(errors="replace").rstrip("\r")
            print(f"  guest| {line}", flush=True)
            words = line.split()
            if not words or not words[0].startswith("WEFT-"):
                continue
            tag = words[0]
            if tag == "WEFT-RESULT" and len(words) >= 3:
                results[words[1]] = (words[2], " ".join(words[3:]))
            elif tag == "WEFT-TIME" and len(words) == 3:
                times[words[1]] = float(words[2])
                times[f"{words[1]} (host)"] = time.monotonic() - started
            elif tag == "WEFT-MEASURE":
                measures.append(" ".join(words[1:]))
            elif tag == "WEFT-SCREENSHOT" and len(words) == 2:
                name = words[1]
                # The screen may lag the guest's state a little under TCG:
                # look again for a few seconds before calling it wrong.
                settle = time.monotonic() + SETTLE_S
                while True:
                    qmp.call("screendump", filename=os.path.abspath(f"{out}/{name}.ppm"))
                    found = CHECKS[name](read_ppm(f"{out}/{name}.ppm"))
                    if not found or time.monotonic() > settle:
                        break
                    time.sleep(0.25)
                qmp.call("screendump", filename=os.path.abspath(f"{out}/{name}.png"), format="png")
                problems += [f"screenshot {name}: {problem}" for problem in found]
                print(f"  host | screenshot {name}: {'ok' if not found else found}", flush=True)
                console.sendall(b"go\n")
    try:
        qemu.wait(timeout=30)
    except subprocess.TimeoutExpired:
        qemu.kill()
        problems.append(f"the VM did not power off within {TIMEOUT_S} s")
    print(f"VM ran {time.monotonic() - started:.1f} s (host wall clock)")
    for name, value in times.items():
        print(f"  {name}: {value:.2f} s")
    for measure in measures:
        print(f"  {measure}")
    failed = False
    for name in wanted:
        verdict, detail = results.get(name, ("MISSING", "no WEFT-RESULT line"))
        print(f"{name:10} {verdict} {detail}")
        failed |= verdict != "PASS"
    for problem in problems:
        print(f"FAIL {problem}")
    sys.exit(1 if failed or problems else 0)


if __name__ == "__main__":
    main()
