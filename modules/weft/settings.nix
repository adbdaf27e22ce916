# weft-appd's settings file, key by key: type, default (null = unset) and
# description. The NixOS module builds the `weft.settings` options from this,
# and a weft-appd test checks every key and default against
# `weft-appd --print-default-settings`, so the two cannot drift apart.
# Plain data: it must evaluate without nixpkgs.
{
  trusted-keys = {
    type = "path";
    default = "/etc/weft/trusted-keys";
    description = "Directory of trusted public keys (`*.pub`).";
  };
  aot-dir = {
    type = "path";
    default = "/var/lib/weft/aot";
    description = "Store of precompiled components; the installer writes artifacts here (weft-pack install, or weft-pack precompile, which the runtime runs at an image app's first launch).";
  };
  mount-helper = {
    type = "path";
    default = null;
    description = "Launch apps from their signed images, mounted by this helper run as a command (`mount|unmount <app-id>`; weft-appd must run as root).";
  };
  mount-socket = {
    type = "path";
    default = null;
    description = "Launch apps from their signed images, mounted by the mount service on this socket (`weft-mount-helper serve`; set by the module).";
  };
  app-shell = {
    type = "path";
    default = null;
    description = "The per-app UI shell, started after READY as `<shell> <app-id> <session>`.";
  };
  compositor-socket = {
    type = "path";
    default = null;
    description = "weft-compositor's control socket; each app shell then gets its session's own Wayland socket.";
  };
  ready-timeout-ms = {
    type = "int";
    default = 30000;
    description = "How long an app has to report READY.";
  };
  stop-grace-ms = {
    type = "int";
    default = 3000;
    description = "Time between SIGTERM and SIGKILL when an app is stopped.";
  };
  ws-port = {
    type = "port";
    default = 7410;
    description = "The system UI's WebSocket port on 127.0.0.1 (0: any free port).";
  };
  ws-origins = {
    type = "strings";
    default = [ "weft://system" ];
    description = "Origins allowed to open the WebSocket.";
  };
  cgroups = {
    type = "bool";
    default = true;
    description = "Run each session in its own cgroup (needs `Delegate=yes`, which the unit sets).";
  };
  spare-runtime = {
    type = "bool";
    default = true;
    description = "Keep one runtime started ahead, its engine made, and hand the next launched app to it (each runtime still serves one app).";
  };
  restart = {
    policy = {
      type = "enum";
      values = [
        "never"
        "on-failure"
      ];
      default = "never";
      description = "Start a failed app again in its session.";
    };
    max = {
      type = "int";
      default = 3;
      description = "Restarts per session at most.";
    };
    backoff-ms = {
      type = "int";
      default = 500;
      description = "Wait before the first restart, doubled for each one after it.";
    };
  };
  session = {
    memory-max = {
      type = "str";
      default = "536870912";
      description = "Each session's cgroup `memory.max` (bytes or `max`).";
    };
    cpu-max = {
      type = "str";
      default = "200000 100000";
      description = "Each session's cgroup `cpu.max` (`<quota> <period>` in microseconds, or `max`).";
    };
    pids-max = {
      type = "str";
      default = "512";
      description = "Each session's cgroup `pids.max` (tasks or `max`).";
    };
  };
}
