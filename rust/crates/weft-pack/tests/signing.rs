//! Signed package directories: the round trip and the tamper suite. Every case
//! asserts the specific error, and that nothing but that case was wrong.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{World, chain, flip_byte, write_package};
use weft_pack::statement::{FORMAT, Statement};
use weft_pack::tree::{self, SIGNATURE_FILE};
use weft_pack::{PackageError, sign_package, verify_package};

const ID: &str = "org.example.notes";

#[test]
fn a_signed_package_verifies() {
    let world = World::new();
    let dir = world.signed_package("pkg", ID, "1.2.0");
    let verified = verify_package(&dir, &world.trusted()).unwrap();
    assert_eq!(verified.id.as_str(), ID);
    assert_eq!(verified.statement.version, "1.2.0");
    let paths: Vec<&str> =
        verified.statement.files.iter().map(|entry| entry.path.as_str()).collect();
    assert_eq!(
        paths,
        ["app.wasm", "ui", "ui/app.js", "ui/index.html", "ui/texture.bin", "wapp.toml"]
    );
}

/// Signs a fresh package, applies `tamper` to it, and returns the verification
/// error chain.
fn tampered(tamper: impl FnOnce(&std::path::Path)) -> String {
    let world = World::new();
    let dir = world.signed_package("pkg", ID, "1.0.0");
    tamper(&dir);
    chain(verify_package(&dir, &world.trusted()))
}

#[test]
fn a_flipped_byte_in_any_file_is_named() {
    for file in ["app.wasm", "wapp.toml", "ui/index.html"] {
        let error = tampered(|dir| flip_byte(&dir.join(file), 10));
        assert_eq!(
            error,
            format!(
                "the package differs from what was signed: {file} changed content (SHA-256 differs)"
            )
        );
    }
}

#[test]
fn a_flipped_signature_or_statement_byte_breaks_the_signature() {
    let error = tampered(|dir| {
        let path = dir.join(SIGNATURE_FILE);
        let text = fs::read_to_string(&path).unwrap();
        // Flip one hex digit of the signature.
        let at = text.find("signature = \"").unwrap() + 13;
        let mut bytes = text.into_bytes();
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        fs::write(&path, bytes).unwrap();
    });
    assert!(
        error.starts_with("signature check failed: the signature does not verify with key"),
        "{error}"
    );

    let error = tampered(|dir| {
        let path = dir.join(SIGNATURE_FILE);
        let text = fs::read_to_string(&path).unwrap();
        let altered = text.replace("version = \"1.0.0\"", "version = \"9.0.0\"");
        assert_ne!(altered, text);
        fs::write(&path, altered).unwrap();
    });
    assert!(error.contains("the signature does not verify"), "{error}");

    let error = tampered(|dir| fs::write(dir.join(SIGNATURE_FILE), "garbage = [").unwrap());
    assert!(
        error.starts_with("signature check failed: the signature file is malformed"),
        "{error}"
    );

    let error = tampered(|dir| fs::remove_file(dir.join(SIGNATURE_FILE)).unwrap());
    assert!(error.starts_with("cannot read the signature"), "{error}");
}

#[test]
fn added_removed_and_retyped_entries_are_named() {
    let error = tampered(|dir| fs::write(dir.join("ui/extra.js"), "evil()").unwrap());
    assert_eq!(
        error,
        "the package differs from what was signed: ui/extra.js was added after signing"
    );
    let error = tampered(|dir| fs::remove_file(dir.join("ui/app.js")).unwrap());
    assert_eq!(error, "the package differs from what was signed: ui/app.js is missing");
    let error = tampered(|dir| {
        fs::remove_file(dir.join("ui/app.js")).unwrap();
        fs::create_dir(dir.join("ui/app.js")).unwrap();
    });
    assert_eq!(error, "the package differs from what was signed: ui/app.js changed type");
}

#[test]
fn a_changed_mode_is_named() {
    let error = tampered(|dir| {
        fs::set_permissions(dir.join("app.wasm"), fs::Permissions::from_mode(0o755)).unwrap();
    });
    assert_eq!(
        error,
        "the package differs from what was signed: app.wasm changed mode from 0644 to 0755"
    );
}

#[test]
fn symlinks_and_unsafe_modes_are_refused() {
    let error =
        tampered(|dir| std::os::unix::fs::symlink("/etc/passwd", dir.join("ui/passwd")).unwrap());
    assert_eq!(
        error,
        "package tree check failed: ui/passwd is a symlink; packages hold only regular files and directories"
    );
    let world = World::new();
    let dir = world.path("pkg");
    write_package(&dir, ID, "1.0.0");
    fs::set_permissions(dir.join("ui/app.js"), fs::Permissions::from_mode(0o4755)).unwrap();
    let error = chain(sign_package(&dir, &world.key));
    assert!(error.contains("ui/app.js has mode 4755"), "{error}");
    fs::set_permissions(dir.join("ui/app.js"), fs::Permissions::from_mode(0o666)).unwrap();
    assert!(chain(sign_package(&dir, &world.key)).contains("ui/app.js has mode 0666"));
}

#[test]
fn a_signature_by_an_untrusted_key_is_refused() {
    let signer = World::new();
    let dir = signer.signed_package("pkg", ID, "1.0.0");
    let verifier = World::new();
    let error = chain(verify_package(&dir, &verifier.trusted()));
    assert!(error.starts_with("signature check failed: signed by key "), "{error}");
    assert!(error.contains("which is not among the trusted keys in"), "{error}");
}

