//! Valid and hostile manifests: every rule of the schema, with the error naming
//! the field, the bad value and the place.

use weft_manifest::{
    Access, AppIdError, Capability, CapabilityKind, Directory, ImportDenied, Location, Manifest,
    ManifestError, Problem,
};

const VALID: &str = r#"[package]
id = "org.weft.hello"
name = "Hello"
version = "0.1.0"
capabilities = [
  "fs:rw:app-data",
  "fs:read:xdg-documents",
  "net:fetch:https://example.org",
  "net:fetch:http://127.0.0.1:8080",
  "sys:notifications",
  "sys:clipboard",
]

[runtime]
module = "app.wasm"

[ui]
entry = "ui/index.html"

[limits]
memory = "64MiB"
cpu = "50%"
"#;

/// `VALID` with one line replaced (the first line that starts with `key`).
fn with_line(key: &str, line: &str) -> String {
    let mut replaced = false;
    VALID
        .lines()
        .map(|original| {
            if !replaced && original.starts_with(key) {
                replaced = true;
                line.to_owned()
            } else {
                original.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `VALID` with the capability list replaced.
fn with_capabilities(capabilities: &[&str]) -> String {
    let start = VALID.find("capabilities = [").unwrap();
    let end = start + VALID[start..].find("]\n").unwrap() + 2;
    let list: Vec<String> = capabilities.iter().map(|c| format!("{c:?}")).collect();
    format!("{}capabilities = [{}]\n{}", &VALID[..start], list.join(", "), &VALID[end..])
}

fn error_of(source: &str) -> ManifestError {
    match Manifest::parse(source) {
        Ok(manifest) => panic!("accepted a bad manifest: {manifest:?}\n{source}"),
        Err(error) => error,
    }
}

/// Asserts that the error names `field` (in its field path or its message) and
/// that its display mentions `needle`.
fn assert_error(source: &str, field: &str, needle: &str) -> ManifestError {
    let error = error_of(source);
    let shown = error.to_string();
    let names_field = error.field.as_deref() == Some(field) || shown.contains(field);
    assert!(names_field, "error does not name {field}: {shown}");
    assert!(shown.contains(needle), "error does not mention {needle:?}: {shown}");
    error
}

#[test]
fn a_complete_manifest_parses_into_typed_values() {
    let manifest = Manifest::parse(VALID).unwrap();
    assert_eq!(manifest.id.as_str(), "org.weft.hello");
    assert_eq!(manifest.name, "Hello");
    assert_eq!(manifest.version, semver::Version::new(0, 1, 0));
    assert_eq!(manifest.module.as_str(), "app.wasm");
    assert_eq!(manifest.ui_entry.as_str(), "ui/index.html");
    assert_eq!(manifest.limits.memory_bytes, Some(64 << 20));
    assert_eq!(manifest.limits.cpu_percent, Some(50));
    assert_eq!(
        manifest.capabilities[..2],
        [
            Capability::Filesystem { dir: Directory::AppData, access: Access::ReadWrite },
            Capability::Filesystem { dir: Directory::XdgDocuments, access: Access::Read },
        ]
    );
    let origins: Vec<String> = manifest.fetch_origins().map(ToString::to_string).collect();
    assert_eq!(origins, ["https://example.org", "http://127.0.0.1:8080"]);
    assert!(manifest.grants(CapabilityKind::Clipboard));
}

#[test]
fn the_smallest_manifest_needs_no_capabilities_or_limits() {
    let source = "[package]\nid = \"a.b\"\nname = \"A\"\nversion = \"1.0.0\"\n\
                  [runtime]\nmodule = \"app.wasm\"\n[ui]\nentry = \"index.html\"\n";
    let manifest = Manifest::parse(source).unwrap();
    assert!(manifest.capabilities.is_empty());
    assert_eq!(manifest.limits, Default::default());
}

#[test]
fn the_shipped_example_manifest_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../apps/hello/wapp.toml");
    let manifest = Manifest::load(std::path::Path::new(path)).unwrap();
    assert_eq!(manifest.id.as_str(), "org.weft.hello");
}

#[test]
fn bad_app_ids_name_the_field_value_and_place() {
    let error = assert_error(&with_line("id =", "id = \"Org.Weft\""), "package.id", "Org.Weft");
    assert_eq!(error.problem, Problem::AppId(AppIdError::BadCharacter('O')));
    assert_eq!(error.location, Some(Location { line: 2, column: 6 }));
    assert_eq!(
        error.to_string(),
        "line 2, column 6: package.id = \"Org.Weft\": invalid app id: character 'O' is not allowed; \
         use lowercase a-z, 0-9, '-' and '.'"
    );
    for (id, needle) in [
        ("../../tmp/evil", "'/'"),
        ("hello", "1 labels"),
        ("a.b.c.d.e.f.g.h.i", "9 labels"),
        (".org.weft", "empty label"),
        ("org.weft.", "empty label"),
        ("org..weft", "empty label"),
        ("org.-weft", "starts or ends with '-'"),
        ("", "cannot be empty"),
    ] {
        assert_error(&with_line("id =", &format!("id = {id:?}")), "package.id", needle);
    }
    let long = ["abcdefghijklmnop"; 8].join(".");
    assert_error(
        &with_line("id =", &format!("id = {long:?}")),
        "package.id",
        "longer than the limit",
    );
}

#[test]
fn names_must_be_short_visible_text() {
    assert_error(&with_line("name =", "name = \"\""), "package.name", "empty");
    assert_error(&with_line("name =", "name = \" Hi\""), "package.name", "whitespace");
    assert_error(&with_line("name =", "name = \"a\\u0007b\""), "package.name", "control character");
    for (name, expected) in [
        ("Bank\\u202etxt.exe", "contains a bidirectional control (U+202E), which reorders"),
        ("Cl\\u200bock", "contains an invisible formatting character (U+200B)"),
    ] {
        assert_error(&with_line("name =", &format!("name = \"{name}\"")), "package.name", expected);
    }
    let long = "x".repeat(65);
    assert_error(
        &with_line("name =", &format!("name = {long:?}")),
        "package.name",
        "64 characters",
    );
}

#[test]
fn versions_must_be_semantic() {
    for version in ["1", "1.0", "v1.0.0", "1.0.0.0", "01.0.0", "latest"] {
        let error = assert_error(
            &with_line("version =", &format!("version = {version:?}")),
            "package.version",
            "semantic version",
        );
        assert_eq!(error.value.as_deref(), Some(version));
    }
    assert!(Manifest::parse(&with_line("version =", "version = \"1.2.3-beta.1+build.5\"")).is_ok());
}

#[test]
fn a_version_of_the_wrong_type_names_the_field() {
    let error = assert_error(&with_line("version =", "version = 1"), "package.version", "integer");
    assert_eq!(error.location, Some(Location { line: 4, column: 11 }));
}

#[test]
fn unknown_capabilities_are_refused_by_name() {
    for capability in
        ["fs:write:app-data", "sys:camera", "net:*", "fs:rw:/etc", "SYS:CLIPBOARD", ""]
    {
        let error = assert_error(
            &with_capabilities(&["sys:clipboard", capability]),
            "package.capabilities[1]",
            "unknown capability",
        );
        assert_eq!(error.value.as_deref(), Some(capability));
    }
}

#[test]
fn fetch_origins_must_be_bare_https_or_loopback_http() {
    for (origin, needle) in [
        ("net:fetch:http://example.org:80", "only to 127.0.0.1"),
        ("net:fetch:http://127.0.0.1", "only to 127.0.0.1"),
        ("net:fetch:https://example.org/path", "no path"),
        ("net:fetch:https://user@example.org", "no path"),
        ("net:fetch:https://Example.org", "lowercase DNS name"),
        ("net:fetch:https://example.org:99999", "port"),
        ("net:fetch:ftp://example.org", "starts with https://"),
        ("net:fetch:", "starts with https://"),
    ] {
        assert_error(&with_capabilities(&[origin]), "package.capabilities[0]", needle);
    }
}

#[test]
fn duplicate_and_conflicting_capabilities_are_refused() {
    let error = assert_error(
        &with_capabilities(&["sys:clipboard", "sys:notifications", "sys:clipboard"]),
        "package.capabilities[2]",
        "duplicate capability",
    );
    assert!(matches!(error.problem, Problem::DuplicateCapability { .. }));
    assert_error(
        &with_capabilities(&["fs:rw:app-data", "fs:read:app-data"]),
        "package.capabilities[1]",
        "conflicts with `fs:rw:app-data`",
    );
    // One origin spelt with and without its default port is still one origin.
    assert_error(
        &with_capabilities(&["net:fetch:https://a.example", "net:fetch:https://a.example:443"]),
        "package.capabilities[1]",
        "duplicate capability",
    );
    // Two different origins are two capabilities, not a conflict.
    let two_origins =
        with_capabilities(&["net:fetch:https://a.example", "net:fetch:https://b.example"]);
    assert_eq!(Manifest::parse(&two_origins).unwrap().capabilities.len(), 2);
}

#[test]
fn capabilities_of_the_wrong_type_name_the_field() {
    let source = VALID.replace("\"sys:clipboard\",", "42,");
    assert_error(&source, "package.capabilities[5]", "integer");
    let scalar = "[package]\nid = \"a.b\"\nname = \"A\"\nversion = \"1.0.0\"\ncapabilities = \"sys:clipboard\"\n\
                  [runtime]\nmodule = \"app.wasm\"\n[ui]\nentry = \"index.html\"\n";
    assert_error(scalar, "package.capabilities", "expected a sequence");
}

#[test]
fn package_paths_stay_inside_the_package() {
    for (module, needle) in [
        ("/usr/lib/evil.wasm", "absolute"),
        ("../other/app.wasm", "'..'"),
        ("bin/../../app.wasm", "'..'"),
        ("./app.wasm", "plain form"),
        ("", "empty"),
        ("app\\..\\x.wasm", "'\\\\'"),
    ] {
        assert_error(
            &with_line("module =", &format!("module = {module:?}")),
            "runtime.module",
            needle,
        );
    }
    assert_error(&with_line("entry =", "entry = \"../../etc/passwd\""), "ui.entry", "'..'");
}

#[test]
fn limits_are_checked() {
    assert_error(&with_line("memory =", "memory = \"64MB\""), "limits.memory", "KiB, MiB, GiB");
    assert_error(&with_line("memory =", "memory = \"8GiB\""), "limits.memory", "1MiB to 4GiB");
    assert_error(&with_line("memory =", "memory = 64"), "limits.memory", "integer");
    assert_error(&with_line("cpu =", "cpu = \"0%\""), "limits.cpu", "1% to");
    assert_error(&with_line("cpu =", "cpu = \"half\""), "limits.cpu", "like \"50%\"");
}

#[test]
fn unknown_keys_are_refused_where_they_stand() {
    let error = assert_error(
        &with_line("name =", "nmae = \"Hello\""),
        "package.nmae",
        "unknown field `nmae`",
    );
    assert_eq!(error.location, Some(Location { line: 3, column: 1 }));
    assert_error(&format!("{VALID}\n[extra]\nkey = 1\n"), "extra", "unknown field `extra`");
    assert_error(&with_line("cpu =", "gpu = \"50%\""), "limits.gpu", "unknown field `gpu`");
    assert_error(
        &with_line("entry =", "entry = \"ui/index.html\"\npreload = true"),
        "ui.preload",
        "unknown field",
    );
}

#[test]
fn missing_keys_are_named() {
    assert_error(&with_line("version =", ""), "version", "missing field `version`");
    assert_error(&with_line("module =", ""), "module", "missing field `module`");
    let no_ui = VALID.replace("[ui]\nentry = \"ui/index.html\"\n", "");
    assert_error(&no_ui, "ui", "missing field `ui`");
}

#[test]
fn syntax_errors_and_duplicate_keys_are_located() {
    let error = error_of(&with_line("[runtime]", "[runtime"));
    assert_eq!(error.location.map(|l| l.line), Some(14));
    let error =
        assert_error(&with_line("name =", "name = \"A\"\nname = \"B\""), "name", "duplicate key");
    assert_eq!(error.location.map(|l| l.line), Some(4));
}

#[test]
fn oversized_manifests_are_refused_before_parsing() {
    let huge = format!("{VALID}#{}\n", "x".repeat(weft_manifest::MAX_MANIFEST_BYTES));
    let error = error_of(&huge);
    assert!(matches!(error.problem, Problem::TooLarge(_)));
    assert!(error.to_string().contains("limit is 65536"));
}

#[test]
fn imports_are_checked_against_capabilities() {
    let bare = Manifest::parse(&with_capabilities(&[])).unwrap();
    let hello_imports = ["weft:app/notify@0.1.0", "weft:app/ipc@0.1.0", "wasi:io/streams@0.2.6"];
    assert_eq!(bare.check_imports(hello_imports), Ok(()));
    assert_eq!(
        bare.check_imports(["weft:app/notifications@0.1.0"]).unwrap_err().to_string(),
        "the component imports weft:app/notifications@0.1.0 but the manifest lacks sys:notifications"
    );
    assert!(matches!(
        bare.check_imports(["wasi:http/outgoing-handler@0.2.6"]),
        Err(ImportDenied::Missing { needed: CapabilityKind::NetFetch, .. })
    ));
    assert!(matches!(
        bare.check_imports(["wasi:keyvalue/store@0.2.0"]),
        Err(ImportDenied::Forbidden { .. })
    ));
    let full = Manifest::parse(VALID).unwrap();
    assert_eq!(full.check_imports(["weft:app/clipboard@0.1.0", "wasi:http/types@0.2.6"]), Ok(()));
}
