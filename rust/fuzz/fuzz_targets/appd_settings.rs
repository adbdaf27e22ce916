//! weft-appd's settings file (`/etc/weft/appd.toml`, the NixOS module's
//! rendering, or a user's own): what parses survives a round trip; an unknown
//! key or a wrong type is refused with its name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_appd::settings::Settings;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match toml::from_str::<Settings>(text) {
        Ok(settings) => {
            let again = toml::to_string(&settings).expect("parsed settings serialise");
            assert_eq!(toml::from_str::<Settings>(&again).ok(), Some(settings), "{again}");
        }
        Err(error) => weft_fuzz::explains(&error),
    }
});
