# The kernel a WEFT system needs: EROFS (with LZ4, which weft-pack's images
# use), dm-verity and loop devices for app images; cgroup v2 with the memory,
# cpu and pids controllers for sessions; Landlock, seccomp and user
# namespaces for sandboxes; virtio-gpu under DRM for VMs.
#
# nixpkgs' default kernel has every one of them (docs/nix.md, "Kernel"), so
# a default system builds no kernel of its own. They are declared the NixOS
# way, as `system.requiredKernelConfig`, which NixOS checks for a kernel
# that carries no `features`. `weft.kernel.enforceConfig` also asks for them
# through `boot.kernelPatches`' `structuredExtraConfig`, so that the kernel's
# own configuration step fails when one cannot be set: for custom kernels.
{ config, lib, ... }:
let
  cfg = config.weft;
  inherit (lib.kernel) yes module;

  # Each option and the answer a kernel built for WEFT gives it: tristate
  # drivers at least as modules (as nixpkgs builds them; built in where the
  # kernel's own configuration says so), the rest built in.
  atLeastModule = lib.mkDefault module;
  required = {
    EROFS_FS = atLeastModule;
    EROFS_FS_ZIP = yes;
    BLK_DEV_DM = atLeastModule;
    DM_VERITY = atLeastModule;
    BLK_DEV_LOOP = atLeastModule;
    CGROUPS = yes;
    MEMCG = yes;
    CGROUP_SCHED = yes;
    CGROUP_PIDS = yes;
    SECURITY_LANDLOCK = yes;
    SECCOMP = yes;
    SECCOMP_FILTER = yes;
    NAMESPACES = yes;
    USER_NS = yes;
    DRM = yes;
    DRM_VIRTIO_GPU = atLeastModule;
  };
in
{
  options.weft.kernel.enforceConfig = lib.mkEnableOption ''
    WEFT's kernel options in the kernel's build (a `boot.kernelPatches` entry
    with `structuredExtraConfig`): the kernel is rebuilt, and its configuration
    fails when one of them cannot be set. For kernels other than nixpkgs'
    default, which has them all'';

  config = lib.mkIf cfg.enable {
    system.requiredKernelConfig = map config.lib.kernelConfig.isEnabled (lib.attrNames required);
    boot.kernelPatches = lib.mkIf cfg.kernel.enforceConfig [
      {
        name = "weft-required-config";
        patch = null;
        structuredExtraConfig = required;
      }
    ];
    boot.kernelModules = [
      "erofs"
      "dm-verity"
      "loop"
    ];
  };
}
