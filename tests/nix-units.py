#!/usr/bin/env python3
"""What NixOS would really run, read from ../shared/nix-eval's dumps.

  nix-units.py check DUMP      asserts the units, /etc files, wrappers, users,
                               tmpfiles and kernel options of the WEFT systems
                               (nixosConfigurations vm, vm-kiosk, vm-headless:
                               the desktop, kiosk and headless profiles), their
                               systemd-analyze security exposure, and that every
                               NixOS test node can load its units and installs
                               the apps its test launches
  nix-units.py vm DUMP OUT     writes what the here-runnable VM (tests/vm/)
                               runs, from nixosConfigurations.vm's units and
                               settings: OUT/services.sh (the commands and
                               environment of the units) and OUT/appd.toml
  nix-units.py vm-check DUMP   fails unless tests/vm/services.sh and
                               tests/vm/appd.toml are exactly what `vm` writes
                               and tests/vm/init starts the services with them

DUMP is `eval.sh --out DUMP`. The VM differs from a NixOS system only where
VM_PLACES says, so the units are the one source of truth for both; the VM's
copies are committed so that it builds without Nix.
"""

import configparser
import json
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

SESSION_UID = 1000
WEFT_BIN = re.compile(r"^/nix/store/[a-z0-9]{32}-weft-[0-9][^/]*/bin/")

# Where the boot-to-app VM puts what a NixOS system has elsewhere: it runs
# the session as root (uid 0) from an initramfs with the binaries on PATH; the
# app shell is /usr/bin/app-shell, which scenario `web` points at the real
# weft-app-shell (from the VM's web disk) and the others at a stock Wayland
# client standing in for it.
VM_PLACES = [
    (WEFT_BIN, ""),
    (re.compile(r"^/nix/store/[a-z0-9]{32}-weft-servo-[^/]+/bin/weft-app-shell$"), "/usr/bin/app-shell"),
    (re.compile(r"^/nix/store/[a-z0-9]{32}-weft-servo-[^/]+/bin/"), ""),
    (re.compile(rf"^/run/user/{SESSION_UID}(?=/|$)"), "/run/user/0"),
]


class Problems:
    def __init__(self):
        self.found = []

    def check(self, condition, message):
        if not condition:
            self.found.append(message)
        return condition


def load(dump, name):
    """A system's units, /etc and facts from the dump."""
    base = Path(dump) / "nixosConfigurations" / name
    return {part: json.loads((base / f"{part}.json").read_text()) for part in ("units", "etc", "system")}


def parse_unit(text):
    """A unit file as {section: {key: [values]}} (keys repeat)."""
    sections = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def service(system, name):
    unit = system["units"].get(name)
    return parse_unit(unit["text"]) if unit else None


def one(section, key):
    values = section.get(key, [])
    return values[-1] if values else None


def words(section, key):
    return [word for value in section.get(key, []) for word in value.split()]


def environment(section):
    env = {}
    for value in section.get("Environment", []):
        for item in shlex.split(value):
            name, _, val = item.partition("=")
            env[name] = val
    return env


def command(section):
    """ExecStart as (program name, arguments) with the weft package's path cut."""
    argv = shlex.split(one(section, "ExecStart") or "")
    if not argv:
        return None, []
    return WEFT_BIN.sub("", argv[0]), argv[1:]


# Hardening every WEFT service keeps, whatever else it relaxes.
ALWAYS = {
    "NoNewPrivileges": "true",
    "LockPersonality": "true",
    "RestrictRealtime": "true",
    "RestrictSUIDSGID": "true",
    "SystemCallArchitectures": "native",
    "ProtectClock": "true",
}
# What the services that may have a mount namespace add.
NAMESPACED = {
    "ProtectSystem": "strict",
    "PrivateTmp": "true",
    "PrivateMounts": "true",
    "ProtectKernelTunables": "true",
    "ProtectKernelModules": "true",
    "ProtectKernelLogs": "true",
    "ProtectProc": "invisible",
}


