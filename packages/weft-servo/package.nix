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
  # The Servo crates WEFT patches, as published on crates.io; the build
  # patches them (postUnpack below).
  crate =
    name: hash:
    fetchzip {
      url = "https://static.crates.io/crates/${name}/${name}-0.7.0.crate";
      extension = "tar.gz";
      inherit hash;
    };
  patched = {
    servo-paint = crate "servo-paint" "sha256-F3VZ/A8dXdMklzJmbstPZ5TDKdgKqxaxA/d/YgOInOY=";
    servo-script = crate "servo-script" "sha256-XsQmuZN278j/nwYs8pw/NoG6GYNESqdRaJ5z/GXOzbU=";
  };
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

  # Cargo.toml's [patch.crates-io] builds two Servo crates from
  # patched/<crate>: WebRender's texture sizes for software rendering, and how
  # soon the script thread updates a page's rendering (patches/ says why);
  # tests/servo.sh makes the same directories outside Nix.
  postUnpack = ''
    mkdir -p $sourceRoot/patched
    cp -r ${patched.servo-paint} $sourceRoot/patched/servo-paint
    cp -r ${patched.servo-script} $sourceRoot/patched/servo-script
    chmod -R u+w $sourceRoot/patched
    patch -p1 -d $sourceRoot/patched/servo-paint \
      < $sourceRoot/patches/servo-paint-texture-sizes.patch
    patch -p1 -d $sourceRoot/patched/servo-script \
      < $sourceRoot/patches/servo-script-rendering-updates.patch
  '';

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
