# lib.mkWeftApp: an app's signed image exactly as its author built it
# (`weft-pack build-image --key`): the `.wimg` and its `.sig`, with the app id
# and version the author declares. Nothing is rebuilt: a system installs these
# bytes after `lib.verifyWeftApp` has checked them against its trusted keys
# and against the declared id (docs/nix.md, "Apps as signed flake inputs").
{ lib }:
{
  id,
  version,
  image,
  signature,
}:
let
  # The app id rules of docs/app-guide.md, as far as a name check goes: the
  # signed statement is checked at build time.
  label = "[a-z0-9]([a-z0-9-]*[a-z0-9])?";
  idPattern = "${label}(\\.${label})+";
  hasSuffix = suffix: value: lib.hasSuffix suffix (toString value);
in
assert lib.assertMsg (
  builtins.match idPattern id != null
) "mkWeftApp: `${id}' is not an app id (lowercase [a-z0-9-] labels joined by dots)";
assert lib.assertMsg (hasSuffix ".wimg" image) "mkWeftApp ${id}: image must be the `.wimg' file";
assert lib.assertMsg (hasSuffix ".sig" signature)
  "mkWeftApp ${id}: signature must be the `.sig' file";
{
  inherit
    id
    version
    image
    signature
    ;
}