def check_hardening(p, where, unit, *, namespaced=True, capabilities=(), families=("AF_UNIX",), wx=False,
                    namespaces="true"):
    s = unit["Service"]
    for key, value in {**ALWAYS, "RestrictNamespaces": namespaces, **(NAMESPACED if namespaced else {})}.items():
        p.check(one(s, key) == value, f"{where}: {key}={one(s, key)}, expected {value}")
    if not namespaced:
        for key in NAMESPACED:
            p.check(key not in s, f"{where}: {key} gives it a mount namespace its mounts would stay in")
    p.check(sorted(words(s, "CapabilityBoundingSet")) == sorted(capabilities),
            f"{where}: CapabilityBoundingSet {words(s, 'CapabilityBoundingSet')}, expected {list(capabilities)}")
    p.check(words(s, "AmbientCapabilities") == [], f"{where}: ambient capabilities")
    p.check(sorted(words(s, "RestrictAddressFamilies")) == sorted(families),
            f"{where}: RestrictAddressFamilies {words(s, 'RestrictAddressFamilies')}, expected {list(families)}")
    p.check(one(s, "MemoryDenyWriteExecute") == ("false" if wx else "true"),
            f"{where}: MemoryDenyWriteExecute={one(s, 'MemoryDenyWriteExecute')}")
    filters = words(s, "SystemCallFilter")
    p.check(filters[:1] == ["@system-service"] and "~@privileged" in filters or "@mount" in filters,
            f"{where}: SystemCallFilter {filters}")


