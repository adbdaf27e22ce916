//! The NixOS module's table of weft-appd settings (modules/weft/settings.nix,
//! plain data) has exactly the keys and defaults of the Rust schema, so
//! `weft.settings` and `weft-appd --config` cannot drift apart. Needs
//! `nix-instantiate` on PATH (tests/run.sh puts ../shared/nix-eval's there).

use std::process::Command;

use serde_json::Value;
use weft_appd::settings::Settings;

/// `{key: {type, default, description} | table}` to `{key: default | table}`.
fn defaults(table: &Value) -> Value {
    let Value::Object(entries) = table else { panic!("not a table: {table}") };
    Value::Object(
        entries
            .iter()
            .map(|(key, spec)| {
                let value = match spec.get("type") {
                    Some(_) => spec["default"].clone(),
                    None => defaults(spec),
                };
                (key.clone(), value)
            })
            .collect(),
    )
}

#[test]
fn nix_settings_table_matches_the_rust_schema() {
    let table = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../modules/weft/settings.nix");
    let output = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json", table])
        .env("NIX_CONFIG", "build-users-group =")
        .output()
        .expect("nix-instantiate on PATH (tests/run.sh puts ../shared/nix-eval's there)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let table: Value = serde_json::from_slice(&output.stdout).unwrap();
    for spec in table.as_object().unwrap().values() {
        let leaves: Vec<&Value> = match spec.get("type") {
            Some(_) => vec![spec],
            None => spec.as_object().unwrap().values().collect(),
        };
        for leaf in leaves {
            assert!(leaf["description"].as_str().is_some_and(|text| !text.is_empty()), "{leaf}");
        }
    }
    let rust = serde_json::to_value(Settings::defaults()).unwrap();
    assert_eq!(defaults(&table), rust, "modules/weft/settings.nix and Settings::defaults() differ");
}
