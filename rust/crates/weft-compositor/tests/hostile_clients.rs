//! Clients written as an attacker would: raw Wayland messages on the socket,
//! not a library that keeps to the protocol. The compositor disconnects the
//! offender, stays up, and keeps serving everyone else.

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::*;
use weft_compositor::limits::{MAX_OBJECTS_PER_CLIENT, MAX_SURFACES_PER_CLIENT};
use weft_compositor::server::Handle;
use weft_compositor::state::Authorization;
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

/// Runs one case at a time: the cases measure the whole test process (its
/// descriptors and memory, where the compositor runs), which another case's
/// compositor would disturb.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
    let _alone = alone();
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
fn a_client_making_2000_surfaces_is_disconnected_and_others_are_still_served() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let _alone = alone();
    let compositor = headless(640, 480);
    let mut app = red_app(&compositor);

    let mut evil = Wire::new(compositor.connect(Authorization::app("org.weft.evil")).unwrap());
    bind_compositor(&mut evil);
    // 2,000 wl_compositor.create_surface requests in one go: over the limit
    // on surfaces, under the one on all objects.
    const SURFACES: u32 = 2_000;
    assert!(SURFACES as usize > MAX_SURFACES_PER_CLIENT);
    assert!((SURFACES as usize) < MAX_OBJECTS_PER_CLIENT);
    let flood: Vec<u8> =
        (5..5 + SURFACES).flat_map(|id| Wire::message(4, 0, &id.to_ne_bytes())).collect();
    let _ = evil.send(&flood);
    let misbehaved = Instant::now();

    // The compositor closes the connection (its log names the limit): the
    // surface limit, as 2,000 objects are far below the limit on all objects.
    let (_, end) = error_then_close(&mut evil);
    assert_eq!(end, End::Closed, "the client that made 2,000 surfaces is still connected");

    // Everyone else is served: a roundtrip and the app's pixels.
    let served = still_served(&compositor, &mut app, misbehaved);
    println!("hostile clients: the app was served again {served:?} after the flood");
    assert!(served < Duration::from_secs(2), "the compositor stalled {served:?}");
}

/// The test process's resident memory (the compositor runs in it), in KiB.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// How many descriptors the test process (and so the compositor) holds.
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Reads `wire` to its end; the message of the wl_display.error it got, if any.
fn error_then_close(wire: &mut Wire) -> (Option<String>, End) {
    let mut error = None;
    loop {
        match wire.next() {
            Ok(event) if event.object == 1 && event.opcode == 0 => {
                error = Some(read_string(&event.body[8..]).0);
            }
            Ok(_) => {}
            Err(end) => return (error, end),
        }
    }
}

/// A well-behaved app on screen in red, for the cases to show it stays served.
fn red_app(compositor: &Handle) -> TestClient {
    let mut app = TestClient::connect(compositor, Authorization::app("org.weft.hello"), RED);
    let _window = app.zweft_window("org.weft.hello", Role::Application, 100);
    assert_eq!(wait_for_pixel(compositor, 50, 50, RED), RED);
    app
}

/// The well-behaved app answers a roundtrip and its pixels are on screen;
/// how long after `misbehaved` that was.
fn still_served(compositor: &Handle, app: &mut TestClient, misbehaved: Instant) -> Duration {
    assert!(app.roundtrip().is_ok(), "the well-behaved client lost its connection");
    assert_eq!(wait_for_pixel(compositor, 50, 50, RED), RED);
    misbehaved.elapsed()
}