def check_system(p, name, system, profile):
    units = system["units"]
    where = f"nixosConfigurations.{name}"
    for required in ["weft-compositor.service", "weft-appd.service", "weft-mount.service",
                     "weft-mount.socket", "weft-apps.slice"]:
        p.check(required in units, f"{where}: no {required}")
    for unit_name, unit in units.items():
        if unit_name.startswith("weft") and unit_name.endswith(".service") and not unit["dropIn"]:
            s = parse_unit(unit["text"]).get("Service", {})
            p.check(one(s, "ExecStart"), f"{where}: {unit_name} has no ExecStart= (systemd refuses to load it)")
    compositor = service(system, "weft-compositor.service")
    appd = service(system, "weft-appd.service")
    mount = service(system, "weft-mount.service")
    socket = service(system, "weft-mount.socket")
    if not (compositor and appd and mount and socket):
        return

    # The programs, their arguments and environment.
    backend = "headless" if profile == "headless" else "drm"
    p.check(command(compositor["Service"]) == ("weft-compositor", ["--backend", backend]),
            f"{where}: compositor runs {command(compositor['Service'])}")
    p.check(command(appd["Service"]) == ("weft-appd", ["--config", "/etc/weft/appd.toml"]),
            f"{where}: appd runs {command(appd['Service'])}")
    p.check(command(mount["Service"]) == ("weft-mount-helper", ["serve"]),
            f"{where}: the mount service runs {command(mount['Service'])}")
    programs = {argv[0].rsplit("/bin/", 1)[0]
                for argv in (shlex.split(one(u["Service"], "ExecStart") or "") for u in (compositor, appd, mount))
                if argv}
    p.check(len(programs) == 1, f"{where}: the units run different weft packages: {programs}")
    env = environment(appd["Service"])
    p.check(env.get("XDG_RUNTIME_DIR") == f"/run/user/{SESSION_UID}", f"{where}: appd XDG_RUNTIME_DIR {env}")
    p.check(env.get("WEFT_SHELL_NO_JIT") == ("true" if profile == "kiosk" else "false"),
            f"{where}: appd WEFT_SHELL_NO_JIT={env.get('WEFT_SHELL_NO_JIT')}")

    # Users, ordering, slices and the delegated cgroup.
    for unit_name, unit in [("compositor", compositor), ("appd", appd)]:
        p.check(one(unit["Service"], "User") == "weft", f"{where}: {unit_name} runs as {one(unit['Service'], 'User')}")
        p.check(one(unit["Service"], "Type") == "notify", f"{where}: {unit_name} is not Type=notify")
    p.check(one(mount["Service"], "User") is None, f"{where}: the mount service must run as root")
    p.check(one(appd["Service"], "Delegate") == "true", f"{where}: appd without Delegate=yes")
    p.check(one(appd["Service"], "StateDirectory") == "weft-appd",
            f"{where}: appd has no state directory for its version ledger")
    p.check(one(appd["Service"], "CacheDirectory") == "weft-shaders",
            f"{where}: appd's app shells have no shader cache (CacheDirectory=weft-shaders)")
    p.check(one(appd["Service"], "Slice") == "weft-apps.slice", f"{where}: appd not in weft-apps.slice")
    p.check("weft-compositor.service" in words(appd["Unit"], "After")
            and "weft-compositor.service" in words(appd["Unit"], "BindsTo"),
            f"{where}: appd not ordered after and bound to the compositor")
    p.check("weft-mount.socket" in words(appd["Unit"], "Requires")
            and "weft-mount.socket" in words(appd["Unit"], "After"),
            f"{where}: appd does not require the mount socket")
    p.check(one(mount["Service"], "StandardInput") == "socket", f"{where}: the mount service gets no socket")
    s = socket["Socket"]
    p.check((one(s, "SocketUser"), one(s, "SocketGroup"), one(s, "SocketMode")) == ("root", "weft", "0660"),
            f"{where}: mount socket owner and mode {s}")
    p.check(one(s, "Accept") in (None, "false"), f"{where}: the mount socket must hand over one listener")
    p.check("sockets.target" in units["weft-mount.socket"]["wantedBy"], f"{where}: mount socket not wanted")

    # Hardening.
    check_hardening(p, f"{where} compositor", compositor, families=("AF_UNIX", "AF_NETLINK"))
    devices = words(compositor["Service"], "DeviceAllow")
    if profile == "headless":
        p.check("char-drm" not in devices, f"{where}: a headless compositor may open DRM devices")
    else:
        p.check({"char-drm", "char-input"} <= set(devices), f"{where}: compositor DeviceAllow {devices}")
        p.check("/dev/dri" in words(compositor["Service"], "BindPaths"), f"{where}: compositor sees no /dev/dri")
    p.check(one(compositor["Service"], "PrivateDevices") == "true", f"{where}: compositor PrivateDevices")
    # The file portal's read-only roots: a user and a mount namespace, and @mount.
    check_hardening(p, f"{where} appd", appd, families=("AF_UNIX", "AF_INET", "AF_INET6"), wx=True,
                    namespaces="user mnt")
    p.check("@mount" in words(appd["Service"], "SystemCallFilter"), f"{where}: appd without @mount (portal)")
    p.check(one(appd["Service"], "PrivateDevices") == "true", f"{where}: appd PrivateDevices")
    p.check(one(appd["Service"], "ProtectHome") == "tmpfs", f"{where}: appd ProtectHome")
    check_hardening(p, f"{where} mount service", mount, namespaced=False, capabilities=("CAP_SYS_ADMIN",))
    p.check(one(mount["Service"], "DevicePolicy") == "closed", f"{where}: mount service DevicePolicy")
    p.check(one(mount["Service"], "IPAddressDeny") == "any", f"{where}: mount service IPAddressDeny")
    p.check("weft-mount-helper" not in system["system"]["wrappers"], f"{where}: a setuid weft-mount-helper")

    system_ui = service(system, "weft-system-ui.service")
    kiosk = service(system, "weft-kiosk.service")
    p.check((system_ui is not None) == (profile == "desktop"), f"{where}: system UI present in {profile}")
    p.check((kiosk is not None) == (profile == "kiosk"), f"{where}: kiosk unit present in {profile}")
    if system_ui:
        p.check(command(system_ui["Service"])[0].endswith("/bin/weft-servo-shell"), f"{where}: system UI command")
        p.check("weft-appd.service" in words(system_ui["Unit"], "BindsTo"), f"{where}: system UI not bound to appd")
        p.check(one(system_ui["Service"], "CacheDirectory") == "weft-shaders",
                f"{where}: the system UI has no shader cache (CacheDirectory=weft-shaders)")
        check_hardening(p, f"{where} system UI", system_ui, families=("AF_UNIX", "AF_INET"), wx=True)
        p.check(one(system_ui["Service"], "IPAddressDeny") == "any", f"{where}: system UI reaches other hosts")
    if kiosk:
        p.check(command(kiosk["Service"]) == ("weftctl", ["launch", "org.weft.clock"]), f"{where}: kiosk command")
        check_hardening(p, f"{where} kiosk", kiosk)

    # weft-appd's settings.
    settings = system["etc"]["weft/appd.toml"]["value"]
    p.check(settings.get("mount-socket") == one(s, "ListenStream"), f"{where}: appd's mount-socket {settings}")
    p.check("mount-helper" not in settings, f"{where}: appd runs a mount helper")
    p.check(settings.get("compositor-socket") == f"/run/user/{SESSION_UID}/weft/compositor.sock",
            f"{where}: compositor-socket {settings.get('compositor-socket')}")
    p.check(settings.get("restart", {}).get("policy") == ("on-failure" if profile == "kiosk" else "never"),
            f"{where}: restart policy {settings.get('restart')}")
    if profile == "desktop":
        p.check(str(settings.get("app-shell", "")).endswith("/bin/weft-app-shell"), f"{where}: app shell")

    # Apps, keys and the kernel.
    tmpfiles = system["system"]["tmpfiles"]
    if profile == "kiosk":
        p.check(any(rule.startswith("L+ /var/lib/weft/images/org.weft.clock ") and rule.endswith("-verified")
                    for rule in tmpfiles), f"{where}: the clock is not installed from a verified image")
        p.check("weft/trusted-keys/key-0.pub" in system["etc"], f"{where}: no trusted key")
    home = system["system"]["users"]["weft"]["home"]
    for dir in [".local/share/weft", "Documents"]:
        p.check(any(rule.startswith(f"d {home}/{dir} ") for rule in tmpfiles), f"{where}: {home}/{dir} not made")
        p.check(f"{home}/{dir}" in words(appd["Service"], "BindPaths"), f"{where}: appd cannot write {dir}")
    kernel = system["system"]["kernel"]
    for option in ["EROFS_FS", "EROFS_FS_ZIP", "DM_VERITY", "BLK_DEV_LOOP", "SECURITY_LANDLOCK", "MEMCG",
                   "CGROUP_PIDS", "SECCOMP_FILTER", "USER_NS", "DRM_VIRTIO_GPU"]:
        p.check(f"CONFIG_{option}=y" in kernel["requiredConfig"], f"{where}: CONFIG_{option} not required")
    p.check(bool(kernel["structuredConfig"]) == (profile == "headless"),
            f"{where}: kernel patches {sorted(kernel['structuredConfig'])}")
    for module in ["erofs", "dm-verity", "loop"]:
        p.check(module in kernel["modules"], f"{where}: kernel module {module} not loaded")


