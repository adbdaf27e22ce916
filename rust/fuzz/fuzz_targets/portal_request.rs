//! The file portal's requests: one JSON line from a sandboxed app's runtime.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_protocol::portal::PortalRequest;

fuzz_target!(|data: &[u8]| {
    match serde_json::from_slice::<PortalRequest>(data) {
        Ok(request) => weft_fuzz::json_round_trip(&request),
        Err(error) => weft_fuzz::explains(&error),
    }
});
