# The WEFT installer ISO: the minimal NixOS installer carrying the closure of
# the WEFT system (.#vm), so `weft-install /dev/<disk>` installs it offline.
{
  lib,
  options,
  pkgs,
  toplevel,
  ...
}:
let
  weftInstall = pkgs.writeShellApplication {
    name = "weft-install";
    runtimeInputs = with pkgs; [
      parted
      e2fsprogs
      util-linux
      nix
    ];
    text = ''
      disk=''${1:?usage: weft-install /dev/<disk>}
      parted --script "$disk" mklabel msdos mkpart primary ext4 1MiB 100%
      mkfs.ext4 -q -F -L nixos "''${disk}1"
      mkdir -p /mnt
      mount /dev/disk/by-label/nixos /mnt
      nixos-install --no-root-passwd --no-channel-copy --system ${toplevel} --root /mnt
      umount /mnt
      echo "WEFT is installed on $disk"
    '';
  };
in
{
  # The ISO settings only where the ISO module is imported (the installer's VM
  # test runs this module without it).
  config =
    lib.optionalAttrs (options ? isoImage) {
      image.baseName = lib.mkForce "weft-installer";
      isoImage.storeContents = [ toplevel ];
    }
    // {
      environment.systemPackages = [ weftInstall ];
      services.getty.helpLine = "Run `weft-install /dev/vdb` (or your disk) to install WEFT OS.";
    };
}
