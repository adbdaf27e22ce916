{
  lib,
  stdenv,
  rustPlatform,
  versionCheckHook,
  pkg-config,
  pixman,
  libxkbcommon,
  udev,
  libinput,
  seatd,
  xkeyboard_config,
  libGL,
  wayland,
  erofs-utils,
  cryptsetup,
}:

rustPlatform.buildRustPackage (finalAttrs: {
  pname = "weft";
  version = "0.1.0";

  # Only what the workspace build and its tests read, so edits to docs, modules or
  # VM tests do not rebuild the package.
  src = lib.fileset.toSource {
    root = ../../.;
    fileset = lib.fileset.unions [
      ../../rust/Cargo.toml
      ../../rust/Cargo.lock
      ../../rust/crates
      ../../rust/wit
      # weft-manifest's tests parse the example app's manifest and the app guide's
      # examples.
      ../../apps/hello/wapp.toml
      ../../docs/app-guide.md
      # weft-protocol's tests parse the protocol examples.
      ../../docs/protocol.md
    ];
  };

  # The workspace lives in rust/; apps/ stays unpacked beside it for the tests.
  sourceRoot = "${finalAttrs.src.name}/rust";

  cargoLock.lockFile = ../../rust/Cargo.lock;

  strictDeps = true;

  # weft-compositor links pixman (its software renderer), xkbcommon (keymaps),
  # libwayland-server (its Wayland wire, which bounds what one client may send)
  # and, for DRM/KMS, libudev, libinput and libseat (seatd's library).
  nativeBuildInputs = [ pkg-config ];
  buildInputs = [
    pixman
    libxkbcommon
    wayland
    udev
    libinput
    seatd
  ];

  # The runtime again, on its own: built together with weft-pack it would carry
  # the installer's compiler (Cargo unifies features within one build); alone it
  # is wasmtime without Cranelift, and that binary is the one installed.
  postBuild = ''
    cargo build -j $NIX_BUILD_CORES \
      --target ${stdenv.hostPlatform.rust.rustcTargetSpec} \
      --frozen --release -p weft-runtime
  '';

  # weft-pack's image tests run the real mkfs.erofs and veritysetup (format and the
  # userspace verify; no device-mapper is needed); the mount helper's tests stop
  # before device-mapper too.
  nativeCheckInputs = [
    erofs-utils
    cryptsetup
  ];

  # The compositor dlopens libwayland-server (its Wayland wire) and, for its winit
  # backend, EGL/GLES, libwayland-client and libwayland-egl: put them on the
  # binaries' runpath.
  postFixup = ''
    for bin in $out/bin/*; do
      patchelf --add-rpath ${
        lib.makeLibraryPath [
          libGL
          wayland
          libxkbcommon
        ]
      } "$bin"
    done
  '';

  env = {
    # The compositor's tests build the default keymap.
    XKB_CONFIG_ROOT = "${xkeyboard_config}/share/X11/xkb";
    # weft-mount-helper runs veritysetup by this absolute path, fixed at build
    # time (it reads no environment at run time).
    WEFT_VERITYSETUP = "${cryptsetup}/bin/veritysetup";
  };

  checkFlags = [
    # These tests load the wasm guests that apps/build.sh builds. The guest toolchain
    # (Debian's rustc-web with -Zbuild-std) is not available inside the Nix sandbox yet.
    "--skip=built_apps"
    # This one evaluates modules/weft/settings.nix with nix-instantiate, which
    # the build sandbox does not have; `make test` runs it.
    "--skip=nix_settings"
  ];

  nativeInstallCheckInputs = [ versionCheckHook ];
  versionCheckProgramArg = "--version";
  doInstallCheck = true;

  meta = {
    description = "WEFT OS: weft-pack, weft-runtime, weft-appd, weft-file-portal, weft-compositor and weft-mount-helper";
    license = [
      lib.licenses.mit
      lib.licenses.asl20
    ];
    platforms = lib.platforms.linux;
    mainProgram = "weft-pack";
  };
})