#[test]
fn a_client_making_objects_without_end_is_disconnected_and_memory_stays_bounded() {
    let _alone = alone();
    let compositor = headless(640, 480);
    let mut app = red_app(&compositor);
    let (rss_before, fds_before) = (resident_kib(), open_descriptors());

    let mut evil = Wire::new(compositor.connect(Authorization::app("org.weft.evil")).unwrap());
    bind_compositor(&mut evil);
    // 200,000 wl_compositor.create_region requests: regions are not
    // surfaces, so only the limit on all objects stops them.
    let flood: Vec<u8> =
        (5..200_005u32).flat_map(|id| Wire::message(4, 1, &id.to_ne_bytes())).collect();
    let _ = evil.send(&flood);
    let misbehaved = Instant::now();
    let (_, end) = error_then_close(&mut evil);
    assert_eq!(end, End::Closed, "the client that made 200,000 regions is still connected");
    let served = still_served(&compositor, &mut app, misbehaved);
    let (rss_after, fds_after) = (resident_kib(), open_descriptors());
    println!(
        "hostile clients: 200,000 regions: disconnected; served again {served:?} later; \
         RSS {rss_before} -> {rss_after} KiB, descriptors {fds_before} -> {fds_after}"
    );
    assert!(served < Duration::from_secs(2), "the compositor stalled {served:?}");
    assert!(rss_after < rss_before + 64 * 1024, "RSS grew from {rss_before} to {rss_after} KiB");
    assert!(fds_after <= fds_before + 2, "descriptors {fds_before} -> {fds_after}");
}

/// How many descriptors one request may carry: the most a sender may attach
/// to one message (libwayland's and wayland-rs's `MAX_FDS_OUT`).
const DESCRIPTORS_PER_MESSAGE: usize = 28;

/// Sends `message` with `DESCRIPTORS_PER_MESSAGE` copies of `descriptor`
/// attached; false once the compositor has closed the connection.
fn send_with_descriptors(wire: &Wire, message: &[u8], descriptor: BorrowedFd<'_>) -> bool {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
    let descriptors = [descriptor; DESCRIPTORS_PER_MESSAGE];
    let mut space =
        [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(DESCRIPTORS_PER_MESSAGE))];
    let mut ancillary = SendAncillaryBuffer::new(&mut space);
    assert!(ancillary.push(SendAncillaryMessage::ScmRights(&descriptors)));
    sendmsg(&wire.stream, &[std::io::IoSlice::new(message)], &mut ancillary, SendFlags::NOSIGNAL)
        .is_ok_and(|sent| sent == message.len())
}

#[test]
fn a_client_sending_descriptors_no_request_takes_is_disconnected_and_descriptors_stay_bounded() {
    let _alone = alone();
    let compositor = headless(640, 480);
    let mut app = red_app(&compositor);
    let fds_before = open_descriptors();

    let mut evil = Wire::new(compositor.connect(Authorization::app("org.weft.evil")).unwrap());
    bind_compositor(&mut evil);
    // wl_compositor.create_region(5), then wl_region.add again and again:
    // a request that takes no descriptor, each sent with 28 of them. 400 of
    // them carry 11,200 descriptors, ten times what a client may leave
    // pending, and fewer than this process may open.
    assert!(evil.send(&Wire::message(4, 1, &5u32.to_ne_bytes())));
    let null = std::fs::File::open("/dev/null").unwrap();
    let add = Wire::message(5, 1, &[0; 16]);
    let misbehaved = Instant::now();
    let mut sent = 0;
    let mut peak = fds_before;
    while sent < 400 && send_with_descriptors(&evil, &add, null.as_fd()) {
        sent += 1;
        if sent % 20 == 0 {
            peak = peak.max(open_descriptors());
        }
    }
    let (_, end) = error_then_close(&mut evil);
    assert_eq!(end, End::Closed, "the client that sent {sent} x 28 descriptors is still connected");
    let served = still_served(&compositor, &mut app, misbehaved);
    drop(evil);
    let fds_after = open_descriptors();
    println!(
        "hostile clients: descriptors on requests that take none: disconnected after {sent} \
         messages ({} descriptors); served again {served:?} later; descriptors {fds_before} -> \
         peak {peak} -> {fds_after}",
        sent * DESCRIPTORS_PER_MESSAGE
    );
    assert!(
        peak <= fds_before + 1100,
        "the compositor held {peak} descriptors (from {fds_before})"
    );
    assert!(fds_after <= fds_before + 2, "descriptors {fds_before} -> {fds_after}");
}

