//! What the fuzz targets share: the properties every parser of untrusted
//! input must hold besides not panicking.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use weft_protocol::frame::{read_frame_sync, write_frame_sync};

/// A value parsed from untrusted bytes re-serialises (as JSON) to a value
/// equal to itself: nothing is lost or invented between parse and send.
pub fn json_round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
    let text = serde_json::to_string(value).expect("a parsed value serialises");
    let again: T = serde_json::from_str(&text).expect("what was serialised parses");
    assert_eq!(&again, value, "changed by a round trip through {text}");
}

/// A refusal says what was wrong: a message, not an empty string.
pub fn explains(error: &dyn std::fmt::Display) {
    assert!(!error.to_string().trim().is_empty(), "a refusal without a reason");
}

/// Decodes `data` as one length-prefixed MessagePack frame of `T`: a value
/// that decodes re-encodes to a frame that decodes to an equal value, and a
/// refusal [`explains`] itself. Returns what decoded.
pub fn frame_round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(
    data: &[u8],
) -> Option<T> {
    match read_frame_sync::<T>(&mut &data[..]) {
        Ok(value) => {
            let mut encoded = Vec::new();
            write_frame_sync(&mut encoded, &value).expect("a decoded value encodes");
            let again: T = read_frame_sync(&mut &encoded[..]).expect("it decodes again");
            assert_eq!(again, value);
            Some(value)
        }
        Err(error) => {
            explains(&error);
            None
        }
    }
}
