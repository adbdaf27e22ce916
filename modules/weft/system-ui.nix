# The system UI: weft-servo-shell as the compositor's panel, talking to
# weft-appd over its WebSocket (token and port from weft-appd's runtime
# directory). It sandboxes itself (Landlock, seccomp) once its window is open.
{
  package,
  user,
  uid,
  noJit ? false,
}:
let
  runtimeDir = "/run/user/${toString uid}";
in
{
  description = "WEFT system UI";
  after = [ "weft-appd.service" ];
  bindsTo = [ "weft-appd.service" ];
  wantedBy = [ "graphical.target" ];
  environment = {
    XDG_RUNTIME_DIR = runtimeDir;
    # The compositor's socket for the system UI (weft-compositor --socket).
    WAYLAND_DISPLAY = "wayland-weft";
    WEFT_SHELL_NO_JIT = if noJit then "true" else "false";
  };
  serviceConfig = {
    ExecStart = "${package}/bin/weft-servo-shell";
    User = user;
    Restart = "always";
    RestartSec = "1s";
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    NoNewPrivileges = true;
    RestrictAddressFamilies = [
      "AF_UNIX"
      "AF_INET"
    ];
    SystemCallFilter = [ "@system-service" ];
    LockPersonality = true;
  };
}