# systemd-analyze's exposure, at most (0 is best, 10 worst; "OK" is below 5).
# weft-appd: 1.6 before the file portal's read-only roots needed a user and a
# mount namespace (RestrictNamespaces=user mnt, @mount): 2.1 since.
EXPOSURE = {"weft-mount.service": 4.0, "weft-appd.service": 2.2}
EXPOSURE_DEFAULT = 2.0


def exposures(system):
    found = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, unit in system["units"].items():
            if not (name.startswith("weft") and name.endswith(".service")):
                continue
            path = Path(scratch) / name
            path.write_text(unit["text"])
            out = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(path)],
                                 capture_output=True, text=True)
            match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout + out.stderr)
            found[name] = float(match.group(1)) if match else None
    return found


# The apps each NixOS test launches (tests/nixos/default.nix): its node must
# install them under the ids their manifests declare.
TEST_APPS = {
    "vm-boot-to-app": ["org.weft.hello"],
    "vm-web-ui": ["org.weft.hello"],
    "vm-tamper-runtime": ["org.weft.clock"],
    "vm-crash-restart": ["org.weft.clock"],
    "vm-kiosk": ["org.weft.clock"],
    "vm-rollback": ["org.weft.hello"],
}


def check_test_nodes(p, dump):
    """Every node of every NixOS test: loadable units, and the apps it launches."""
    nodes = sorted(Path(dump).glob("checks/*/*/*/units.json"))
    p.check(nodes, f"{dump}: no NixOS test nodes were dumped")
    for units_file in nodes:
        node = units_file.parent
        where = "/".join(node.parts[-3:])
        units = json.loads(units_file.read_text())
        for name, unit in units.items():
            if name.startswith("weft") and name.endswith(".service") and not unit["dropIn"]:
                s = parse_unit(unit["text"]).get("Service", {})
                p.check(one(s, "ExecStart"), f"{where}: {name} has no ExecStart= (systemd refuses to load it)")
        tmpfiles = json.loads((node / "system.json").read_text())["tmpfiles"]
        for app in TEST_APPS.get(node.parts[-2], []):
            p.check(any(rule.startswith(f"L+ /var/lib/weft/images/{app} ") for rule in tmpfiles),
                    f"{where}: launches {app}, which it does not install")


