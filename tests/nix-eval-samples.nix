# Arguments for lib.mkWeftApp and lib.verifyWeftApp when ../shared/nix-eval
# calls them (`eval.sh --samples`): an app as an app flake exports it.
{ pkgs, sampleFile, ... }:
let
  app = {
    id = "org.example.clock";
    version = "1.0.0";
    image = pkgs.writeText "org.example.clock-1.0.0.wimg" "";
    signature = pkgs.writeText "org.example.clock-1.0.0.sig" "";
  };
in
{
  mkWeftApp = app;
  verifyWeftApp = {
    inherit pkgs app;
    trustedKeys = [ sampleFile ];
  };
}
