# The settings weft-appd reads on a WEFT system: the user's `weft.settings`
# over what the system itself fixes (the mount service's socket, the
# compositor's control socket, the app shell), unset keys dropped. Shared by the NixOS
# module and the check that the boot-to-app VM (tests/vm/appd.toml) runs the
# same configuration. Plain builtins: it must evaluate without nixpkgs.
{
  settings ? { },
  uid,
  mountSocket,
  appShell ? null,
}:
let
  system = {
    mount-socket = mountSocket;
    compositor-socket = "/run/user/${toString uid}/weft/compositor.sock";
    app-shell = appShell;
  };
  dropNulls =
    attrs:
    builtins.listToAttrs (
      builtins.concatMap (
        name:
        let
          value = attrs.${name};
        in
        if value == null then
          [ ]
        else
          [
            {
              inherit name;
              value = if builtins.isAttrs value then dropNulls value else value;
            }
          ]
      ) (builtins.attrNames attrs)
    );
in
# A setting left at null (unset) keeps the system's value.
dropNulls (system // dropNulls settings)
