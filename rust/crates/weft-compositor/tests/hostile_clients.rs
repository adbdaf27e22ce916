//! Clients written as an attacker would: raw Wayland messages on the socket,
//! not a library that keeps to the protocol. The compositor disconnects the
//! offender, stays up, and keeps serving everyone else.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::*;
use weft_compositor::state::{Authorization, MAX_SURFACES_PER_CLIENT};
use weft_protocol::zweft::client::zweft_shell_manager_v1::Role;

const RED: [u8; 4] = [200, 30, 30, 255];

/// A Wayland connection spoken byte by byte.
struct Wire {
    stream: UnixStream,
    received: Vec<u8>,
}

/// One event: its object, opcode and arguments' bytes.
struct WireEvent {
    object: u32,
    opcode: u16,
    body: Vec<u8>,
}

impl Wire {
    fn new(stream: UnixStream) -> Self {
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Self { stream, received: Vec::new() }
    }

    /// The bytes of one request.
    fn message(object: u32, opcode: u16, body: &[u8]) -> Vec<u8> {
        let size = 8 + body.len() as u32;
        let mut message = object.to_ne_bytes().to_vec();
        message.extend_from_slice(&((size << 16) | u32::from(opcode)).to_ne_bytes());
        message.extend_from_slice(body);
        message
    }

    /// Sends `bytes`; false once the compositor has closed the connection.
    fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    /// The next event, or how the connection went quiet.
    fn next(&mut self) -> Result<WireEvent, End> {
        loop {
            if self.received.len() >= 8 {
                let word =
                    |at: usize| u32::from_ne_bytes(self.received[at..at + 4].try_into().unwrap());
                let (object, header) = (word(0), word(4));
                let size = (header >> 16) as usize;
                if self.received.len() >= size {
                    let body = self.received[8..size].to_vec();
                    self.received.drain(..size);
                    return Ok(WireEvent { object, opcode: header as u16, body });
                }
            }
            let mut chunk = [0; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(End::Closed),
                Ok(read) => self.received.extend_from_slice(&chunk[..read]),
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Err(End::Closed);
                }
                Err(_) => return Err(End::Silent),
            }
        }
    }
}

/// How a connection stopped giving events.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The compositor closed it.
    Closed,
    /// Nothing came for the read timeout: the connection is still open.
    Silent,
}

/// A Wayland string argument: length with the NUL, bytes, padding to 4.
fn wire_string(text: &str) -> Vec<u8> {
    let mut bytes = ((text.len() + 1) as u32).to_ne_bytes().to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(0);
    while !bytes.len().is_multiple_of(4) {
        bytes.push(0);
    }
    bytes
}

/// Reads a string argument at the start of `body`; the string and the rest.
fn read_string(body: &[u8]) -> (String, &[u8]) {
    let length = u32::from_ne_bytes(body[..4].try_into().unwrap()) as usize;
    let text = String::from_utf8_lossy(&body[4..4 + length.saturating_sub(1)]).into_owned();
    let padded = length.div_ceil(4) * 4;
    (text, &body[4 + padded..])
}

/// Binds wl_compositor as object 4 (the registry is 2, a sync callback 3).
fn bind_compositor(wire: &mut Wire) {
    // wl_display.get_registry(2), then wl_display.sync(3) to know when the
    // globals are all there.
    assert!(wire.send(&Wire::message(1, 1, &2u32.to_ne_bytes())));
    assert!(wire.send(&Wire::message(1, 0, &3u32.to_ne_bytes())));
    let mut compositor_global = None;
    while let Ok(event) = wire.next() {
        if event.object == 3 {
            break;
        }
        if event.object == 2 && event.opcode == 0 {
            let name = u32::from_ne_bytes(event.body[..4].try_into().unwrap());
            let (interface, _) = read_string(&event.body[4..]);
            if interface == "wl_compositor" {
                compositor_global = Some(name);
            }
        }
    }
    let name = compositor_global.expect("a wl_compositor global");
    // wl_registry.bind(name, "wl_compositor", 4, new id 4).
    let mut bind = name.to_ne_bytes().to_vec();
    bind.extend(wire_string("wl_compositor"));
    bind.extend(4u32.to_ne_bytes());
    bind.extend(4u32.to_ne_bytes());
    assert!(wire.send(&Wire::message(2, 0, &bind)));
}

#[test]
fn a_client_that_destroys_its_surfaces_may_make_new_ones() {
    let compositor = headless(640, 480);
    let mut wire = Wire::new(compositor.connect(Authorization::app("org.weft.hello")).unwrap());
    bind_compositor(&mut wire);
    // Three rounds of 1,000 surfaces, each destroyed (wl_surface.destroy)
    // before the next: never more than the limit at once.
    for round in 0..3u32 {
        let ids = (5 + round * 1000)..(5 + (round + 1) * 1000);
        let create: Vec<u8> =
            ids.clone().flat_map(|id| Wire::message(4, 0, &id.to_ne_bytes())).collect();
        let destroy: Vec<u8> = ids.flat_map(|id| Wire::message(id, 0, &[])).collect();
        assert!(wire.send(&create) && wire.send(&destroy), "closed in round {round}");
    }
    // wl_display.sync with the next new id: its answer comes, so the
    // connection is alive.
    assert!(wire.send(&Wire::message(1, 0, &3005u32.to_ne_bytes())));
    loop {
        match wire.next() {
            Ok(event) if event.object == 3005 => break,
            Ok(event) if event.object == 1 && event.opcode == 0 => {
                panic!("a protocol error: {}", read_string(&event.body[8..]).0)
            }
            Ok(_) => {}
            Err(end) => panic!("the connection ended: {end:?}"),
        }
    }
}

#[test]
fn a_client_making_10000_surfaces_is_disconnected_and_others_are_still_served() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let compositor = headless(640, 480);
    let mut app = TestClient::connect(&compositor, Authorization::app("org.weft.hello"), RED);
    let _window = app.zweft_window("org.weft.hello", Role::Application, 100);
    assert_eq!(wait_for_pixel(&compositor, 50, 50, RED), RED);

    let mut evil = Wire::new(compositor.connect(Authorization::app("org.weft.evil")).unwrap());
    bind_compositor(&mut evil);
    // 10,000 wl_compositor.create_surface requests in one go.
    let flood: Vec<u8> =
        (5..10_005u32).flat_map(|id| Wire::message(4, 0, &id.to_ne_bytes())).collect();
    let _ = evil.send(&flood);
    let misbehaved = Instant::now();

    // The compositor closes the connection (its wl_display.error, when it
    // reaches the client before the close, names the limit).
    let end = loop {
        match evil.next() {
            Ok(event) if event.object == 1 && event.opcode == 0 => {
                let (message, _) = read_string(&event.body[8..]);
                assert_eq!(
                    message,
                    format!("more than {MAX_SURFACES_PER_CLIENT} surfaces at once")
                );
            }
            Ok(_) => {}
            Err(end) => break end,
        }
    };
    assert_eq!(end, End::Closed, "the client that made 10,000 surfaces is still connected");

    // Everyone else is served: a roundtrip and the app's pixels.
    assert!(app.roundtrip().is_ok(), "the well-behaved client lost its connection");
    assert_eq!(wait_for_pixel(&compositor, 50, 50, RED), RED);
    let served = misbehaved.elapsed();
    println!("hostile clients: the app was served again {served:?} after the flood");
    assert!(served < Duration::from_secs(2), "the compositor stalled {served:?}");
}
