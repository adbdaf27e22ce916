# A signed image for the NixOS VM tests: the package is signed in the build
# with a throwaway key, whose public half the test system trusts. (Real
# systems use lib.mkWeftApp with the author's signature.) `tamper = true`
# flips one data byte after signing, for the tamper tests.
{
  runCommand,
  cryptsetup,
  erofs-utils,
  weft,
  package,
  name ? "test",
  tamper ? false,
}:
runCommand "weft-test-image-${name}"
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
    ${
      if tamper then
        ''
          image=$(echo $out/*.wimg)
          offset=$(( $(sed -n 's/^data-size = \([0-9]*\)$/\1/p' "''${image%.wimg}.sig") / 2 ))
          byte=$(od -An -tu1 -j $offset -N1 "$image" | tr -d ' ')
          printf "$(printf '\\%03o' $(( (byte + 1) % 256 )))" | dd of="$image" bs=1 seek=$offset conv=notrunc status=none
        ''
      else
        ""
    }
  ''
