//! The session channel between weft-appd and a runtime: JSON lines, bounded.
//! Both directions are parsed by the other side, so both are fuzzed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_protocol::session::{FromApp, ToApp, read_message, write_message};

fuzz_target!(|data: &[u8]| {
    let mut reader = data;
    while let Ok(message) = read_message::<FromApp>(&mut reader) {
        let mut line = Vec::new();
        write_message(&mut line, &message).expect("a parsed message is written");
        assert_eq!(read_message::<FromApp>(&mut &line[..]).ok(), Some(message));
    }
    let mut reader = data;
    match read_message::<ToApp>(&mut reader) {
        Ok(message) => weft_fuzz::json_round_trip(&message),
        Err(error) => weft_fuzz::explains(&error),
    }
});
