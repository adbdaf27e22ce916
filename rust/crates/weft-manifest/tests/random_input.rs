//! Random input never panics the parser: it yields a manifest or an error.

use proptest::prelude::*;
use weft_manifest::Manifest;

/// Fragments that steer random text towards almost-valid manifests, so the
/// validation code (not only the TOML lexer) sees hostile values.
fn manifest_like() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "id",
        "name",
        "version",
        "capabilities",
        "module",
        "entry",
        "memory",
        "cpu",
        "x",
    ]);
    let table = prop::sample::select(vec!["[package]", "[runtime]", "[ui]", "[limits]", "[[x]]"]);
    let value = prop_oneof![
        any::<String>().prop_map(|s| format!("{s:?}")),
        any::<i64>().prop_map(|n| n.to_string()),
        prop::collection::vec(any::<String>(), 0..4).prop_map(|v| format!("{v:?}")),
        Just("\"org.weft.hello\"".to_owned()),
        Just("[\"net:fetch:https://a.b\", \"net:fetch:https://a.b\"]".to_owned()),
        Just("{ a = 1 }".to_owned()),
    ];
    let line = prop_oneof![
        table.prop_map(str::to_owned),
        (key, value).prop_map(|(key, value)| format!("{key} = {value}")),
        any::<String>(),
    ];
    prop::collection::vec(line, 0..16).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = Manifest::parse(&text);
    }

    #[test]
    fn manifest_like_text_never_panics(text in manifest_like()) {
        if let Err(error) = Manifest::parse(&text) {
            // Every error renders, and a located one points inside the text.
            let _ = error.to_string();
            if let Some(location) = error.location {
                prop_assert!(location.line <= text.lines().count().max(1) + 1);
            }
        }
    }
}
