# What kind of machine WEFT runs on: `desktop` (the default: a display,
# input, apps launched from the system UI), `kiosk` (one app, restarted when
# it fails, no way out of it) or `headless` (no display: the compositor
# renders into memory; for servers and CI).
{ config, lib, ... }:
let
  cfg = config.weft;
in
{
  options.weft = {
    profile = lib.mkOption {
      type = lib.types.enum [
        "desktop"
        "kiosk"
        "headless"
      ];
      default = "desktop";
      description = "The kind of WEFT machine.";
    };
    kiosk.app = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "org.weft.clock";
      description = "The app a kiosk launches at boot and keeps running.";
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      (lib.mkIf (cfg.profile == "desktop") {
        hardware.graphics.enable = lib.mkDefault true;
      })
      (lib.mkIf (cfg.profile == "kiosk") {
        assertions = [
          {
            assertion = cfg.kiosk.app != null;
            message = "weft.profile = \"kiosk\" needs weft.kiosk.app.";
          }
        ];
        weft.settings.restart.policy = lib.mkDefault "on-failure";
        # No consoles to switch to.
        services.logind.settings.Login.NAutoVTs = 0;
        systemd.services.weft-kiosk = {
          description = "WEFT kiosk app";
          after = [ "weft-appd.service" ];
          bindsTo = [ "weft-appd.service" ];
          wantedBy = [ "graphical.target" ];
          environment.XDG_RUNTIME_DIR = "/run/user/${toString config.users.users.${cfg.session.user}.uid}";
          # weftctl only talks to weft-appd's Unix socket.
          serviceConfig = import ./hardening.nix // {
            Type = "oneshot";
            RemainAfterExit = true;
            User = cfg.session.user;
            ExecStart = "${cfg.package}/bin/weftctl launch ${cfg.kiosk.app}";
          };
        };
      })
      (lib.mkIf (cfg.profile == "headless") {
        weft.compositor.backend = lib.mkDefault "headless";
      })
    ]
  );
}
