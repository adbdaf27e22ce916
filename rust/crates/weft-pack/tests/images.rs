//! EROFS + dm-verity images: reproducible builds and the image tamper suite,
//! with the real mkfs.erofs and veritysetup.

mod common;

use std::fs;
use std::path::Path;

use common::{World, chain, flip_byte, write_package};
use weft_pack::image::{BuiltImage, build_image, verify_image};
use weft_pack::statement::Statement;

const ID: &str = "org.example.viewer";

fn build(world: &World, package: &Path, out: &str) -> BuiltImage {
    build_image(package, &world.key, &world.path(out), &|_| {}).unwrap()
}

fn verify(world: &World, built: &BuiltImage) -> String {
    chain(verify_image(&built.image, &built.signature, &world.trusted(), &|_| {}))
}

fn params(built: &BuiltImage) -> weft_pack::statement::ImageParams {
    built.statement.image.clone().unwrap()
}

#[test]
fn an_image_round_trips_and_names_its_files() {
    let world = World::new();
    let package = world.path("pkg");
    write_package(&package, ID, "2.0.0");
    let built = build(&world, &package, "out");
    assert_eq!(built.image.file_name().unwrap(), "org.example.viewer-2.0.0.wimg");
    assert_eq!(built.signature.file_name().unwrap(), "org.example.viewer-2.0.0.sig");
    let verified = verify_image(&built.image, &built.signature, &world.trusted(), &|_| {}).unwrap();
    assert_eq!(verified.id.as_str(), ID);
    let params = params(&built);
    assert_eq!(fs::metadata(&built.image).unwrap().len(), params.size);
    assert_eq!(params.hash_offset, params.data_size);
    assert_eq!(params.root_hash.len(), 64);
}

#[test]
fn two_builds_are_bit_for_bit_identical() {
    let world = World::new();
    let first = world.path("first");
    write_package(&first, ID, "2.0.0");
    // A second copy written in another order, at another time.
    let second = world.path("second");
    fs::create_dir_all(second.join("ui")).unwrap();
    for file in ["ui/texture.bin", "ui/app.js", "wapp.toml", "ui/index.html", "app.wasm"] {
        fs::copy(first.join(file), second.join(file)).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    fs::write(second.join("ui/app.js"), fs::read(first.join("ui/app.js")).unwrap()).unwrap();
    let a = build(&world, &first, "out-a");
    let b = build(&world, &second, "out-b");
    assert_eq!(sha256_of(&a.image), sha256_of(&b.image));
    assert_eq!(params(&a).root_hash, params(&b).root_hash);
    assert_eq!(sha256_of(&a.signature), sha256_of(&b.signature));
    // Different content, different image.
    fs::write(second.join("ui/app.js"), "changed()").unwrap();
    let c = build(&world, &second, "out-c");
    assert_ne!(params(&a).root_hash, params(&c).root_hash);
}

fn sha256_of(path: &Path) -> String {
    weft_pack::tree::hash_reader(fs::File::open(path).unwrap()).unwrap().0
}

/// A fresh image and its signature, ready to be tampered with.
fn fresh() -> (World, BuiltImage) {
    let world = World::new();
    let package = world.path("pkg");
    write_package(&package, ID, "2.0.0");
    let built = build(&world, &package, "out");
    (world, built)
}

#[test]
fn a_flipped_byte_in_a_data_block_fails_verity() {
    let (world, built) = fresh();
    // Block 1 holds EROFS metadata and inline file data; verity covers every block.
    flip_byte(&built.image, 4096 + 17);
    let error = verify(&world, &built);
    assert!(
        error.starts_with("dm-verity verification failed: Verification failed at position"),
        "{error}"
    );
    assert!(error.contains("Verification of data area failed"), "{error}");
}

#[test]
fn a_flipped_byte_in_the_hash_tree_fails_verity() {
    let (world, built) = fresh();
    // The first hash block follows the 4 KiB verity superblock.
    flip_byte(&built.image, params(&built).hash_offset + 4096 + 5);
    let error = verify(&world, &built);
    assert!(error.starts_with("dm-verity verification failed:"), "{error}");
}

#[test]
fn a_wrong_root_hash_fails_verity_even_when_signed() {
    let (world, built) = fresh();
    let mut statement: Statement = built.statement.clone();
    let image = statement.image.as_mut().unwrap();
    image.root_hash = format!("{:0>64}", "1");
    fs::write(&built.signature, statement.sign(&world.key)).unwrap();
    let error = verify(&world, &built);
    assert_eq!(error, "dm-verity verification failed: Verification of root hash failed.");
}

#[test]
fn a_truncated_or_renamed_image_is_refused() {
    let (world, built) = fresh();
    let size = params(&built).size;
    let file = fs::OpenOptions::new().write(true).open(&built.image).unwrap();
    file.set_len(size - 4096).unwrap();
    assert_eq!(
        verify(&world, &built),
        format!(
            "the image is {} bytes but was signed at {size} bytes (truncated or extended)",
            size - 4096
        )
    );

    let (world, built) = fresh();
    let renamed = built.image.with_file_name("org.example.viewer-9.0.0.wimg");
    fs::rename(&built.image, &renamed).unwrap();
    let error = chain(verify_image(&renamed, &built.signature, &world.trusted(), &|_| {}));
    assert_eq!(
        error,
        "the image is named org.example.viewer-9.0.0.wimg but was signed as org.example.viewer-2.0.0.wimg"
    );
}

#[test]
fn a_flipped_signature_byte_or_untrusted_key_is_refused() {
    let (world, built) = fresh();
    let text = fs::read_to_string(&built.signature).unwrap();
    fs::write(&built.signature, text.replace("data-size = ", "data-size = 1")).unwrap();
    assert!(verify(&world, &built).contains("the signature does not verify"));

    let (_world, built) = fresh();
    let stranger = World::new();
    assert!(verify(&stranger, &built).contains("which is not among the trusted keys"));
}

#[test]
fn package_and_image_signatures_are_not_interchangeable() {
    let (world, built) = fresh();
    let package_signature = world.path("pkg/wapp.sig");
    weft_pack::sign_package(&world.path("pkg"), &world.key).unwrap();
    let error = chain(verify_image(&built.image, &package_signature, &world.trusted(), &|_| {}));
    assert_eq!(error, "this signature is for a package directory, not for an image");

    fs::copy(&built.signature, &package_signature).unwrap();
    let error = chain(weft_pack::verify_package(&world.path("pkg"), &world.trusted()));
    assert_eq!(error, "this signature is for an image, not for a package directory");
}

#[test]
fn a_consistent_forgery_of_the_content_is_caught_by_the_file_list() {
    // A trusted signer's image of another package, re-signed with this
    // package's file list: verity passes (the tree matches the image), but the
    // files read back from the EROFS do not match the list.
    let (world, built) = fresh();
    let other = world.path("other");
    write_package(&other, ID, "2.0.0");
    fs::write(other.join("ui/app.js"), "exfiltrate()").unwrap();
    let forged_source = build(&world, &other, "forged");
    let mut statement = built.statement.clone();
    statement.image = forged_source.statement.image.clone();
    fs::write(&forged_source.signature, statement.sign(&world.key)).unwrap();
    let error = verify(&world, &forged_source);
    assert_eq!(
        error,
        "the package differs from what was signed: ui/app.js changed content (SHA-256 differs)"
    );
}

#[test]
fn the_cli_builds_verifies_and_reports_an_image() {
    let world = World::new();
    let package = world.path("pkg");
    write_package(&package, ID, "2.0.0");
    let store = world.path("store");
    let out = world.path("out");
    let key = world.key_path.to_str().unwrap();
    let build = world.cli(
        &store,
        &["build-image", "--key", key, "--out", out.to_str().unwrap(), package.to_str().unwrap()],
    );
    assert!(build.status.success(), "{}", String::from_utf8_lossy(&build.stderr));
    // Not a terminal: no progress output at all.
    assert!(build.stderr.is_empty(), "{}", String::from_utf8_lossy(&build.stderr));
    let image = out.join("org.example.viewer-2.0.0.wimg");
    let info = world.cli(&store, &["info", "--json", image.to_str().unwrap()]);
    assert!(info.status.success(), "{}", String::from_utf8_lossy(&info.stderr));
    let report: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(report["image"]["file"], "org.example.viewer-2.0.0.wimg");
    assert_eq!(report["image"]["hash-algorithm"], "sha256");
    // A system declares the id it installs an image as (verifyWeftApp).
    let declared = world.cli(&store, &["verify", "--id", ID, image.to_str().unwrap()]);
    assert!(declared.status.success(), "{}", String::from_utf8_lossy(&declared.stderr));
    let other = world.cli(&store, &["verify", "--id", "org.example.bank", image.to_str().unwrap()]);
    assert_eq!(other.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&other.stderr)
            .contains("signed for app id org.example.viewer, not the declared org.example.bank"),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
    flip_byte(&image, 4096 + 100);
    let verify = world.cli(&store, &["verify", image.to_str().unwrap()]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&verify.stderr).contains("dm-verity verification failed"));
}

