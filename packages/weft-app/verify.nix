# lib.verifyWeftApp: checks a signed app image against trusted keys with
# `weft-pack verify` (signature, trusted key, name, size, the whole dm-verity
# tree, every file read back) and fails the build when anything is wrong.
# The output is the verified image directory.
{
  lib,
  runCommand,
  cryptsetup,
  weft,
  image,
  trustedKeys,
}:
runCommand "weft-app-verified"
  {
    nativeBuildInputs = [
      weft
      cryptsetup
    ];
  }
  ''
    mkdir keys
    ${lib.concatImapStringsSep "\n" (
      index: key: "cp ${key} keys/key-${toString index}.pub"
    ) trustedKeys}
    images=(${image}/*.wimg)
    if [ ''${#images[@]} -ne 1 ] || [ ! -e "''${images[0]}" ]; then
      echo "verifyWeftApp: ${image} must hold exactly one .wimg" >&2
      exit 1
    fi
    weft-pack verify --trusted-keys keys "''${images[0]}"
    mkdir $out
    cp "''${images[0]}" "''${images[0]%.wimg}.sig" $out/
  ''
