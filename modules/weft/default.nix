# The WEFT OS NixOS module: `weft.enable = true;` turns a NixOS machine into
# WEFT (compositor, session supervisor, mount helper, signed app images).
{
  config,
  lib,
  pkgs,
  # The flake's packages for this system's platform (nixosModules.default).
  weftPackages,
  ...
}:
let
  cfg = config.weft;
  settingsFormat = pkgs.formats.toml { };

  # `weft.settings` options, generated from the key table weft-appd's test
  # checks against the Rust schema.
  settingType =
    spec:
    {
      path = lib.types.str;
      int = lib.types.ints.unsigned;
      port = lib.types.port;
      strings = lib.types.listOf lib.types.str;
      bool = lib.types.bool;
      str = lib.types.str;
      enum = lib.types.enum (spec.values or [ ]);
    }
    .${spec.type};
  settingOptions = lib.mapAttrs (
    _: spec:
    if spec ? type then
      lib.mkOption {
        type = lib.types.nullOr (settingType spec);
        inherit (spec) default description;
      }
    else
      lib.mkOption {
        type = lib.types.submodule { options = settingOptions spec; };
        default = { };
        description = "The `[${lib.concatStringsSep ", " (lib.attrNames spec)}]` table.";
      }
  );

  sessionUser = config.users.users.${cfg.session.user};
  inherit (sessionUser) uid;
  mountSocket = "/run/weft/mount.sock";
  appdSettings = import ./appd-config.nix {
    inherit (cfg) settings;
    inherit uid mountSocket;
    appShell = cfg.appShell;
  };
  appdConfigFile = settingsFormat.generate "weft-appd.toml" appdSettings;
  units = import ./units.nix {
    package = cfg.package;
    configFile = "/etc/weft/appd.toml";
    user = cfg.session.user;
    inherit (sessionUser) group home;
    inherit uid mountSocket;
    backend = cfg.compositor.backend;
  };

  # Each image is checked at build time: a bad or untrusted signature, or an
  # image that is not the app it is declared as, fails the system build, not
  # the first launch.
  verifiedImage =
    app:
    pkgs.callPackage ../../packages/weft-app/verify.nix {
      weft = cfg.package;
      inherit app;
      inherit (cfg) trustedKeys;
    };

  # What lib.mkWeftApp gives: the author's bytes and what they claim to be.
  appModule = lib.types.submodule {
    options = {
      id = lib.mkOption {
        type = lib.types.str;
        description = "The app id, as the author declares it; the build checks it against the signed statement.";
      };
      version = lib.mkOption {
        type = lib.types.str;
        description = "The app version (the image is `<id>-<version>.wimg`).";
      };
      image = lib.mkOption {
        type = lib.types.path;
        description = "The signed `.wimg` image, as its author built it.";
      };
      signature = lib.mkOption {
        type = lib.types.path;
        description = "The image's `.sig`, as its author signed it.";
      };
    };
  };
