//! The compositor's control socket: frames from weft-appd (or anything that
//! reached the socket).
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_protocol::compositor::ControlRequest;
use weft_protocol::frame::{read_frame_sync, write_frame_sync};

fuzz_target!(|data: &[u8]| {
    match read_frame_sync::<ControlRequest>(&mut &data[..]) {
        Ok(request) => {
            let mut encoded = Vec::new();
            write_frame_sync(&mut encoded, &request).expect("a decoded request encodes");
            let again: ControlRequest = read_frame_sync(&mut &encoded[..]).expect("decodes again");
            assert_eq!(again, request);
        }
        Err(error) => weft_fuzz::explains(&error),
    }
});
