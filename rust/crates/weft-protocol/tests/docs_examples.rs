//! Every JSON example in docs/protocol.md is a message of this protocol, in one
//! direction or the other, so the docs cannot drift from the types.

use weft_protocol::appd::{FromAppd, Request};
use weft_protocol::compositor::{ControlRequest, FromCompositor};
use weft_protocol::portal::{PortalReply, PortalRequest};
use weft_protocol::runtime::Handover;
use weft_protocol::session::{FromApp, ToApp};

#[test]
fn protocol_doc_examples_parse() {
    let doc = include_str!("../../../../docs/protocol.md");
    let mut in_json = false;
    let mut checked = 0;
    for line in doc.lines() {
        match line.trim() {
            "```json" => in_json = true,
            "```" => in_json = false,
            example if in_json && !example.is_empty() => {
                let parses = serde_json::from_str::<FromApp>(example).is_ok()
                    || serde_json::from_str::<ToApp>(example).is_ok()
                    || serde_json::from_str::<Request>(example).is_ok()
                    || serde_json::from_str::<FromAppd>(example).is_ok()
                    || serde_json::from_str::<PortalRequest>(example).is_ok()
                    || serde_json::from_str::<PortalReply>(example).is_ok()
                    || serde_json::from_str::<ControlRequest>(example).is_ok()
                    || serde_json::from_str::<FromCompositor>(example).is_ok()
                    || serde_json::from_str::<Handover>(example).is_ok();
                assert!(parses, "docs/protocol.md example is not a message: {example}");
                checked += 1;
            }
            _ => {}
        }
    }
    assert!(checked >= 34, "only {checked} examples found");
}
