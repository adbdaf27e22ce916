//! A Wayland connection spoken byte by byte, as an attacker would: raw
//! messages (descriptors attached where the attacker likes), not a library
//! that keeps to the protocol.

use std::io::{Read, Write};
use std::os::fd::BorrowedFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A Wayland connection spoken byte by byte.
pub struct Wire {
    /// The connection.
    pub stream: UnixStream,
    received: Vec<u8>,
}

/// One event: its object, opcode and arguments' bytes.
pub struct WireEvent {
    /// The object that sent it.
    pub object: u32,
    /// Its opcode.
    pub opcode: u16,
    /// Its arguments.
    pub body: Vec<u8>,
}

impl Wire {
    /// Speaks raw Wayland on `stream`.
    pub fn new(stream: UnixStream) -> Self {
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Self { stream, received: Vec::new() }
    }

    /// The bytes of one request.
    pub fn message(object: u32, opcode: u16, body: &[u8]) -> Vec<u8> {
        let size = 8 + body.len() as u32;
        let mut message = object.to_ne_bytes().to_vec();
        message.extend_from_slice(&((size << 16) | u32::from(opcode)).to_ne_bytes());
        message.extend_from_slice(body);
        message
    }

    /// Sends `bytes`; false once the compositor has closed the connection.
    pub fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    /// The next event, or how the connection went quiet.
    pub fn next(&mut self) -> Result<WireEvent, End> {
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
pub enum End {
    /// The compositor closed it.
    Closed,
    /// Nothing came for the read timeout: the connection is still open.
    Silent,
}

/// A Wayland string argument: length with the NUL, bytes, padding to 4.
pub fn wire_string(text: &str) -> Vec<u8> {
    let mut bytes = ((text.len() + 1) as u32).to_ne_bytes().to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(0);
    while !bytes.len().is_multiple_of(4) {
        bytes.push(0);
    }
    bytes
}

/// Reads a string argument at the start of `body`; the string and the rest.
pub fn read_string(body: &[u8]) -> (String, &[u8]) {
    let length = u32::from_ne_bytes(body[..4].try_into().unwrap()) as usize;
    let text = String::from_utf8_lossy(&body[4..4 + length.saturating_sub(1)]).into_owned();
    let padded = length.div_ceil(4) * 4;
    (text, &body[4 + padded..])
}

/// A global the compositor offers.
pub struct Global {
    /// Its name in the registry.
    pub name: u32,
    /// Its interface.
    pub interface: String,
    /// The version offered.
    pub version: u32,
}

/// The globals the compositor offers: asks for the registry (object 2) and
/// a wl_display.sync (3) to know when they have all been announced.
pub fn globals(wire: &mut Wire) -> Vec<Global> {
    assert!(wire.send(&Wire::message(1, 1, &2u32.to_ne_bytes())));
    assert!(wire.send(&Wire::message(1, 0, &3u32.to_ne_bytes())));
    let mut globals = Vec::new();
    while let Ok(event) = wire.next() {
        if event.object == 3 {
            break;
        }
        if event.object == 2 && event.opcode == 0 {
            let name = u32::from_ne_bytes(event.body[..4].try_into().unwrap());
            let (interface, rest) = read_string(&event.body[4..]);
            let version = u32::from_ne_bytes(rest[..4].try_into().unwrap());
            globals.push(Global { name, interface, version });
        }
    }
    globals
}

/// wl_registry.bind of `global`, at the version offered, as object `id`.
pub fn bind(wire: &mut Wire, global: &Global, id: u32) -> bool {
    let mut bind = global.name.to_ne_bytes().to_vec();
    bind.extend(wire_string(&global.interface));
    bind.extend(global.version.to_ne_bytes());
    bind.extend(id.to_ne_bytes());
    wire.send(&Wire::message(2, 0, &bind))
}

/// Binds the globals of `interfaces`, in that order, as objects 4, 5, ...
/// (new ids come in order: libwayland refuses gaps).
pub fn bind_globals(wire: &mut Wire, interfaces: &[&str]) {
    let globals = globals(wire);
    for (id, wanted) in (4..).zip(interfaces) {
        let global = globals
            .iter()
            .find(|global| global.interface == *wanted)
            .unwrap_or_else(|| panic!("no {wanted} global"));
        assert!(bind(wire, global, id));
    }
}

/// Binds wl_compositor as object 4.
pub fn bind_compositor(wire: &mut Wire) {
    bind_globals(wire, &["wl_compositor"]);
}

/// How many descriptors one request may carry: the most a sender may attach
/// to one message (libwayland's and wayland-rs's `MAX_FDS_OUT`).
pub const DESCRIPTORS_PER_MESSAGE: usize = 28;

/// Sends `message` with `descriptors` attached (at most
/// [`DESCRIPTORS_PER_MESSAGE`]); false once the compositor has closed the
/// connection.
pub fn send_with_descriptors(wire: &Wire, message: &[u8], descriptors: &[BorrowedFd<'_>]) -> bool {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
    assert!(descriptors.len() <= DESCRIPTORS_PER_MESSAGE);
    let mut space =
        [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(DESCRIPTORS_PER_MESSAGE))];
    let mut ancillary = SendAncillaryBuffer::new(&mut space);
    assert!(ancillary.push(SendAncillaryMessage::ScmRights(descriptors)));
    sendmsg(&wire.stream, &[std::io::IoSlice::new(message)], &mut ancillary, SendFlags::NOSIGNAL)
        .is_ok_and(|sent| sent == message.len())
}
