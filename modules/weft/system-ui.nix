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
  serviceConfig = import ./hardening.nix // {
    ExecStart = "${package}/bin/weft-servo-shell";
    # $CACHE_DIRECTORY/system-ui holds the shaders Mesa compiled for it (the
    # shell writes there and nowhere else but its scratch directory).
    CacheDirectory = "weft-shaders";
    User = user;
    Restart = "always";
    RestartSec = "1s";
    # weft-appd's WebSocket on 127.0.0.1 and the compositor's Unix socket.
    RestrictAddressFamilies = [
      "AF_UNIX"
      "AF_INET"
    ];
    IPAddressAllow = "localhost";
    IPAddressDeny = "any";
    # SpiderMonkey's JIT (unless noJit) and Mesa's llvmpipe, which renders
    # the page without a GPU, both write code at run time.
    MemoryDenyWriteExecute = false;
    # Servo pins its threads (sched_setaffinity).
    SystemCallFilter = [
      "@system-service"
      "~@privileged"
    ];
  };
}
