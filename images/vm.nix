# A WEFT machine: what the installer installs and what
# `nixos-rebuild build-vm --flake .#vm` boots. Add apps with `weft.apps` and
# their keys with `weft.trustedKeys` (see README.md, "Using WEFT on NixOS").
{ lib, ... }:
{
  weft.enable = true;

  # Under `build-vm`: virtio-gpu without GL, the compositor's dumb-buffer DRM
  # path, as in tests/vm/.
  virtualisation.vmVariant.virtualisation = {
    memorySize = 2048;
    qemu.options = [
      "-vga none"
      "-device virtio-gpu-pci,xres=1024,yres=768"
    ];
  };

  boot.loader.grub.device = lib.mkDefault "/dev/vda";
  fileSystems."/" = lib.mkDefault {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
  };
  networking.hostName = "weft";
  system.stateVersion = "25.11";
}
