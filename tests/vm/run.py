#!/usr/bin/env python3
"""Boots the WEFT VM under QEMU (TCG) and runs its scenarios.

Usage: run.py KERNEL INITRAMFS WEB_DISK OUT_DIR [SCENARIO ...]

Scenarios: see SCENARIOS (default: all). WEB_DISK is tests/vm/build-web.sh's
image, or `-` when the Servo shells are not built: then scenario `web` is
skipped, saying so. The guest's /init (tests/vm/init) prints WEFT-RESULT
lines; on WEFT-SCREENSHOT <name> this script takes a QMP screendump (PNG kept
as an artifact, PPM checked pixel by pixel) and answers on the console so the
guest goes on; on WEFT-CLICK-PAGE <x> <y> (a point of the app's page) and
WEFT-CLICK-LAUNCHER <n> (the n-th launcher button) it clicks there through the
VM's virtio tablet and answers. Exit status 0 only when every scenario asked
for passed, every screenshot check passed, and the guest powered itself off.
"""

import json
import os
import socket
import subprocess
import sys
import time

SCENARIOS = ["boot", "tampered", "untrusted", "kill", "cgroup", "cpu", "web", "user"]
# The compositor's background (backend::BACKGROUND) and weston-simple-shm's
# fixed 250x250 window with a white border, at the app area's origin.
BACKGROUND = (0x1C, 0x24, 0x30)
WHITE = (0xFF, 0xFF, 0xFF)
WINDOW = 250
TIMEOUT_S = 900
# How long a screenshot may take to show what the guest says is on screen.
SETTLE_S = 10
# Servo's pages under TCG take much longer to draw what they were told.
WEB_SETTLE_S = 240
# The system UI's bar (#27304a) and launcher buttons (#3a4668), hello's page
# (#f4f1ea) and clock's (#10141c), as in the Servo suite (tests/servo.rs).
BAR = (0x27, 0x30, 0x4A)
BUTTON = (0x3A, 0x46, 0x68)
HELLO_PAGE = (0xF4, 0xF1, 0xEA)
CLOCK_PAGE = (0x10, 0x14, 0x1C)
# A row of the panel through its buttons, above their text.
ROW = 10
# QEMU's absolute pointer axes run from 0 to this.
ABS_MAX = 0x7FFF


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


def runs(image, y, colour):
    """The runs of `colour` longer than 8 pixels along row y: (first x, last x)."""
    width, _, _ = image
    found = []
    for x in range(width):
        if pixel(image, x, y) != colour:
            continue
        if found and found[-1][1] + 1 == x:
            found[-1][1] = x
        else:
            found.append([x, x])
    return [(a, b) for a, b in found if b - a > 8]


def dark(image, xs, ys):
    """Pixels in the box darker than mid-grey (text)."""
    return sum(all(c < 100 for c in pixel(image, x, y)) for x in xs for y in ys)


def app_top(image):
    """The first row of the app area: where hello's page begins at x = 900."""
    _, height, _ = image
    return next((y for y in range(height) if pixel(image, 900, y) == HELLO_PAGE), None)


def check_panel(image):
    problems = []
    # The bar's left padding, before the brand.
    if pixel(image, 4, 20) != BAR:
        problems.append(f"no panel bar at (4, 20): {pixel(image, 4, 20)}")
    if len(runs(image, ROW, BUTTON)) < 2:
        problems.append(f"the launcher shows {len(runs(image, ROW, BUTTON))} buttons")
    return problems


def on_hello(check):
    """A check of hello's page, given the app area's first row; fails when the page is not on screen."""
    def checked(image):
        top = app_top(image)
        return ["hello's page is not on screen"] if top is None else check(image, top)
    return checked


@on_hello
def check_web_hello(image, top):
    problems = check_panel(image)
    if pixel(image, 700, 500) != HELLO_PAGE:
        problems.append(f"(700, 500) is {pixel(image, 700, 500)}, not hello's page")
    # The heading "Hello", dark text at the page's top left.
    if dark(image, range(30, 140), range(top + 25, top + 75)) < 100:
        problems.append("no heading on hello's page")
    # Nothing but the panel above the page: no strip of bare background.
    strip = [y for y in range(top) if pixel(image, 900, y) == BACKGROUND]
    if strip:
        problems.append(f"{len(strip)} rows of bare background between the panel and the page")
    return problems


@on_hello
def check_web_answer(image, top):
    if dark(image, range(30, 400), range(top + 125, top + 185)) < 50:
        return ["the app's answer is not on the page"]
    return []


def check_web_clock(image):
    problems = check_panel(image)
    if pixel(image, 900, 500) != CLOCK_PAGE:
        problems.append(f"(900, 500) is {pixel(image, 900, 500)}, not clock's page")
    return problems