#[test]
fn requests_on_a_destroyed_surface_end_the_client_not_the_compositor() {
    let _alone = alone();
    let compositor = headless(640, 480);
    let mut app = red_app(&compositor);
    let mut evil = Wire::new(compositor.connect(Authorization::app("org.weft.evil")).unwrap());
    bind_compositor(&mut evil);
    // create_surface(5), wl_surface.destroy, then wl_surface.damage and
    // commit on the id it no longer has.
    let mut requests = Wire::message(4, 0, &5u32.to_ne_bytes());
    requests.extend(Wire::message(5, 0, &[]));
    requests.extend(Wire::message(5, 2, &[0; 16]));
    requests.extend(Wire::message(5, 6, &[]));
    let _ = evil.send(&requests);
    let misbehaved = Instant::now();
    // The connection ends after a wl_display.error naming the object.
    let (error, end) = error_then_close(&mut evil);
    assert_eq!(end, End::Closed);
    let error = error.expect("a wl_display.error before the close");
    assert!(error.contains('5'), "{error}");
    let served = still_served(&compositor, &mut app, misbehaved);
    println!("hostile clients: requests after destroy: {error:?}; served again {served:?} later");
}

#[test]
fn a_client_that_never_reads_is_disconnected_and_others_are_still_served() {
    let _alone = alone();
    let compositor = headless(640, 480);
    let mut app = red_app(&compositor);
    let rss_before = resident_kib();
    let evil = compositor.connect(Authorization::app("org.weft.evil")).unwrap();
    // wl_display.sync 100,000 times, each answered with two events, and
    // never a read: the compositor's queue for it fills up.
    let flood: Vec<u8> =
        (2..100_002u32).flat_map(|id| Wire::message(1, 0, &id.to_ne_bytes())).collect();
    let mut writer = evil.try_clone().unwrap();
    writer.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let misbehaved = Instant::now();
    let _ = writer.write_all(&flood);
    // Disconnected: the socket's far end is closed (reading now would only
    // drain what the compositor queued, so the close is seen by polling).
    let deadline = Instant::now() + Duration::from_secs(10);
    let closed = loop {
        let mut poll = [rustix::event::PollFd::new(&evil, rustix::event::PollFlags::RDHUP)];
        let _ = rustix::event::poll(
            &mut poll,
            Some(&rustix::time::Timespec { tv_sec: 0, tv_nsec: 20_000_000 }),
        );
        let revents = poll[0].revents();
        if revents.intersects(rustix::event::PollFlags::RDHUP | rustix::event::PollFlags::HUP) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
    };
    assert!(closed, "the client that never reads is still connected");
    let served = still_served(&compositor, &mut app, misbehaved);
    let rss_after = resident_kib();
    println!(
        "hostile clients: never reads: disconnected; served again {served:?} later; \
         RSS {rss_before} -> {rss_after} KiB"
    );
    assert!(rss_after < rss_before + 64 * 1024, "RSS grew from {rss_before} to {rss_after} KiB");
}

#[test]
fn a_buffer_whose_memory_is_truncated_after_attach_does_not_bring_the_compositor_down() {
    let _alone = alone();
    let compositor = headless(640, 480);
    let mut app = red_app(&compositor);
    const GREEN: [u8; 4] = [30, 200, 30, 255];
    let mut evil = TestClient::connect(&compositor, Authorization::app("org.weft.evil"), GREEN);
    evil.state.truncate_pools = true;
    let window = evil.zweft_window("org.weft.evil", Role::Application, 100);
    let misbehaved = Instant::now();
    // The compositor reads the truncated buffer when it draws the window
    // (smithay turns the SIGBUS into an error for that buffer): it draws on
    // and takes screenshots, and never shows what is past the memory's end.
    for _ in 0..5 {
        let pixel =
            compositor.screenshot().expect("a screenshot after the truncation").pixel(50, 50);
        assert_ne!(pixel, GREEN, "pixels read past the end of the truncated memory");
    }
    let _ = evil.roundtrip();
    drop(window);
    drop(evil);
    let served = still_served(&compositor, &mut app, misbehaved);
    println!("hostile clients: truncated pool: served again {served:?} later");
}
