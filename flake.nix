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
          inherit (pkgs) weft weft-servo;
          default = pkgs.weft;
          installer-iso = self.nixosConfigurations.installer.config.system.build.isoImage;
        }
        // lib.mapAttrs' (name: value: lib.nameValuePair "app-${name}" value) appPackages
      );

      # Building and checking app images, for app flakes and system flakes.
      lib = {
        # mkWeftApp { pkgs, package, signature, publicKey }: the image of a
        # package directory with its author's signature (see docs/nix.md).
        mkWeftApp =
          { pkgs, ... }@args:
          pkgs.callPackage ./packages/weft-app/image.nix (
            {
              weft = self.packages.${pkgs.stdenv.hostPlatform.system}.weft;
            }
            // removeAttrs args [ "pkgs" ]
          );
        # verifyWeftApp { pkgs, image, trustedKeys }: fails the build unless
        # `weft-pack verify` accepts the image with those keys.
        verifyWeftApp =
          { pkgs, ... }@args:
          pkgs.callPackage ./packages/weft-app/verify.nix (
            {
              weft = self.packages.${pkgs.stdenv.hostPlatform.system}.weft;
            }
            // removeAttrs args [ "pkgs" ]
          );
      };

      nixosModules.default = {
        imports = [ ./modules/weft ];
        nixpkgs.overlays = [ self.overlays.default ];
      };

      nixosConfigurations = {
        # A WEFT machine for `nixos-rebuild build-vm` and the VM tests.
        vm = lib.nixosSystem {
          system = "x86_64-linux";
          modules = [
            self.nixosModules.default
            ./images/vm.nix
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
              pkgs.nixfmt-rfc-style
              pkgs.deadnix
              pkgs.statix
              pkgs.wasm-tools
              pkgs.qemu
            ];
          };
        }
      );

      formatter = forAllSystems (system: (pkgsFor system).nixfmt-rfc-style);

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
            apps = lib.genAttrs exampleApps (name: self.packages.${system}."app-${name}");
            vmToplevel = self.nixosConfigurations.vm.config.system.build.toplevel;
          };
        in
        {
          inherit (pkgs) weft;

          nix-format = pkgs.runCommand "weft-nix-format" { nativeBuildInputs = [ pkgs.nixfmt-rfc-style ]; } ''
            find ${nixFiles} -name '*.nix' -print0 | xargs -0 nixfmt --check
            touch $out
          '';
        }
        // lib.optionalAttrs (system == "x86_64-linux") vmTests
      );
    };
}