#[test]
fn hostile_manifests_are_refused_at_signing() {
    let world = World::new();
    for (id, needle) in
        [("../../etc", "character '/'"), ("org..evil", "empty label"), ("org.evil\\u0000", "'\\0'")]
    {
        let dir = world.path("hostile");
        let _ = fs::remove_dir_all(&dir);
        write_package(&dir, "org.example.ok", "1.0.0");
        fs::write(dir.join("wapp.toml"), common::manifest(id, "1.0.0", "")).unwrap();
        let error = chain(sign_package(&dir, &world.key));
        assert!(error.contains("package.id") && error.contains(needle), "{id}: {error}");
        assert!(!dir.join(SIGNATURE_FILE).exists());
    }
    for (field, line) in
        [("runtime.module", "module = \"../app.wasm\""), ("ui.entry", "entry = \"/etc/passwd\"")]
    {
        let dir = world.path("outside");
        let _ = fs::remove_dir_all(&dir);
        write_package(&dir, "org.example.ok", "1.0.0");
        let text = common::manifest("org.example.ok", "1.0.0", "");
        let key = line.split(' ').next().unwrap();
        let replaced: String = text
            .lines()
            .map(
                |original| {
                    if original.starts_with(key) { line.to_owned() } else { original.to_owned() }
                },
            )
            .collect::<Vec<_>>()
            .join("\n");
        fs::write(dir.join("wapp.toml"), replaced).unwrap();
        let error = chain(sign_package(&dir, &world.key));
        assert!(error.contains(field), "{field}: {error}");
    }
    // Names that would show something else than they say.
    for (name, needle) in [
        ("Bank\u{202e}txt.exe", "bidirectional control (U+202E)"),
        ("Cl\u{200b}ock", "invisible formatting character (U+200B)"),
    ] {
        let dir = world.path("spoofed");
        let _ = fs::remove_dir_all(&dir);
        write_package(&dir, "org.example.ok", "1.0.0");
        let text = common::manifest("org.example.ok", "1.0.0", "")
            .replace("name = \"Test\"", &format!("name = \"{name}\""));
        fs::write(dir.join("wapp.toml"), text).unwrap();
        let error = chain(sign_package(&dir, &world.key));
        assert!(error.contains("package.name") && error.contains(needle), "{name:?}: {error}");
        assert!(!dir.join(SIGNATURE_FILE).exists());
    }
}

/// Signs `statement` with the world's trusted key into the package's signature
/// file: a statement a trusted key signed, but for something else.
fn sign_forged(world: &World, dir: &std::path::Path, statement: &Statement) {
    fs::write(dir.join(SIGNATURE_FILE), statement.sign(&world.key)).unwrap();
}

#[test]
fn a_signed_statement_with_a_hostile_id_is_refused() {
    let world = World::new();
    let dir = world.signed_package("pkg", ID, "1.0.0");
    let files = tree::scan(&dir).unwrap();
    for hostile in ["../../tmp/evil", "org/evil", "org.evil\0"] {
        let statement = Statement {
            format: FORMAT,
            id: hostile.to_owned(),
            version: "1.0.0".to_owned(),
            key: weft_pack::keys::KeyId::of(&world.key.verifying_key()).to_string(),
            files_sha256: tree::list_digest(&files),
            image: None,
            files: files.clone(),
        };
        sign_forged(&world, &dir, &statement);
        let error = verify_package(&dir, &world.trusted()).unwrap_err();
        assert!(matches!(error, PackageError::SignedId { .. }), "{hostile:?}: {error}");
    }
}

#[test]
fn a_statement_for_another_id_or_version_is_refused() {
    let world = World::new();
    let dir = world.signed_package("pkg", ID, "1.0.0");
    let files = tree::scan(&dir).unwrap();
    let statement = |id: &str, version: &str| Statement {
        format: FORMAT,
        id: id.to_owned(),
        version: version.to_owned(),
        key: weft_pack::keys::KeyId::of(&world.key.verifying_key()).to_string(),
        files_sha256: tree::list_digest(&files),
        image: None,
        files: files.clone(),
    };
    sign_forged(&world, &dir, &statement("org.example.other", "1.0.0"));
    assert_eq!(
        chain(verify_package(&dir, &world.trusted())),
        "wapp.toml says id \"org.example.notes\" but the signature is for \"org.example.other\""
    );
    sign_forged(&world, &dir, &statement(ID, "0.9.0"));
    assert_eq!(
        chain(verify_package(&dir, &world.trusted())),
        "wapp.toml says version \"1.0.0\" but the signature is for \"0.9.0\""
    );
    // A list that does not hash to the signed digest.
    let mut bad_digest = statement(ID, "1.0.0");
    bad_digest.files_sha256 = "0".repeat(64);
    sign_forged(&world, &dir, &bad_digest);
    assert_eq!(
        chain(verify_package(&dir, &world.trusted())),
        "the signed file list does not match its signed digest"
    );
}

#[test]
fn the_cli_signs_and_verifies_with_exit_codes() {
    let world = World::new();
    let dir = world.path("pkg");
    write_package(&dir, ID, "1.0.0");
    let store = world.path("store");
    let dir_arg = dir.to_str().unwrap();
    let sign = world.cli(&store, &["sign", "--key", world.key_path.to_str().unwrap(), dir_arg]);
    assert!(sign.status.success(), "{}", String::from_utf8_lossy(&sign.stderr));
    let verify = world.cli(&store, &["verify", "--json", dir_arg]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    let report: serde_json::Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(report["id"], ID);
    assert_eq!(report["files"], 5);

    flip_byte(&dir.join("app.wasm"), 12);
    let verify = world.cli(&store, &["verify", dir_arg]);
    assert_eq!(verify.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(stderr.contains("app.wasm changed content"), "{stderr}");
    assert_eq!(world.cli(&store, &["verify"]).status.code(), Some(2));
}
