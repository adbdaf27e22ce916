//! `wapp.toml` as an author (or an attacker) wrote it: a manifest that parses
//! holds only valid, visible values; one that does not says why.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_manifest::{AppId, Manifest, Shown, check_shown_text};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Manifest::parse(text) {
        Ok(manifest) => {
            assert_eq!(AppId::new(manifest.id.as_str()).as_ref(), Ok(&manifest.id));
            assert_eq!(check_shown_text(&manifest.name, Shown::Name), Ok(()));
            assert!(!manifest.name.trim().is_empty(), "an empty name was accepted");
            // Parsing is a function of the text alone.
            assert_eq!(Manifest::parse(text).ok().as_ref(), Some(&manifest));
        }
        Err(error) => weft_fuzz::explains(&error),
    }
});
