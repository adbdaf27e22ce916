//! The compositor's control socket: frames from weft-appd (or anything that
//! reached the socket).
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_protocol::compositor::ControlRequest;

fuzz_target!(|data: &[u8]| {
    weft_fuzz::frame_round_trip::<ControlRequest>(data);
});
