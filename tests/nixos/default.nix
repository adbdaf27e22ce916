# The NixOS VM tests (`nix flake check` on x86_64-linux). Each matches a
# scenario of the here-runnable VM suite (tests/vm/init), named in its comment;
# the others cover what only a full NixOS system has (units, generations, the
# installer).
{
  pkgs,
  lib,
  weftModule,
  testImage,
  verifyWeftApp,
  vmToplevel,
}:
let
  hello = testImage "hello" { };
  clock = testImage "clock" { };
  notesTampered = testImage "notes" { tamper = true; };
  fetchUntrusted = testImage "fetch" { };

  # A build that must fail, and the reason its log must give.
  buildFails =
    name: drv: reason:
    pkgs.runCommand "weft-${name}" { failed = pkgs.testers.testBuildFailure drv; } ''
      grep -F ${lib.escapeShellArg reason} $failed/testBuildFailure.log
      touch $out
    '';

  # A stock Wayland client stands in for the app's web UI shell, as in
  # tests/vm, so these tests do not build Servo; `web-ui` below uses the real
  # shells.
  appShell = pkgs.writeShellScript "weft-test-app-shell" ''
    exec ${pkgs.weston}/bin/weston-simple-shm
  '';

  # A WEFT machine with the given apps (each a test image) trusted and installed.
  machine =
    images: extra:
    { ... }:
    {
      imports = [
        weftModule
        extra
      ];
      weft = {
        enable = true;
        appShell = lib.mkDefault appShell;
        webShells.enable = lib.mkDefault false;
        apps = map (image: image.app) images;
        trustedKeys = map (image: "${image.key}/test.pub") images;
      };
      virtualisation = {
        memorySize = 2048;
        qemu.options = [
          "-vga none"
          "-device virtio-gpu-pci,xres=1024,yres=768"
        ];
      };
    };

  # Runs weftctl as the session user.
  prelude = ''
    def weftctl(args):
        return machine.succeed(f"su weft -c 'XDG_RUNTIME_DIR=/run/user/1000 weftctl {args}'")

    def weftctl_fails(args):
        return machine.fail(f"su weft -c 'XDG_RUNTIME_DIR=/run/user/1000 weftctl {args} 2>&1'")

    machine.wait_for_unit("weft-compositor.service")
    machine.wait_for_unit("weft-appd.service")
  '';

  test =
    name: nodes: script:
    pkgs.testers.runNixOSTest {
      name = "weft-${name}";
      inherit nodes;
      extraPythonPackages = p: [ p.pillow ];
      testScript = prelude + script;
    };