#[test]
fn a_launcher_lists_images_by_their_signed_manifest_and_refuses_a_swapped_one() {
    use weft_verify::image_list::{ListError, list_images};
    let world = World::new();
    let images = world.path("images");
    let package = world.path("pkg");
    write_package(&package, ID, "2.0.0");
    build(&world, &package, &format!("images/{ID}"));
    // A second app whose image was swapped for another validly signed image
    // of the same size: its own signature stays, but the manifest inside is
    // not the one it signed.
    let swapped = "org.example.swapped";
    let (honest, forged) = (world.path("honest"), world.path("forged"));
    write_package(&honest, swapped, "1.0.0");
    write_package(&forged, swapped, "1.0.0");
    let manifest = fs::read_to_string(forged.join("wapp.toml")).unwrap();
    fs::write(forged.join("wapp.toml"), manifest.replace("name = \"Test\"", "name = \"Bank\""))
        .unwrap();
    let kept = build(&world, &honest, &format!("images/{swapped}"));
    let other = build(&world, &forged, "elsewhere");
    assert_eq!(fs::metadata(&kept.image).unwrap().len(), fs::metadata(&other.image).unwrap().len());
    fs::copy(&other.image, &kept.image).unwrap();

    let listed = list_images(&images, &world.trusted());
    assert_eq!(listed.len(), 2, "{listed:?}");
    // Sorted by id: the swapped app first.
    let (statement, manifest) = listed[1].checked.as_ref().unwrap();
    assert_eq!((statement.id.as_str(), statement.version.as_str()), (ID, "2.0.0"));
    assert_eq!(manifest.name, "Test");
    let error = listed[0].checked.as_ref().unwrap_err();
    assert!(matches!(error, ListError::Manifest { .. }), "{error:?}");
    assert!(error.to_string().ends_with("its content is not the signed one"), "{error}");
}
