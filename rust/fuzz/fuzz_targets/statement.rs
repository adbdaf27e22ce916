//! A package's or image's signed statement (`wapp.sig`), as anyone could
//! plant it: it verifies only against a trusted key, and a statement that
//! verifies names a valid app.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use weft_manifest::AppId;
use weft_verify::keys::TrustedKeys;
use weft_verify::statement::Statement;

/// One trusted key, made once per run.
fn trusted() -> &'static TrustedKeys {
    static KEYS: OnceLock<(tempfile::TempDir, TrustedKeys)> = OnceLock::new();
    &KEYS
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let public = dir.path().join("trusted/k.pub");
            std::fs::create_dir_all(public.parent().unwrap()).unwrap();
            weft_verify::keys::generate_key(&dir.path().join("k"), &public).unwrap();
            let keys = TrustedKeys::load(&dir.path().join("trusted")).unwrap();
            (dir, keys)
        })
        .1
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Statement::verify(text, trusted()) {
        Ok(statement) => {
            // Only a statement signed by the trusted key gets here.
            assert!(AppId::new(&statement.id).is_ok(), "{statement:?}");
        }
        Err(error) => weft_fuzz::explains(&error),
    }
});
