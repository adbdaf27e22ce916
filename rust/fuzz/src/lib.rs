//! What the fuzz targets share: the properties every parser of untrusted
//! input must hold besides not panicking.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

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
