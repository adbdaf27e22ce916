# The kernel a WEFT system needs: EROFS and dm-verity for app images,
# Landlock and cgroups for sandboxes, and (for VMs) virtio-gpu. The chosen
# kernel's configuration is asserted, so a kernel without them fails the
# build with the option named instead of failing at the first launch.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.weft;
  kernelConfig = config.boot.kernelPackages.kernel.config;
  required = [
    "EROFS_FS"
    "BLK_DEV_DM"
    "DM_VERITY"
    "BLK_DEV_LOOP"
    "SECURITY_LANDLOCK"
    "CGROUPS"
    "MEMCG"
    "DRM_VIRTIO_GPU"
  ];
in
{
  options.weft.kernel.minimal = lib.mkEnableOption ''
    a kernel built for WEFT: the latest kernel with exactly the options WEFT
    needs forced on (instead of the distribution default kernel)
  '';

  config = lib.mkIf cfg.enable {
    boot.kernelPackages = lib.mkIf cfg.kernel.minimal (
      pkgs.linuxPackagesFor (
        pkgs.linux_latest.override {
          structuredExtraConfig = lib.genAttrs required (_: lib.kernel.yes);
        }
      )
    );
    boot.kernelModules = [
      "erofs"
      "dm-verity"
      "loop"
    ];
    assertions = map (option: {
      assertion = kernelConfig.isEnabled option;
      message = "weft: the kernel lacks CONFIG_${option}; set weft.kernel.minimal or choose boot.kernelPackages with it.";
    }) required;
  };
}