def check(dump):
    p = Problems()
    figures = []
    check_test_nodes(p, dump)
    for name, profile in [("vm", "desktop"), ("vm-kiosk", "kiosk"), ("vm-headless", "headless")]:
        system = load(dump, name)
        check_system(p, name, system, profile)
        for unit, level in sorted(exposures(system).items()):
            most = EXPOSURE.get(unit, EXPOSURE_DEFAULT)
            p.check(level is not None and level <= most, f"{name}: {unit} exposure {level}, at most {most}")
            figures.append(f"{name}/{unit} {level}")
    if p.found:
        sys.exit("nix-units.py: the rendered systems are wrong:\n  " + "\n  ".join(p.found))
    print("nix units: desktop, kiosk and headless systems and every NixOS test node as expected; "
          "systemd-analyze exposure: "
          + ", ".join(figures))


def to_vm(value):
    if isinstance(value, str):
        for pattern, replacement in VM_PLACES:
            value = pattern.sub(replacement, value)
    return value


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return "[" + ", ".join(toml_value(item) for item in value) + "]"


def toml(settings):
    scalars = [f"{key} = {toml_value(to_vm(value))}" for key, value in sorted(settings.items())
               if not isinstance(value, dict)]
    tables = [f"\n[{key}]\n" + "\n".join(f"{k} = {toml_value(to_vm(v))}" for k, v in sorted(value.items()))
              for key, value in sorted(settings.items()) if isinstance(value, dict)]
    return "\n".join(scalars) + "\n" + "\n".join(tables) + "\n"