in
{
  imports = [
    ./kernel.nix
    ./profiles.nix
  ];

  options.weft = {
    enable = lib.mkEnableOption "WEFT OS: WebAssembly apps from signed images in a Wayland session";

    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.weft or weftPackages.weft;
      defaultText = lib.literalExpression "pkgs.weft (with weft.overlays.default) or weft.packages.\${system}.weft";
      description = "The WEFT binaries (weft-appd, weft-compositor, weft-mount-helper, ...).";
    };

    apps = lib.mkOption {
      type = lib.types.listOf appModule;
      default = [ ];
      example = lib.literalExpression "[ inputs.clock.weftApps.clock ]";
      description = ''
        Signed app images to install under `/var/lib/weft/images/<id>/`, as app
        flakes export them (`weft.lib.mkWeftApp`). Each is verified against
        {option}`weft.trustedKeys` and its declared id when the system is built
        (`lib.verifyWeftApp`) and again by the mount helper at every launch.
        The author's bytes are installed as they are, never rebuilt.
      '';
    };

    trustedKeys = lib.mkOption {
      type = lib.types.listOf lib.types.path;
      default = [ ];
      description = "Public keys (PEM `.pub` files) whose signatures this system accepts.";
    };

    settings = lib.mkOption {
      type = lib.types.submodule {
        freeformType = settingsFormat.type;
        options = settingOptions (import ./settings.nix);
      };
      default = { };
      description = ''
        weft-appd's settings, rendered to `/etc/weft/appd.toml` (the file
        `weft-appd --config` reads; keys in docs/nix.md).
      '';
    };

    appShell = lib.mkOption {
      type = lib.types.nullOr lib.types.path;
      default = if cfg.webShells.enable then "${cfg.webShells.package}/bin/weft-app-shell" else null;
      defaultText = lib.literalExpression ''"''${config.weft.webShells.package}/bin/weft-app-shell"'';
      description = "The per-app UI shell appd starts after READY (null: none).";
    };

    webShells = {
      enable = lib.mkOption {
        type = lib.types.bool;
        default = cfg.webShells.package != null;
        defaultText = lib.literalExpression "config.weft.webShells.package != null";
        description = "Show apps' web UIs (weft-app-shell) and the system UI (weft-servo-shell) with embedded Servo.";
      };
      package = lib.mkOption {
        type = lib.types.nullOr lib.types.package;
        default = pkgs.weft-servo or weftPackages.weft-servo or null;
        defaultText = lib.literalExpression "pkgs.weft-servo or weft.packages.\${system}.weft-servo (x86_64-linux only) or null";
        description = "The web shells (weft-servo-shell, weft-app-shell); none is built for this platform when null.";
      };
      systemUi = lib.mkOption {
        type = lib.types.bool;
        default = cfg.profile == "desktop";
        defaultText = lib.literalExpression ''config.weft.profile == "desktop"'';
        description = "Run the system UI (launcher, running apps, notifications) as the compositor's panel.";
      };
      noJit = lib.mkOption {
        type = lib.types.bool;
        default = cfg.profile == "kiosk";
        defaultText = lib.literalExpression ''config.weft.profile == "kiosk"'';
        description = "Run the shells' JavaScript without SpiderMonkey's JIT (slower, a smaller attack surface).";
      };
    };

    session.user = lib.mkOption {
      type = lib.types.str;
      default = "weft";
      description = "The user the session (compositor, supervisor, apps) runs as.";
    };

    compositor.backend = lib.mkOption {
      type = lib.types.enum [
        "drm"
        "headless"
        "auto"
      ];
      default = "drm";
      description = "Where weft-compositor draws (`headless` for machines without a display).";
    };

    appsSlice = {
      memoryMax = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "4G";
        description = "`MemoryMax=` of `weft-apps.slice`: all apps together, on top of each session's own limit.";
      };
      cpuQuota = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "300%";
        description = "`CPUQuota=` of `weft-apps.slice`.";
      };
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = uid != null;
        message = "weft.session.user (${cfg.session.user}) needs a fixed uid: weft-appd's runtime directory is /run/user/<uid>.";
      }
      {
        assertion = cfg.apps == [ ] || cfg.trustedKeys != [ ];
        message = "weft.apps are installed but weft.trustedKeys is empty: no app could be launched.";
      }
      {
        assertion = cfg.webShells.enable -> cfg.webShells.package != null;
        message = "weft.webShells.enable: no weft-servo is built for ${pkgs.stdenv.hostPlatform.system}; set weft.webShells.package or weft.webShells.enable = false.";
      }
      {
        assertion = lib.allUnique (map (app: app.id) cfg.apps);
        message = "weft.apps installs one app id twice: ${toString (map (app: app.id) cfg.apps)}.";
      }
    ];

    users.users.${cfg.session.user} = {
      isNormalUser = lib.mkDefault true;
      uid = lib.mkDefault 1000;
      extraGroups = [
        "video"
        "input"
        "weft"
      ];
    };
    users.groups.weft = { };

    environment.systemPackages = [ cfg.package ];

    environment.etc = {
      "weft/appd.toml".source = appdConfigFile;
    }
    // lib.listToAttrs (
      lib.imap0 (index: key: {
        name = "weft/trusted-keys/key-${toString index}.pub";
        value.source = key;
      }) cfg.trustedKeys
    );

    systemd.tmpfiles.rules = [
      "d /run/weft 0755 root root -"
      "d /run/weft/apps 0755 root root -"
      "d /var/lib/weft 0755 root root -"
      "d /var/lib/weft/images 0755 root root -"
      "d /var/lib/weft/aot 0700 ${cfg.session.user} ${sessionUser.group} -"
    ]
    ++ units.tmpfiles
    ++ map (app: "L+ /var/lib/weft/images/${app.id} - - - - ${verifiedImage app}") cfg.apps;

    systemd.slices.weft-apps = {
      description = "WEFT apps";
      sliceConfig =
        lib.optionalAttrs (cfg.appsSlice.memoryMax != null) { MemoryMax = cfg.appsSlice.memoryMax; }
        // lib.optionalAttrs (cfg.appsSlice.cpuQuota != null) { CPUQuota = cfg.appsSlice.cpuQuota; };
    };

    systemd.sockets = units.sockets;
    systemd.services = lib.mkMerge [
      units.services
      (lib.mkIf cfg.webShells.enable {
        # The shells inherit weft-appd's environment.
        weft-appd.environment.WEFT_SHELL_NO_JIT = lib.boolToString cfg.webShells.noJit;
      })
      (lib.mkIf (cfg.webShells.enable && cfg.webShells.systemUi) {
        weft-system-ui = import ./system-ui.nix {
          package = cfg.webShells.package;
          user = cfg.session.user;
          inherit uid;
          inherit (cfg.webShells) noJit;
        };
      })
    ];
    systemd.defaultUnit = "graphical.target";
  };
}
