# An app as a signed flake input (docs/nix.md, "Apps as signed flake
# inputs"): the author's bytes, committed beside this file after
#
#   weft-pack sign --key author.key build/clock
#   weft-pack build-image --key author.key --out . build/clock
#
# which writes org.example.clock-1.0.0.wimg and org.example.clock-1.0.0.sig.
# (A large image can live in a release instead: `image = pkgs.fetchurl { url;
# hash; }`; the signature still decides whether a system accepts it.) Systems
# verify these bytes against their own trusted keys when they are built and
# install them as they are: nothing here is rebuilt.
{
  description = "Clock, a WEFT app";

  inputs.weft.url = "github:weft-os/weft";

  outputs =
    { weft, ... }:
    {
      weftApps.clock = weft.lib.mkWeftApp {
        id = "org.example.clock";
        version = "1.0.0";
        image = ./org.example.clock-1.0.0.wimg;
        signature = ./org.example.clock-1.0.0.sig;
      };
    };
}
