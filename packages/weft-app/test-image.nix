# A signed image for the NixOS VM tests and the example systems: the package
# is signed in the build with a throwaway key (its private half is not kept),
# whose public half is the `key` output. Real systems install their authors'
# bytes instead (lib.mkWeftApp). `tamper = true` flips one data byte after
# signing, for the tamper tests; `variant` names another build (another key,
# other bytes) of the same app. The result carries `app`, the image as
# `weft.apps` takes it, with the id and version of the app's manifest.
{
  lib,
  runCommand,
  cryptsetup,
  erofs-utils,
  weft,
  package,
  manifest,
  tamper ? false,
  variant ? "",
}:
let
  inherit (manifest.package) id version;
  base = "${id}-${version}";
  image =
    runCommand "weft-test-image-${id}${lib.optionalString tamper "-tampered"}${variant}"
      {
        nativeBuildInputs = [
          weft
          cryptsetup
          erofs-utils
        ];
        outputs = [
          "out"
          "key"
        ];
      }
      ''
        cp -r ${package} pkg
        chmod -R u+w pkg
        rm -f pkg/wapp.sig
        mkdir $key
        weft-pack generate-key test.key --public $key/test.pub
        weft-pack sign --key test.key pkg
        weft-pack build-image --key test.key --out $out pkg
        ${lib.optionalString tamper ''
          image=$out/${base}.wimg
          offset=$(( $(sed -n 's/^data-size = \([0-9]*\)$/\1/p' $out/${base}.sig) / 2 ))
          byte=$(od -An -tu1 -j $offset -N1 "$image" | tr -d ' ')
          printf "$(printf '\\%03o' $(( (byte + 1) % 256 )))" | dd of="$image" bs=1 seek=$offset conv=notrunc status=none
        ''}
      '';
in
image
// {
  app = {
    inherit id version;
    image = "${image}/${base}.wimg";
    signature = "${image}/${base}.sig";
  };
}
