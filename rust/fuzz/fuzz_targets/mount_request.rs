//! The mount helper's requests: the one privileged service, one line from
//! any member of its socket's group. A line it accepts is exactly the line
//! its request prints back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_mount_helper::service::{Request, parse_request};

fuzz_target!(|data: &[u8]| {
    match parse_request(data) {
        Ok(request) => {
            let line = match &request {
                Request::Mount(id) => format!("mount {id}\n"),
                Request::Unmount(id) => format!("unmount {id}\n"),
                Request::ReleaseAll => "release-all\n".to_owned(),
            };
            assert_eq!(line.as_bytes(), data, "{request:?} was read from other bytes");
        }
        Err(error) => weft_fuzz::explains(&error),
    }
});
