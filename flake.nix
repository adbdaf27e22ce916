{
  description = "WEFT OS: a NixOS-based distribution whose apps are WebAssembly components";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
  };

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      # x86_64-linux is what the VM tests boot; aarch64-linux builds the same
      # packages and modules.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = lib.genAttrs systems;
      pkgsFor =
        system:
        import nixpkgs {
          inherit system;
          overlays = [ self.overlays.default ];
        };
      # nixpkgs cross-compiling to wasm32-wasip2, for the apps' components.
      pkgsWasip2For =
        system:
        import nixpkgs {
          localSystem = system;
          crossSystem = lib.systems.examples.wasi32 // {
            rust.rustcTarget = "wasm32-wasip2";
          };
        };

      exampleApps = [
        "hello"
        "clock"
        "notes"
        "fetch"
      ];
      # An example app signed in its build by a throwaway key (the VM tests
      # and the kiosk example; packages/weft-app/test-image.nix).
      testImageFor =
        system: name: args:
        (pkgsFor system).callPackage ./packages/weft-app/test-image.nix (
          {
            package = self.packages.${system}."app-${name}";
            inherit (self.packages.${system}."app-${name}") manifest;
          }
          // args
        );
    in
    {
      overlays.default = final: _prev: {
        weft = final.callPackage ./packages/weft/package.nix { };
        weft-servo = final.callPackage ./packages/weft-servo/package.nix { };
      };

      packages = forAllSystems (
        system:
        let
          pkgs = pkgsFor system;
          appPackages = lib.genAttrs exampleApps (
            name:
            pkgs.callPackage ./packages/weft-app/guest.nix {
              inherit name;
              pkgsWasip2 = pkgsWasip2For system;
            }
          );
        in
        {
          inherit (pkgs) weft;
          default = pkgs.weft;
        }
        # Servo's shells are built for x86_64-linux only (packages/weft-servo);
        # elsewhere the output is left out rather than broken.
        // lib.optionalAttrs (lib.meta.availableOn pkgs.stdenv.hostPlatform pkgs.weft-servo) {
          inherit (pkgs) weft-servo;
        }
        # The installer carries the x86_64 WEFT system.
        // lib.optionalAttrs (system == "x86_64-linux") {
          installer-iso = self.nixosConfigurations.installer.config.system.build.isoImage;
        }
        // lib.mapAttrs' (name: value: lib.nameValuePair "app-${name}" value) appPackages
      );

      # Apps as signed flake inputs (docs/nix.md): an app flake exports its
      # author's bytes with mkWeftApp; a system verifies them with verifyWeftApp
      # (weft.apps does it for every installed app) and never rebuilds them.
      lib = {
        # mkWeftApp { id, version, image, signature }: an app's signed image as
        # its author built it (`weft-pack build-image --key`), for `weftApps`.
        mkWeftApp = import ./packages/weft-app/app.nix { inherit lib; };
        # verifyWeftApp { pkgs, app, trustedKeys }: the app's exact bytes,
        # named `<id>-<version>.{wimg,sig}`; the build fails unless
        # `weft-pack verify` accepts them as the declared id from a trusted key.
        verifyWeftApp =
          { pkgs, ... }@args:
          pkgs.callPackage ./packages/weft-app/verify.nix (
            {
              weft = self.packages.${pkgs.stdenv.hostPlatform.system}.weft;
            }
            // removeAttrs args [ "pkgs" ]
          );
      };

      # The module never sets nixpkgs.*: it works with any pkgs (runNixOSTest's
      # read-only ones, a user's own). Its packages default to pkgs.weft and
      # pkgs.weft-servo where the user applied overlays.default, else to this
      # flake's packages for the system's platform.
      nixosModules.default =
        { pkgs, ... }:
        {
          imports = [ ./modules/weft ];
          _module.args.weftPackages = self.packages.${pkgs.stdenv.hostPlatform.system} or { };
        };

      nixosConfigurations = {
        # A WEFT machine for `nixos-rebuild build-vm` and the VM tests: the
        # desktop profile.
        vm = lib.nixosSystem {
          system = "x86_64-linux";
          modules = [
            self.nixosModules.default
            ./images/vm.nix
          ];
        };
        # The same machine as a kiosk running the example clock (signed at
        # build time by a key thrown away after signing).
        vm-kiosk = self.nixosConfigurations.vm.extendModules {
          modules = [
            (
              let
                clock = testImageFor "x86_64-linux" "clock" { };
              in
              {
                weft = {
                  profile = "kiosk";
                  kiosk.app = clock.app.id;
                  apps = [ clock.app ];
                  trustedKeys = [ "${clock.key}/test.pub" ];
                };
              }
            )
          ];
        };
        # The same machine without a display, on a kernel whose build proves
        # every option WEFT needs (weft.kernel.enforceConfig).
        vm-headless = self.nixosConfigurations.vm.extendModules {
          modules = [
            {
              weft.profile = "headless";
              weft.kernel.enforceConfig = true;
            }
          ];
        };
        # The install medium (`nix build .#installer-iso`).
        installer = lib.nixosSystem {
          system = "x86_64-linux";
          specialArgs = {
            inherit (self.nixosConfigurations.vm.config.system.build) toplevel;
          };
          modules = [
            "${nixpkgs}/nixos/modules/installer/cd-dvd/installation-cd-minimal.nix"
            ./images/installer.nix
          ];
        };
      };

      devShells = forAllSystems (
        system:
        let
          pkgs = pkgsFor system;
        in
        {
          default = pkgs.mkShell {
            # cargo, rustc and the package's other build inputs.
            inputsFrom = [ pkgs.weft ];
            packages = [
              pkgs.rust-analyzer
              pkgs.clippy
              pkgs.rustfmt
              pkgs.nixfmt
              pkgs.deadnix
              pkgs.statix
              pkgs.wasm-tools
              pkgs.qemu
            ];
          };
        }
      );

      formatter = forAllSystems (system: (pkgsFor system).nixfmt);

      checks = forAllSystems (
        system:
        let
          pkgs = pkgsFor system;
          nixFiles = lib.fileset.toSource {
            root = ./.;
            fileset = lib.fileset.fileFilter (file: file.hasExt "nix") ./.;
          };
          vmTests = import ./tests/nixos {
            inherit pkgs lib;
            weftModule = self.nixosModules.default;
            testImage = testImageFor system;
            inherit (self.lib) verifyWeftApp;
            vmToplevel = self.nixosConfigurations.vm.config.system.build.toplevel;
          };
        in
        {
          inherit (pkgs) weft;

          nix-format = pkgs.runCommand "weft-nix-format" { nativeBuildInputs = [ pkgs.nixfmt ]; } ''
            find ${nixFiles} -name '*.nix' -print0 | xargs -0 nixfmt --check
            touch $out
          '';
        }
        // lib.optionalAttrs (system == "x86_64-linux") vmTests
      );
    };
}
