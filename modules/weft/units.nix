# The systemd units of a WEFT session: weft-compositor on the seat's first VT
# (a logind session through PAM, so libseat can open the display) and
# weft-appd beside it, both Type=notify (the Rust side sends READY=1 once its
# sockets are bound). Plain builtins: the NixOS module merges these into
# `systemd.services`, and a check compares their command lines and hardening
# with what the boot-to-app VM (tests/vm/init) runs.
{
  package,
  configFile,
  user,
  uid,
  backend ? "drm",
}:
let
  runtimeDir = "/run/user/${toString uid}";
  # What both services share: nothing of the system is writable but their
  # own state, no new kernel state, only local and Unix sockets.
  hardening = {
    ProtectSystem = "strict";
    ProtectHome = "read-only";
    PrivateTmp = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = false;
    ProtectClock = true;
    ProtectHostname = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = false;
    LockPersonality = true;
    RestrictNamespaces = false;
    SystemCallArchitectures = "native";
    UMask = "0077";
  };
in
{
  weft-compositor = {
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
      RestrictAddressFamilies = [
        "AF_UNIX"
        "AF_NETLINK"
      ];
      SystemCallFilter = [
        "@system-service"
        "~@privileged @resources"
      ];
      NoNewPrivileges = true;
    };
  };

  weft-appd = {
    description = "WEFT session supervisor";
    after = [ "weft-compositor.service" ];
    bindsTo = [ "weft-compositor.service" ];
    wantedBy = [ "graphical.target" ];
    environment.XDG_RUNTIME_DIR = runtimeDir;
    serviceConfig = hardening // {
      Type = "notify";
      NotifyAccess = "main";
      ExecStart = "${package}/bin/weft-appd --config ${configFile}";
      User = user;
      Slice = "weft-apps.slice";
      # appd moves itself to supervisor/ and gives each session its own cgroup.
      Delegate = true;
      Restart = "on-failure";
      ReadWritePaths = [
        runtimeDir
        "/var/lib/weft/aot"
        "/run/weft/apps"
      ];
      # 127.0.0.1 for the system UI's WebSocket; Unix for everything else.
      RestrictAddressFamilies = [
        "AF_UNIX"
        "AF_INET"
      ];
      # The filter is inherited by the mount helper, which mounts.
      SystemCallFilter = [
        "@system-service"
        "@mount"
      ];
      # Not NoNewPrivileges: the setuid mount helper must gain root. The
      # runtimes set no_new_privs themselves before running app code.
      NoNewPrivileges = false;
    };
  };
}
