# lib.verifyWeftApp: checks an app's signed image (from lib.mkWeftApp, or any
# `{ id, version, image, signature }`) with `weft-pack verify` against the
# trusted keys: the signature, a trusted key, the declared app id, the file
# name and size, the whole dm-verity tree and every file read back. Any
# failure fails the build. The output holds the very same bytes, named
# `<id>-<version>.wimg` and `<id>-<version>.sig` as the app store expects.
{
  lib,
  runCommand,
  cryptsetup,
  weft,
  app,
  trustedKeys,
}:
let
  base = "${app.id}-${app.version}";
in
runCommand "weft-app-${base}-verified"
  {
    nativeBuildInputs = [
      weft
      cryptsetup
    ];
  }
  ''
    mkdir keys $out
    ${lib.concatImapStringsSep "\n" (
      index: key: "cp ${key} keys/key-${toString index}.pub"
    ) trustedKeys}
    cp ${app.image} $out/${base}.wimg
    cp ${app.signature} $out/${base}.sig
    weft-pack verify --id ${lib.escapeShellArg app.id} --trusted-keys keys $out/${base}.wimg
  ''
