//! Rollback protection at launch, tried as an attacker who can write the store
//! but cannot sign: an older, validly signed package planted where a newer
//! one was installed (no install step) is refused, across a daemon restart,
//! until the operator allows the downgrade.

mod common;

use std::fs;
use std::process::Command;

use common::*;
use weft_protocol::appd::{ErrorCode, Reply, Request};

/// The fixture's hello re-signed as `version` in `packages/hello-<version>`.
fn hello_as(fixture: &Fixture, version: &str) -> std::path::PathBuf {
    let package = fixture.dir.path().join(format!("packages/hello-{version}"));
    weft_testkit::copy_tree(&weft_testkit::built_package("hello"), &package);
    let manifest = package.join("wapp.toml");
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(
        &manifest,
        text.replacen("version = \"0.1.0\"", &format!("version = \"{version}\""), 1),
    )
    .unwrap();
    let key = weft_pack::keys::load_signing_key(&fixture.dir.path().join("dev.key")).unwrap();
    weft_pack::sign_package(&package, &key).unwrap();
    package
}

/// Replaces the installed hello with `package` as a plain copy (what an
/// attacker with write access to the store can do; no install check runs).
fn plant(fixture: &Fixture, package: &std::path::Path) {
    let installed = fixture.dir.path().join("store/org.weft.hello");
    fs::remove_dir_all(&installed).unwrap();
    weft_testkit::copy_tree(package, &installed);
}

async fn launch_answer(fixture: &Fixture) -> Reply {
    let mut client = fixture.client().await;
    client.request(&Request::LaunchApp { app_id: "org.weft.hello".into() }).await.unwrap()
}

#[tokio::test]
async fn built_apps_a_planted_older_version_is_refused_until_the_operator_allows_it() {
    let mut fixture = Fixture::start(&["hello"], 30_000);
    let old = fixture.dir.path().join("packages/hello");
    let new = hello_as(&fixture, "0.2.0");
    plant(&fixture, &new);
    assert!(matches!(launch_answer(&fixture).await, Reply::LaunchAck { .. }));

    plant(&fixture, &old);
    let Reply::Error { code, message } = launch_answer(&fixture).await else {
        panic!("the planted 0.1.0 was launched")
    };
    assert_eq!(code, ErrorCode::Downgrade);
    assert_eq!(
        message,
        "org.weft.hello 0.1.0 is older than 0.2.0, which was launched before: a downgrade \
         needs the operator's consent (weftctl allow-downgrade org.weft.hello)"
    );

    // The ledger is on disk: a restarted daemon refuses it too.
    fixture.restart();
    assert!(matches!(
        launch_answer(&fixture).await,
        Reply::Error { code: ErrorCode::Downgrade, .. }
    ));

    let allowed = Command::new(workspace_bin("weftctl"))
        .args(["--socket".as_ref(), fixture.socket().as_os_str()])
        .args(["allow-downgrade", "org.weft.hello"])
        .output()
        .unwrap();
    assert!(allowed.status.success(), "{}", String::from_utf8_lossy(&allowed.stderr));
    assert!(matches!(launch_answer(&fixture).await, Reply::LaunchAck { .. }));
    // 0.1.0 is now the newest launched: 0.2.0 is still an upgrade.
    plant(&fixture, &new);
    assert!(matches!(launch_answer(&fixture).await, Reply::LaunchAck { .. }));
}
