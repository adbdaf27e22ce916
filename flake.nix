{
  description = "WEFT OS: a NixOS-based distribution whose apps are WebAssembly components";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
  };

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      # Only x86_64-linux is built and tested today; add systems here as they are.
      systems = [ "x86_64-linux" ];
      forAllSystems = lib.genAttrs systems;
      pkgsFor = system: nixpkgs.legacyPackages.${system};
    in
    {
      packages = forAllSystems (
        system:
        let
          pkgs = pkgsFor system;
          weft = pkgs.callPackage ./packages/weft/package.nix { };
        in
        {
          inherit weft;
          default = weft;
        }
      );

      devShells = forAllSystems (
        system:
        let
          pkgs = pkgsFor system;
        in
        {
          default = pkgs.mkShell {
            # cargo, rustc and the package's other build inputs.
            inputsFrom = [ self.packages.${system}.weft ];
            packages = [
              pkgs.rust-analyzer
              pkgs.clippy
              pkgs.rustfmt
              pkgs.nixpkgs-fmt
              pkgs.deadnix
              pkgs.wasm-tools
            ];
          };
        }
      );

      # STYLE.md asks for nixfmt, but our development machines are Debian, where nixfmt is
      # not packaged; nixpkgs-fmt is (via cargo), so every .nix file is formatted with it
      # and tests/check-nix.sh checks the same thing outside Nix.
      formatter = forAllSystems (system: (pkgsFor system).nixpkgs-fmt);

      checks = forAllSystems (
        system:
        let
          pkgs = pkgsFor system;
          nixFiles = lib.fileset.toSource {
            root = ./.;
            fileset = lib.fileset.fileFilter (file: file.hasExt "nix") ./.;
          };
        in
        {
          inherit (self.packages.${system}) weft;

          nix-format =
            pkgs.runCommand "weft-nix-format"
              {
                nativeBuildInputs = [ pkgs.nixpkgs-fmt ];
              }
              ''
                find ${nixFiles} -name '*.nix' -print0 | xargs -0 nixpkgs-fmt --check
                touch $out
              '';
        }
      );
    };
}