def vm(dump, out):
    system = load(dump, "vm")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    def vm_command(unit_name, extra=()):
        argv = [to_vm(word) for word in shlex.split(one(service(system, unit_name)["Service"], "ExecStart"))]
        return shlex.join(argv + list(extra))

    socket_unit = service(system, "weft-mount.socket")["Socket"]
    socket = one(socket_unit, "ListenStream")
    appd = service(system, "weft-appd.service")["Service"]
    env = {name: to_vm(value) for name, value in environment(appd).items()
           if name not in ("PATH", "XDG_RUNTIME_DIR")}
    system_ui = service(system, "weft-system-ui.service")["Service"]
    ui_env = {name: to_vm(value) for name, value in environment(system_ui).items() if name != "PATH"}
    # systemd sets STATE_DIRECTORY and CACHE_DIRECTORY for StateDirectory= and
    # CacheDirectory=; the VM's init does not.
    if one(appd, "StateDirectory"):
        env["STATE_DIRECTORY"] = f"/var/lib/{one(appd, 'StateDirectory')}"
    for unit, unit_env in [(appd, env), (system_ui, ui_env)]:
        if one(unit, "CacheDirectory"):
            unit_env["CACHE_DIRECTORY"] = f"/var/cache/{one(unit, 'CacheDirectory')}"
    lines = [
        "# Generated by tests/nix-units.py from nixosConfigurations.vm's units: what",
        "# the VM's /init runs, as the units run it (see VM_PLACES there).",
        # No systemd hands the helper its socket here: it makes the unit's.
        f"mount_service_command={shlex.quote(vm_command('weft-mount.service', ['--listen', socket]))}",
        f"mount_socket={shlex.quote(socket)}",
        # No systemd sets the socket's owner here: the scenario `user` does.
        f"mount_socket_group={shlex.quote(one(socket_unit, 'SocketGroup'))}",
        f"mount_socket_mode={shlex.quote(one(socket_unit, 'SocketMode'))}",
        f"appd_user={shlex.quote(one(appd, 'User'))}",
        f"compositor_command={shlex.quote(vm_command('weft-compositor.service'))}",
        f"appd_command={shlex.quote(vm_command('weft-appd.service'))}",
        f"appd_environment={shlex.quote(' '.join(f'{k}={v}' for k, v in sorted(env.items())))}",
        f"system_ui_command={shlex.quote(vm_command('weft-system-ui.service'))}",
        f"system_ui_environment={shlex.quote(' '.join(f'{k}={v}' for k, v in sorted(ui_env.items())))}",
    ]
    (out / "services.sh").write_text("\n".join(lines) + "\n")
    (out / "appd.toml").write_text(
        "# Generated by tests/nix-units.py from nixosConfigurations.vm's /etc/weft/appd.toml.\n"
        + toml(system["etc"]["weft/appd.toml"]["value"]))


def vm_check(dump):
    repo = Path(__file__).resolve().parent.parent
    p = Problems()
    with tempfile.TemporaryDirectory() as scratch:
        vm(dump, scratch)
        for name in ["services.sh", "appd.toml"]:
            committed = repo / "tests/vm" / name
            p.check(committed.exists() and committed.read_text() == (Path(scratch) / name).read_text(),
                    f"tests/vm/{name} is not what the units give: run "
                    f"`python3 tests/nix-units.py vm {dump} tests/vm` and commit it")
    init = (repo / "tests/vm/init").read_text()
    p.check(". /etc/weft/services.sh" in init, "tests/vm/init does not read /etc/weft/services.sh")
    for variable in ["mount_service_command", "compositor_command", "appd_command", "appd_environment",
                     "mount_socket_group", "mount_socket_mode", "appd_user", "system_ui_command",
                     "system_ui_environment"]:
        p.check(f"${variable}" in init, f"tests/vm/init does not use ${variable}")
    for program in ["weft-mount-helper", "weft-compositor", "weft-appd", "weft-servo-shell"]:
        p.check(not re.search(rf"^[^#]*\b{program} ", init, re.M),
                f"tests/vm/init starts {program} with its own arguments instead of the unit's")
    if p.found:
        sys.exit("nix-units.py: the VM does not run what the units run:\n  " + "\n  ".join(p.found))
    print("nix units: tests/vm runs the units' commands, environment and settings")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "check":
        check(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "vm-check":
        vm_check(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "vm":
        vm(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
