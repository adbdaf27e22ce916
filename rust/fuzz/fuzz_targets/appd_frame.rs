//! weft-appd's control socket: a length-prefixed MessagePack frame from any
//! local client. A request that decodes survives a round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_protocol::appd::Request;

fuzz_target!(|data: &[u8]| {
    if let Some(request) = weft_fuzz::frame_round_trip::<Request>(data) {
        weft_fuzz::json_round_trip(&request);
    }
});