in
{
  # tests/vm scenario `boot`: launch from a signed image through dm-verity,
  # READY, the window on screen where the layout puts it.
  vm-boot-to-app = test "boot-to-app" { machine = machine [ hello ] { }; } ''
    weftctl("launch org.weft.hello")
    machine.succeed("test -e /dev/mapper/weft-org.weft.hello")
    machine.sleep(2)
    machine.screenshot("hello")
    from PIL import Image
    import os
    shot = Image.open(os.path.join(machine.out_dir, "hello.png")).convert("RGB")
    assert shot.getpixel((0, 0)) == (255, 255, 255), shot.getpixel((0, 0))
    assert shot.getpixel((600, 600)) == (0x1C, 0x24, 0x30), shot.getpixel((600, 600))
    assert "Hello, WEFT!" in weftctl("send 1 WEFT")
  '';

  # The web shells: the system UI (weft-servo-shell) as the panel, then
  # hello's own page in weft-app-shell below it, the app's answer on it.
  vm-web-ui =
    test "web-ui"
      {
        machine = machine [ hello ] {
          weft.webShells.enable = true;
          weft.appShell = "${pkgs.weft-servo}/bin/weft-app-shell";
        };
      }
      ''
        machine.wait_for_unit("weft-system-ui.service")
        machine.sleep(5)
        machine.screenshot("system-ui")
        weftctl("launch org.weft.hello")
        machine.sleep(8)
        assert "Hello, WEFT!" in weftctl("send 1 WEFT")
        machine.sleep(2)
        machine.screenshot("system-ui-and-hello")
        from PIL import Image
        import os
        shot = Image.open(os.path.join(machine.out_dir, "system-ui-and-hello.png")).convert("RGB")
        # The panel's bar (#27304a) on top, hello's page (#f4f1ea) below it.
        assert shot.getpixel((600, 20)) == (0x27, 0x30, 0x4A), shot.getpixel((600, 20))
        assert shot.getpixel((900, 600)) == (0xF4, 0xF1, 0xEA), shot.getpixel((900, 600))
        machine.succeed("pgrep -f weft-app-shell")
      '';

  # tests/vm scenarios `tampered` and `untrusted`, at build time: a system
  # whose app image was changed after signing, or is signed by a key it does
  # not trust, or is not the app it declares, does not build.
  vm-tamper-build = buildFails "tamper-build" (verifyWeftApp {
    inherit pkgs;
    inherit (notesTampered) app;
    trustedKeys = [ "${notesTampered.key}/test.pub" ];
  }) "dm-verity verification failed";
  vm-untrusted-build = buildFails "untrusted-build" (verifyWeftApp {
    inherit pkgs;
    inherit (fetchUntrusted) app;
    trustedKeys = [ "${hello.key}/test.pub" ];
  }) "not among the trusted keys";
  vm-wrong-id-build = buildFails "wrong-id-build" (verifyWeftApp {
    inherit pkgs;
    app = hello.app // {
      id = "org.weft.clock";
    };
    trustedKeys = [ "${hello.key}/test.pub" ];
  }) "not the declared org.weft.clock";

  # tests/vm scenarios `tampered` (on disk, after boot) and `untrusted`.
  vm-tamper-runtime =
    test "tamper-runtime"
      {
        machine = machine [ clock ] {
          environment.etc."weft-test/notes".source = notesTampered;
          environment.etc."weft-test/fetch".source = fetchUntrusted;
        };
      }
      ''
        weftctl("launch org.weft.clock")
        machine.succeed("cp -rL /etc/weft-test/notes /var/lib/weft/images/org.weft.notes")
        error = weftctl_fails("launch org.weft.notes")
        assert "dm-verity refused the image" in error, error
        machine.fail("test -e /dev/mapper/weft-org.weft.notes")
        machine.succeed("cp -rL /etc/weft-test/fetch /var/lib/weft/images/org.weft.fetch")
        error = weftctl_fails("launch org.weft.fetch")
        assert "not among the trusted keys" in error, error
        assert weftctl("send 1 tick").startswith("time ")
      '';

  # tests/vm scenario `kill`, plus the restart policy only the NixOS settings
  # turn on here.
  vm-crash-restart =
    test "crash-restart"
      {
        machine = machine [ clock ] { weft.settings.restart.policy = "on-failure"; };
      }
      ''
        weftctl("launch org.weft.clock")
        pid = weftctl("ps --json | ${pkgs.jq}/bin/jq '.[0].pid'").strip()
        machine.succeed(f"kill -9 {pid}")
        machine.wait_until_succeeds("su weft -c 'XDG_RUNTIME_DIR=/run/user/1000 weftctl ps --json' | ${pkgs.jq}/bin/jq -e '.[0].restarts == 1 and .[0].state == \"running\"'")
      '';

  # The kiosk profile launches its app at boot and keeps it running.
  vm-kiosk =
    test "kiosk"
      {
        machine = machine [ clock ] {
          weft.profile = "kiosk";
          weft.kiosk.app = "org.weft.clock";
        };
      }
      ''
        machine.wait_for_unit("weft-kiosk.service")
        machine.wait_until_succeeds("su weft -c 'XDG_RUNTIME_DIR=/run/user/1000 weftctl ps' | grep -q 'org.weft.clock.*running'")
      '';

  # Generations carry the app set: switch to one with another app version and back.
  vm-rollback =
    let
      # Another build of the app: a new image, signed with another key.
      nextHello = testImage "hello" { variant = "-next"; };
    in
    test "rollback"
      {
        machine = machine [ hello ] {
          specialisation.next.configuration.weft = {
            apps = lib.mkForce [ nextHello.app ];
            trustedKeys = lib.mkForce [ "${nextHello.key}/test.pub" ];
          };
        };
      }
      ''
        before = machine.succeed("readlink /var/lib/weft/images/org.weft.hello")
        machine.succeed("/run/current-system/specialisation/next/bin/switch-to-configuration test")
        after = machine.succeed("readlink /var/lib/weft/images/org.weft.hello")
        machine.succeed("/run/booted-system/bin/switch-to-configuration test")
        back = machine.succeed("readlink /var/lib/weft/images/org.weft.hello")
        assert before == back and before != after, (before, after, back)
        weftctl("launch org.weft.hello")
      '';

  # The installer installs the WEFT system (.#vm) onto an empty disk, offline.
  # (The test machine runs the installer's configuration; it does not boot the
  # ISO file itself.)
  vm-installer = pkgs.testers.runNixOSTest {
    name = "weft-installer";
    nodes.machine = {
      imports = [ ../../images/installer.nix ];
      _module.args.toplevel = vmToplevel;
      virtualisation = {
        emptyDiskImages = [ 8192 ];
        memorySize = 2048;
        additionalPaths = [ vmToplevel ];
      };
    };
    testScript = ''
      machine.wait_for_unit("multi-user.target")
      machine.succeed("weft-install /dev/vdb")
      machine.succeed("mount /dev/disk/by-label/nixos /mnt")
      machine.succeed("test -e /mnt/nix/var/nix/profiles/system/etc/systemd/system/weft-appd.service")
      machine.succeed("test -e /mnt/nix/var/nix/profiles/system/etc/weft/appd.toml")
      machine.succeed("test -e /mnt/boot/grub/grub.cfg")
    '';
  };
}
