//! Installing into the store: atomic, verified, no silent downgrades, and an
//! install killed mid-copy leaves the store as it was.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{World, chain};
use weft_pack::store::{self, InstallOptions, InstallOutcome, StoreError};

const ID: &str = "org.example.clock";

fn install(
    world: &World,
    package: &Path,
    store: &Path,
    options: InstallOptions,
) -> Result<InstallOutcome, StoreError> {
    store::install(package, store, &world.trusted(), options)
}

#[test]
fn install_verifies_copies_and_is_idempotent() {
    let world = World::new();
    let package = world.signed_package("pkg", ID, "1.0.0");
    let root = world.path("store");
    fs::create_dir(&root).unwrap();
    let outcome = install(&world, &package, &root, InstallOptions::default()).unwrap();
    assert_eq!(outcome, InstallOutcome::Installed(root.join(ID)));
    let installed = store::verify_installed(&root.join(ID), &world.trusted()).unwrap();
    assert_eq!(installed.statement.version, "1.0.0");
    let again = install(&world, &package, &root, InstallOptions::default()).unwrap();
    assert_eq!(again, InstallOutcome::AlreadyInstalled(root.join(ID)));
    // Only the app directory: no work directories left behind.
    let names: Vec<_> = fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, [ID]);
}

/// A signed package of app `id` whose display name is `name`.
fn named_package(world: &World, dir: &str, id: &str, name: &str) -> std::path::PathBuf {
    let package = world.path(dir);
    common::write_package(&package, id, "1.0.0");
    let manifest = fs::read_to_string(package.join("wapp.toml")).unwrap();
    fs::write(
        package.join("wapp.toml"),
        manifest.replace("name = \"Test\"", &format!("name = {name:?}")),
    )
    .unwrap();
    weft_pack::sign_package(&package, &world.key).unwrap();
    package
}