CHECKS = {
    "hello": check_hello,
    "before-kill": check_hello,
    "after-kill": check_after_kill,
    "web-panel": check_panel,
    "web-hello": check_web_hello,
    "web-answer": check_web_answer,
    "web-clock": check_web_clock,
}


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


def click(qmp, image, x, y):
    """A left click at screen pixel (x, y) through the VM's virtio tablet."""
    width, height, _ = image
    at = [
        {"type": "abs", "data": {"axis": "x", "value": round(x * ABS_MAX / (width - 1))}},
        {"type": "abs", "data": {"axis": "y", "value": round(y * ABS_MAX / (height - 1))}},
    ]
    qmp.call("input-send-event", events=at)
    time.sleep(0.2)
    for down in (True, False):
        qmp.call("input-send-event", events=[{"type": "btn", "data": {"down": down, "button": "left"}}])
        time.sleep(0.1)


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
    kernel, initramfs, web, out = sys.argv[1:5]
    wanted = sys.argv[5:] or SCENARIOS
    unknown = [name for name in wanted if name not in SCENARIOS]
    if unknown:
        sys.exit(f"unknown scenario {unknown}; known: {', '.join(SCENARIOS)}")
    skipped = {}
    if "web" in wanted and web == "-":
        skipped["web"] = "the Servo shells are not built (make servo): no web UI in the VM"
        wanted = [name for name in wanted if name != "web"]
    # The web UI's shells, Mesa and fonts come on a read-only disk, and
    # clicks through a virtio tablet.
    web_devices = [
        "-drive", f"file={web},if=virtio,format=raw,readonly=on",
        "-device", "virtio-tablet-pci", "-device", "virtio-keyboard-pci",
    ] if "web" in wanted else []
    os.makedirs(out, exist_ok=True)
    serial_path, qmp_path = f"{out}/serial.sock", f"{out}/qmp.sock"
    for path in (serial_path, qmp_path):
        if os.path.exists(path):
            os.unlink(path)
    started = time.monotonic()
    qemu = subprocess.Popen(
        [
            "qemu-system-x86_64", "-accel", "tcg", "-m", "2048" if web_devices else "1024", "-smp", "2",
            "-display", "none", "-monitor", "none", "-no-reboot",
            "-vga", "none", "-device", "virtio-gpu-pci,xres=1024,yres=768",
            "-chardev", f"socket,id=console,path={serial_path},server=on,wait=on",
            "-serial", "chardev:console",
            "-qmp", f"unix:{qmp_path},server=on,wait=off",
            "-kernel", kernel, "-initrd", initramfs,
            "-append", f"console=ttyS0 quiet panic=-1 weft.scenarios={','.join(wanted)}",
            *web_devices,
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
                asked = time.monotonic()
                settle = asked + (WEB_SETTLE_S if name.startswith("web") else SETTLE_S)
                while True:
                    qmp.call("screendump", filename=os.path.abspath(f"{out}/{name}.ppm"))
                    found = CHECKS[name](read_ppm(f"{out}/{name}.ppm"))
                    if not found or time.monotonic() > settle:
                        break
                    time.sleep(0.25)
                qmp.call("screendump", filename=os.path.abspath(f"{out}/{name}.png"), format="png")
                problems += [f"screenshot {name}: {problem}" for problem in found]
                if not found:
                    measures.append(f"screen {name} as expected {time.monotonic() - asked:.1f} s after asked")
                print(f"  host | screenshot {name}: {'ok' if not found else found}", flush=True)
                console.sendall(b"go\n")
            elif tag in ("WEFT-CLICK-PAGE", "WEFT-CLICK-LAUNCHER"):
                qmp.call("screendump", filename=os.path.abspath(f"{out}/click.ppm"))
                image = read_ppm(f"{out}/click.ppm")
                if tag == "WEFT-CLICK-PAGE":
                    top = app_top(image) or 0
                    x, y = int(words[1]), top + int(words[2])
                else:
                    buttons = runs(image, ROW, BUTTON)
                    n = int(words[1])
                    if n >= len(buttons):
                        problems.append(f"no launcher button {n}: {len(buttons)} on screen")
                        console.sendall(b"go\n")
                        continue
                    x, y = (buttons[n][0] + buttons[n][1]) // 2, 20
                print(f"  host | click at ({x}, {y})", flush=True)
                click(qmp, image, x, y)
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
    for name, why in skipped.items():
        print(f"{name:10} SKIPPED {why}")
    for name in wanted:
        verdict, detail = results.get(name, ("MISSING", "no WEFT-RESULT line"))
        print(f"{name:10} {verdict} {detail}")
        failed |= verdict != "PASS"
    for problem in problems:
        print(f"FAIL {problem}")
    sys.exit(1 if failed or problems else 0)


if __name__ == "__main__":
    main()
