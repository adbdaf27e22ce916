# An example app's package directory (wapp.toml, app.wasm, ui/), its
# component built for wasm32-wasip2 by nixpkgs' cross rustc: the Nix
# equivalent of apps/build.sh (which uses Debian's rustc-web offline).
{
  lib,
  pkgsWasip2,
  runCommand,
  name,
}:
let
  component = pkgsWasip2.rustPlatform.buildRustPackage (finalAttrs: {
    pname = "weft-app-${name}";
    version = "0.1.0";
    # The apps' workspace and the WIT files they generate bindings from
    # (`../../rust/wit` from each crate).
    src = lib.fileset.toSource {
      root = ../../.;
      fileset = lib.fileset.unions [
        ../../apps/Cargo.toml
        ../../apps/Cargo.lock
        (lib.fileset.fileFilter (file: file.hasExt "rs" || file.name == "Cargo.toml") ../../apps)
        ../../rust/wit
      ];
    };
    sourceRoot = "${finalAttrs.src.name}/apps";
    cargoLock.lockFile = ../../apps/Cargo.lock;
    cargoBuildFlags = [
      "-p"
      name
    ];
    doCheck = false;
    # A wasm32-wasip2 build links a component directly.
    installPhase = ''
      runHook preInstall
      install -Dm644 target/wasm32-wasip2/release/${name}.wasm $out/app.wasm
      runHook postInstall
    '';
  });
in
runCommand "weft-app-${name}-package"
  {
    # The manifest as written, for the app's id and version at evaluation time.
    passthru.manifest = builtins.fromTOML (builtins.readFile (../../apps + "/${name}/wapp.toml"));
  }
  ''
    mkdir $out
    cp ${../../apps + "/${name}/wapp.toml"} $out/wapp.toml
    cp -r ${../../apps + "/${name}/ui"} $out/ui
    cp ${component}/app.wasm $out/app.wasm
  ''
