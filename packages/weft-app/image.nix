# lib.mkWeftApp: builds an app's EROFS + dm-verity image reproducibly from its
# package directory and attaches the author's signature. The author signs the
# same bytes once, outside Nix (`weft-pack build-image --key`), and commits the
# `.sig` with its public key; the build never sees a private key. A signature
# that does not match the rebuilt image fails here, when the app is built.
{
  runCommand,
  cryptsetup,
  erofs-utils,
  weft,
  package,
  signature,
  publicKey,
}:
runCommand "weft-app-image"
  {
    nativeBuildInputs = [
      weft
      cryptsetup
      erofs-utils
    ];
  }
  ''
    cp -r ${package} pkg
    chmod -R u+w pkg
    rm -f pkg/wapp.sig
    # Any key builds the same image bytes; only the statement's key differs.
    weft-pack generate-key build.key --public build.pub
    weft-pack sign --key build.key pkg
    weft-pack build-image --key build.key --out $out pkg
    sig=$(echo $out/*.sig)
    cp ${signature} "$sig"
    # The author's statement must describe exactly these bytes.
    mkdir keys
    cp ${publicKey} keys/author.pub
    weft-pack verify --trusted-keys keys "''${sig%.sig}.wimg"
  ''
