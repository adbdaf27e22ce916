//! weft-appd's WebSocket: the system UI's JSON requests (and anything a page
//! that took over the panel could send).
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_protocol::appd::Request;

fuzz_target!(|data: &[u8]| {
    match serde_json::from_slice::<Request>(data) {
        Ok(request) => weft_fuzz::json_round_trip(&request),
        Err(error) => weft_fuzz::explains(&error),
    }
});
