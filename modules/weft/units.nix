# The systemd units of a WEFT session:
# - weft-compositor on the seat's first VT (a logind session through PAM, so
#   libseat opens the display and input through logind), Type=notify;
# - weft-appd beside it, Type=notify, with a delegated cgroup for sessions;
# - weft-mount.socket and weft-mount.service: the mount helper as a root
#   service on a socket only the session's group may use (no setuid binary:
#   systemd sets no_new_privs on a hardened unprivileged service, so a setuid
#   helper could never gain root from weft-appd).
# Each starts from ./hardening.nix and relaxes only what it needs. Plain
# builtins: the NixOS module merges these into systemd.*, and
# tests/nix-units.py checks the rendered units and that the boot-to-app VM
# (tests/vm/) runs the same commands.
{
  package,
  configFile,
  user,
  group,
  uid,
  home,
  mountSocket,
  backend ? "drm",
}:
let
  runtimeDir = "/run/user/${toString uid}";
  hardening = import ./hardening.nix;
  displayDevices = backend != "headless";
  # Block devices the mount helper maps and mounts images through.
  imageDevices = [
    "/dev/loop-control rw"
    "block-loop rw"
    "/dev/mapper/control rw"
    "block-device-mapper rw"
  ];
in
{
  sockets.weft-mount = {
    description = "WEFT image mount service socket";
    wantedBy = [ "sockets.target" ];
    socketConfig = {
      ListenStream = mountSocket;
      SocketUser = "root";
      SocketGroup = "weft";
      SocketMode = "0660";
    };
  };

  services.weft-mount = {
    description = "WEFT image mount service";
    requires = [ "weft-mount.socket" ];
    after = [ "weft-mount.socket" ];
    serviceConfig = {
      Type = "simple";
      ExecStart = "${package}/bin/weft-mount-helper serve";
      # The listening socket (Accept=no, one socket).
      StandardInput = "socket";
      StandardOutput = "journal";
      StandardError = "journal";
      # Its mounts must reach the host's mount namespace (weft-appd's sees
      # them through propagation), so it gets none of its own: no
      # ProtectSystem, PrivateTmp, PrivateDevices, ProtectHome, ProtectProc
      # or ProtectKernel*, which would make one. The rest of the baseline
      # holds, with the one capability mount and device-mapper need.
      CapabilityBoundingSet = [ "CAP_SYS_ADMIN" ];
      AmbientCapabilities = "";
      NoNewPrivileges = true;
      DevicePolicy = "closed";
      DeviceAllow = imageDevices;
      IPAddressDeny = "any";
      RestrictAddressFamilies = [ "AF_UNIX" ];
      SystemCallFilter = [
        "@system-service"
        "@mount"
      ];
      inherit (hardening)
        ProtectClock
        RestrictNamespaces
        RestrictRealtime
        RestrictSUIDSGID
        LockPersonality
        MemoryDenyWriteExecute
        SystemCallArchitectures
        ;
      UMask = "0022";
      Restart = "on-failure";
    };
  };

  services.weft-compositor = {
    description = "WEFT compositor";
    after = [
      "systemd-user-sessions.service"
      "systemd-logind.service"
    ];
    wants = [ "systemd-logind.service" ];
    conflicts = [ "getty@tty1.service" ];
    wantedBy = [ "graphical.target" ];
    serviceConfig = hardening // {
      Type = "notify";
      NotifyAccess = "main";
      ExecStart = "${package}/bin/weft-compositor --backend ${backend}";
      User = user;
      # A logind session on tty1: libseat opens the display and input through it.
      PAMName = "login";
      TTYPath = "/dev/tty1";
      TTYReset = true;
      TTYVHangup = true;
      TTYVTDisallocate = true;
      StandardInput = "tty-fail";
      StandardOutput = "journal";
      StandardError = "journal";
      UtmpIdentifier = "tty1";
      UtmpMode = "user";
      Restart = "always";
      RestartSec = "1s";
      ReadWritePaths = [ runtimeDir ];
      # The display and input devices (and its VT), nothing else; libinput
      # follows hotplug through udev's netlink socket.
      BindPaths =
        if displayDevices then
          [
            "/dev/dri"
            "-/dev/input"
          ]
        else
          [ ];
      DeviceAllow =
        if displayDevices then
          [
            "char-drm rw"
            "char-input rw"
            "/dev/tty1 rw"
          ]
        else
          [ "/dev/tty1 rw" ];
      RestrictAddressFamilies = [
        "AF_UNIX"
        "AF_NETLINK"
      ];
    };
  };

  services.weft-appd = {
    description = "WEFT session supervisor";
    after = [
      "weft-compositor.service"
      "weft-mount.socket"
    ];
    bindsTo = [ "weft-compositor.service" ];
    requires = [ "weft-mount.socket" ];
    wantedBy = [ "graphical.target" ];
    environment.XDG_RUNTIME_DIR = runtimeDir;
    serviceConfig = hardening // {
      Type = "notify";
      NotifyAccess = "main";
      ExecStart = "${package}/bin/weft-appd --config ${configFile}";
      User = user;
      Slice = "weft-apps.slice";
      # appd moves itself to supervisor/ and gives each session its own
      # cgroup, so its delegated subtree must stay writable.
      Delegate = true;
      ProtectControlGroups = false;
      # /var/lib/weft-appd ($STATE_DIRECTORY), the session user's: the
      # newest version of each app launched (rollback protection).
      StateDirectory = "weft-appd";
      # /var/cache/weft-shaders ($CACHE_DIRECTORY): the shaders Mesa compiled
      # for each app's shells, one directory per app that only that app's
      # shells may write (their Landlock rules), so a shell starts without
      # compiling them again.
      CacheDirectory = "weft-shaders";
      Restart = "on-failure";
      ReadWritePaths = [
        runtimeDir
        "/var/lib/weft/aot"
      ];
      # Of the home directory only apps' data (and the store of user-installed
      # apps) and the documents the file portal hands out.
      ProtectHome = "tmpfs";
      BindPaths = [
        "${home}/.local/share/weft"
        "${home}/Documents"
      ];
      # wasmtime makes an app's precompiled code executable with mprotect,
      # and the app shells' SpiderMonkey JIT and Mesa's llvmpipe write code:
      # none of them can run without executable memory made at run time.
      MemoryDenyWriteExecute = false;
      # The app shells' engine pins its threads (sched_setaffinity). The file
      # portal puts read-only roots on a locked read-only mount made in a
      # user and mount namespace of its own (@mount, and the two namespace
      # kinds below); the runtime and the app shells' own seccomp filters
      # refuse new namespaces (weft-sandbox), so only appd and the portal
      # could make one.
      SystemCallFilter = [
        "@system-service"
        "@mount"
        "~@privileged"
      ];
      RestrictNamespaces = "user mnt";
      # 127.0.0.1 for the system UI's WebSocket, Unix for everything else;
      # apps granted net:fetch reach their origins over IPv4 or IPv6.
      RestrictAddressFamilies = [
        "AF_UNIX"
        "AF_INET"
        "AF_INET6"
      ];
    };
  };

  # Apps' data and the user's documents must exist before weft-appd binds
  # them; their parents belong to the user too.
  tmpfiles = [
    "d ${home}/.local 0755 ${user} ${group} -"
    "d ${home}/.local/share 0755 ${user} ${group} -"
    "d ${home}/.local/share/weft 0700 ${user} ${group} -"
    "d ${home}/Documents 0700 ${user} ${group} -"
  ];
}
