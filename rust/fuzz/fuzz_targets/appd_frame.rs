//! weft-appd's control socket: a length-prefixed MessagePack frame from any
//! local client. A request that decodes survives a round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_protocol::appd::Request;
use weft_protocol::frame::{read_frame_sync, write_frame_sync};

fuzz_target!(|data: &[u8]| {
    match read_frame_sync::<Request>(&mut &data[..]) {
        Ok(request) => {
            let mut encoded = Vec::new();
            write_frame_sync(&mut encoded, &request).expect("a decoded request encodes");
            let again: Request = read_frame_sync(&mut &encoded[..]).expect("it decodes again");
            assert_eq!(again, request);
            weft_fuzz::json_round_trip(&request);
        }
        Err(error) => weft_fuzz::explains(&error),
    }
});
