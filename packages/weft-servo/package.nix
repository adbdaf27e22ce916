# WEFT's web shells on Servo 0.7 (rust/crates/weft-servo, its own workspace
# and Cargo.lock): weft-servo-shell (the system UI, with its pages in
# share/weft/system-ui) and weft-app-shell (an app's web UI). SpiderMonkey is
# built from the source bundled in mozjs_sys (no download), which needs
# clang >= 19 and libclang for bindgen.
{
  lib,
  rustPlatform,
  pkg-config,
  python3,
  llvmPackages_19,
  makeWrapper,
  fontconfig,
  freetype,
  zlib,
  libGL,
  mesa,
  wayland,
  libxkbcommon,
  fetchzip,
}:

let
  # The Servo crates WEFT patches, as published on crates.io, and their
  # patches in rust/crates/weft-servo/patches (postUnpack below applies them).
  crate = name: version: hash: patch: {
    inherit name patch;
    src = fetchzip {
      url = "https://static.crates.io/crates/${name}/${name}-${version}.crate";
      extension = "tar.gz";
      inherit hash;
    };
  };
  patched = [
    (crate "servo-paint" "0.7.0" "sha256-F3VZ/A8dXdMklzJmbstPZ5TDKdgKqxaxA/d/YgOInOY="
      "servo-paint-rendering.patch"
    )
    (crate "servo-script" "0.7.0" "sha256-XsQmuZN278j/nwYs8pw/NoG6GYNESqdRaJ5z/GXOzbU="
      "servo-script-rendering-updates.patch"
    )
    (crate "servo-net" "0.7.0" "sha256-cVXZ5Bt1xB/pNbAIM0jP/tgSoaGJO71C0a6xuSQDFK8="
      "servo-net-embedder-first.patch"
    )
    (crate "webrender" "0.70.1" "sha256-gCKfMhWGXrrNPgtSHqj5GoeiGeL11RIuhfiF378TM4k="
      "webrender-changed-surfaces.patch"
    )
  ];
in
rustPlatform.buildRustPackage (finalAttrs: {
  pname = "weft-servo";
  version = "0.1.0";

  # The shells' crate and the crates it uses by path (which inherit from the
  # main workspace, so that is here too).
  src = lib.fileset.toSource {
    root = ../../.;
    fileset = lib.fileset.unions [
      ../../rust/Cargo.toml
      ../../rust/crates
    ];
  };
  sourceRoot = "${finalAttrs.src.name}/rust/crates/weft-servo";
  cargoLock.lockFile = ../../rust/crates/weft-servo/Cargo.lock;
  # The workspace's `optimized` profile (opt-level 1, no debug information,
  # no LTO): what `make servo`, the suite and the VM run and measure.
  buildType = "optimized";

  # Cargo.toml's [patch.crates-io] builds four Servo crates from
  # patched/<crate>: WebRender's sizes and partial present for software
  # rendering, how soon the script thread handles input and updates a page's
  # rendering, and requests to the shell's own scheme not waiting for its
  # thread (each patch says why); tests/servo.sh makes the same directories
  # outside Nix.
  postUnpack = ''
    mkdir -p $sourceRoot/patched
  ''
  + lib.concatMapStrings (crate: ''
    cp -r ${crate.src} $sourceRoot/patched/${crate.name}
    chmod -R u+w $sourceRoot/patched/${crate.name}
    patch -p1 -d $sourceRoot/patched/${crate.name} < $sourceRoot/patches/${crate.patch}
  '') patched;

  strictDeps = true;
  nativeBuildInputs = [
    pkg-config
    python3
    llvmPackages_19.clang
    makeWrapper
  ];
  buildInputs = [
    fontconfig
    freetype
    zlib
  ];

  env = {
    # SpiderMonkey from the bundled source: never try GitHub for a prebuilt one.
    MOZJS_FROM_SOURCE = "1";
    LIBCLANG_PATH = "${lib.getLib llvmPackages_19.libclang}/lib";
    CC = "clang";
    CXX = "clang++";
  };

  # The shells' own tests enter the sandbox in a child process; the Servo suite
  # needs the compositor and weft-appd and runs in the VM tests instead.
  checkFlags = [ "--lib" ];

  postInstall = ''
    mkdir -p $out/share/weft
    cp -r system-ui $out/share/weft/system-ui
    # surfman dlopens libEGL; Mesa's llvmpipe renders without a GPU.
    for shell in weft-app-shell weft-servo-shell; do
      wrapProgram $out/bin/$shell \
        --prefix LD_LIBRARY_PATH : ${
          lib.makeLibraryPath [
            libGL
            mesa
            wayland
            libxkbcommon
          ]
        }
    done
    wrapProgram $out/bin/weft-servo-shell \
      --set-default WEFT_SYSTEM_UI_DIR $out/share/weft/system-ui
  '';

  meta = {
    description = "WEFT's system UI and app web UI shells on embedded Servo";
    license = with lib.licenses; [
      mit
      asl20
    ];
    platforms = [ "x86_64-linux" ];
    mainProgram = "weft-app-shell";
  };
})