#[test]
fn a_name_that_only_looks_like_an_installed_apps_is_refused() {
    let world = World::new();
    let root = world.path("store");
    fs::create_dir(&root).unwrap();
    let bank = named_package(&world, "bank", "org.example.bank", "Bank");
    install(&world, &bank, &root, InstallOptions::default()).unwrap();
    // A Cyrillic В: the launcher would show two "Bank"s, one of them a fake.
    let fake = named_package(&world, "fake", "org.example.fake", "\u{412}ank");
    let error = chain(install(&world, &fake, &root, InstallOptions::default()));
    assert!(
        error.contains(
            "the name \"Вank\" of org.example.fake looks like \"Bank\" of the installed \
             org.example.bank (confusable characters"
        ),
        "{error}"
    );
    assert!(!root.join("org.example.fake").exists(), "the look-alike was installed");
    // The same name is not an impersonation by letters: it is installed, and
    // the system UI tells the two apart by their ids.
    let same = named_package(&world, "same", "org.example.other-bank", "Bank");
    install(&world, &same, &root, InstallOptions::default()).unwrap();
    let names: Vec<_> = fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn a_tampered_package_is_not_copied_at_all() {
    let world = World::new();
    let package = world.signed_package("pkg", ID, "1.0.0");
    common::flip_byte(&package.join("app.wasm"), 3);
    let root = world.path("store");
    fs::create_dir(&root).unwrap();
    let error = chain(install(&world, &package, &root, InstallOptions::default()));
    assert!(error.contains("app.wasm changed content"), "{error}");
    assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
}

#[test]
fn other_versions_need_replace_and_downgrades_need_consent() {
    let world = World::new();
    let v1 = world.signed_package("v1", ID, "1.0.0");
    let v2 = world.signed_package("v2", ID, "2.0.0");
    let root = world.path("store");
    fs::create_dir(&root).unwrap();
    install(&world, &v2, &root, InstallOptions::default()).unwrap();

    let error = chain(install(
        &world,
        &v1,
        &root,
        InstallOptions { replace: true, allow_downgrade: false },
    ));
    assert_eq!(
        error,
        format!(
            "{ID} 1.0.0 is older than the installed 2.0.0; pass --allow-downgrade to install it"
        )
    );
    let downgraded =
        install(&world, &v1, &root, InstallOptions { replace: true, allow_downgrade: true })
            .unwrap();
    assert_eq!(
        downgraded,
        InstallOutcome::Replaced { path: root.join(ID), previous: "2.0.0".to_owned() }
    );

    let error = chain(install(&world, &v2, &root, InstallOptions::default()));
    assert_eq!(error, format!("{ID} 1.0.0 is installed; pass --replace to install 2.0.0 over it"));
    install(&world, &v2, &root, InstallOptions { replace: true, allow_downgrade: false }).unwrap();
    let installed = store::verify_installed(&root.join(ID), &world.trusted()).unwrap();
    assert_eq!(installed.statement.version, "2.0.0");
}

#[test]
fn a_package_in_a_directory_named_for_another_id_is_refused() {
    let world = World::new();
    let package = world.signed_package("pkg", ID, "1.0.0");
    let root = world.path("store");
    fs::create_dir(&root).unwrap();
    install(&world, &package, &root, InstallOptions::default()).unwrap();
    fs::rename(root.join(ID), root.join("org.example.bank")).unwrap();
    let error = chain(store::verify_installed(&root.join("org.example.bank"), &world.trusted()));
    assert!(
        error.ends_with(&format!("holds a package signed for {ID}, not org.example.bank")),
        "{error}"
    );
}

#[test]
fn uninstall_takes_only_app_ids() {
    let world = World::new();
    let root = world.path("store");
    fs::create_dir(&root).unwrap();
    let roots = vec![root.clone()];
    for hostile in ["../../etc", "/etc", "..", ""] {
        let error = store::uninstall(&roots, hostile).unwrap_err();
        assert!(matches!(error, StoreError::BadId { .. }), "{hostile:?}: {error}");
    }
    assert!(matches!(store::uninstall(&roots, ID), Err(StoreError::NotInstalled(_))));
    let package = world.signed_package("pkg", ID, "1.0.0");
    install(&world, &package, &root, InstallOptions::default()).unwrap();
    assert_eq!(store::uninstall(&roots, ID).unwrap(), root.join(ID));
    assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
}

#[test]
fn the_cli_installs_lists_and_reports() {
    let world = World::new();
    let package = world.signed_package("pkg", ID, "1.0.0");
    let root = world.path("store");
    let aot = world.path("my-aot");
    let installed = world.cli_with_env(
        &root,
        &["install", package.to_str().unwrap()],
        &[("WEFT_AOT_DIR", &aot)],
    );
    assert!(installed.status.success(), "{}", String::from_utf8_lossy(&installed.stderr));
    let stdout = String::from_utf8_lossy(&installed.stdout);
    let expected = format!("installed {}\nprecompiled {}/", root.join(ID).display(), aot.display());
    assert!(stdout.starts_with(&expected), "{stdout}");
    let mut artifacts: Vec<String> = fs::read_dir(&aot)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    artifacts.sort();
    let warm_up = weft_aot::WARM_UP_COMPONENT_SHA256;
    let with_warm_up = artifacts.iter().filter(|name| name.starts_with(warm_up)).count();
    assert_eq!(
        (artifacts.len(), with_warm_up),
        (4, 2),
        "the app's artifact and the store's warm-up artifact, each with its digest: {artifacts:?}"
    );

    // A damaged second app shows up as invalid, with the reason.
    let other = world.signed_package("other", "org.example.other", "1.0.0");
    world.cli(&root, &["install", other.to_str().unwrap()]);
    fs::write(root.join("org.example.other/ui/app.js"), "tampered()").unwrap();

    let list = world.cli(&root, &["list", "--json"]);
    assert!(list.status.success());
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(rows[0]["app"]["id"], ID);
    assert_eq!(rows[0]["verified"], true);
    assert_eq!(rows[1]["verified"], false);
    assert!(rows[1]["error"].as_str().unwrap().contains("ui/app.js changed content"));

    let info = world.cli(&root, &["info", ID]);
    assert!(info.status.success(), "{}", String::from_utf8_lossy(&info.stderr));
    assert!(String::from_utf8_lossy(&info.stdout).contains(&format!("app           {ID} 1.0.0")));
    let hostile = world.cli(&root, &["info", "../../etc/passwd"]);
    assert_eq!(hostile.status.code(), Some(1));

    let removed = world.cli(&root, &["uninstall", ID]);
    assert!(removed.status.success());
    assert!(!root.join(ID).exists());
}

/// Starts `weft-pack install` of `package`, kills it once its work directory
/// appears (mid-copy), and returns whether it was caught before finishing.
fn kill_mid_install(world: &World, package: &Path, root: &Path, args: &[&str]) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft-pack"))
        .arg("install")
        .args(args)
        .arg(package)
        .env("WEFT_TRUSTED_KEYS", &world.trusted_dir)
        .env("WEFT_APP_STORE", root)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let caught = loop {
        let working = fs::read_dir(root)
            .unwrap()
            .any(|entry| entry.unwrap().file_name().to_string_lossy().starts_with(".install-"));
        if working {
            child.kill().unwrap();
            break true;
        }
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    child.wait().unwrap();
    caught
}

/// A signed package with a large (sparse) file, so copying it takes a while.
fn big_package(world: &World, name: &str, version: &str) -> std::path::PathBuf {
    let dir = world.path(name);
    common::write_package(&dir, ID, version);
    let big = fs::File::create(dir.join("ui/big.bin")).unwrap();
    big.set_len(256 << 20).unwrap();
    drop(big);
    weft_pack::sign_package(&dir, &world.key).unwrap();
    dir
}

#[test]
fn an_install_killed_mid_copy_leaves_the_store_unchanged() {
    let world = World::new();
    let root = world.path("store");
    fs::create_dir(&root).unwrap();
    let v1 = world.signed_package("v1", ID, "1.0.0");
    install(&world, &v1, &root, InstallOptions::default()).unwrap();
    let before = store::verify_installed(&root.join(ID), &world.trusted()).unwrap();

    let v2 = big_package(&world, "v2", "2.0.0");
    assert!(
        kill_mid_install(&world, &v2, &root, &["--replace"]),
        "the install finished before it could be killed"
    );
    // The installed version is untouched and still verifies; the work
    // directory is invisible to lookups.
    let after = store::verify_installed(&root.join(ID), &world.trusted()).unwrap();
    assert_eq!(after.statement, before.statement);
    let listed = store::list(std::slice::from_ref(&root), &world.trusted());
    assert_eq!(listed.len(), 1);

    // The next install cleans up and succeeds.
    install(&world, &v2, &root, InstallOptions { replace: true, allow_downgrade: false }).unwrap();
    let names: Vec<_> = fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, [ID]);
    let installed = store::verify_installed(&root.join(ID), &world.trusted()).unwrap();
    assert_eq!(installed.statement.version, "2.0.0");
}
