//! Links the daemon and runtime binaries with packed relative relocations
//! (`DT_RELR`, glibc 2.36 and later): their relocation table shrinks from
//! hundreds of KiB, read at every start, to a few KiB. The waiting hello
//! session measured 8.2 -> 7.2 MiB RSS (`cargo bench -p weft-runtime`).

fn main() {
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
}
