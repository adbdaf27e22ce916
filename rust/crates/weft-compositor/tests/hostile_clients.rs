//! Clients written as an attacker would: raw Wayland messages on the socket,
//! not a library that keeps to the protocol. The compositor disconnects the
//! offender, stays up, and keeps serving everyone else.

mod common;

use std::io::Write;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use common::wire::*;
use common::*;
use weft_compositor::limits::{MAX_OBJECTS_PER_CLIENT, MAX_SURFACES_PER_CLIENT};
use weft_compositor::server::Handle;
use weft_compositor::state::Authorization;
use weft_protocol::zweft::client::zweft_shell_manager_v1::Role;

const RED: [u8; 4] = [200, 30, 30, 255];

/// Runs one case at a time: the cases measure the whole test process (its
/// descriptors and memory, where the compositor runs), which another case's
/// compositor would disturb.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
    while sent < 400 && send_with_descriptors(&evil, &add, &[null.as_fd(); DESCRIPTORS_PER_MESSAGE])
    {
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

/// A wl_display.sync as object `id`: Ok once answered, or the wl_display
/// error (object, code, message) that ended the connection first.
fn sync(wire: &mut Wire, id: u32) -> Result<(), (u32, u32, String)> {
    assert!(wire.send(&Wire::message(1, 0, &id.to_ne_bytes())));
    loop {
        match wire.next() {
            Ok(event) if event.object == id => return Ok(()),
            Ok(event) if event.object == 1 && event.opcode == 0 => {
                let word =
                    |at: usize| u32::from_ne_bytes(event.body[at..at + 4].try_into().unwrap());
                return Err((word(0), word(4), read_string(&event.body[8..]).0));
            }
            Ok(_) => {}
            Err(end) => panic!("the connection ended without an error: {end:?}"),
        }
    }
}

/// Rectangle arguments x, y, width, height.
fn rectangle(x: i32, y: i32, width: i32, height: i32) -> Vec<u8> {
    [x, y, width, height].iter().flat_map(|value| value.to_ne_bytes()).collect()
}

#[test]
fn requests_smithay_would_panic_on_end_at_worst_their_client() {
    let _alone = alone();
    let compositor = headless(640, 480);
    let mut app = red_app(&compositor);
    let connect = || Wire::new(compositor.connect(Authorization::app("org.weft.evil")).unwrap());

    // wl_shm_pool.resize to 0: smithay 0.7 posts its error, then unwraps a
    // zero size (a panic in every build, which libwayland turns into an abort).
    let mut evil = connect();
    bind_globals(&mut evil, &["wl_shm"]);
    let memory = rustix::fs::memfd_create("weft-hostile", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    rustix::fs::ftruncate(&memory, 4096).unwrap();
    let create_pool = Wire::message(4, 0, &[5u32.to_ne_bytes(), 4096u32.to_ne_bytes()].concat());
    assert!(send_with_descriptors(&evil, &create_pool, &[memory.as_fd()]));
    assert!(evil.send(&Wire::message(5, 2, &0u32.to_ne_bytes())));
    let (object, code, message) = sync(&mut evil, 6).expect_err("a pool resized to nothing");
    assert_eq!((object, code), (5, 2), "wl_shm.error.invalid_fd on the pool: {message}");
    assert!(message.contains("0 bytes"), "{message}");

    // Rectangles of negative size (smithay asserts on them in debug builds)
    // cover nothing: the client goes on.
    let mut evil = connect();
    bind_compositor(&mut evil);
    assert!(evil.send(&Wire::message(4, 1, &5u32.to_ne_bytes()))); // create_region
    assert!(evil.send(&Wire::message(5, 1, &rectangle(0, 0, -1, -5)))); // add
    assert!(evil.send(&Wire::message(5, 2, &rectangle(0, 0, 10, i32::MIN)))); // subtract
    assert!(evil.send(&Wire::message(4, 0, &6u32.to_ne_bytes()))); // create_surface
    assert!(evil.send(&Wire::message(6, 2, &rectangle(0, 0, -1, -1)))); // damage
    assert_eq!(sync(&mut evil, 7), Ok(()), "negative rectangles ended the client");

    // xdg_positioner.set_parent_size(-1, -1): refused with invalid_input.
    let mut evil = connect();
    bind_globals(&mut evil, &["xdg_wm_base"]);
    assert!(evil.send(&Wire::message(4, 1, &5u32.to_ne_bytes()))); // create_positioner
    let negative: Vec<u8> = [-1i32, -1].iter().flat_map(|value| value.to_ne_bytes()).collect();
    assert!(evil.send(&Wire::message(5, 8, &negative))); // set_parent_size
    let (object, code, message) = sync(&mut evil, 6).expect_err("a negative parent size");
    assert_eq!((object, code), (5, 0), "xdg_positioner.error.invalid_input: {message}");

    let served = still_served(&compositor, &mut app, Instant::now());
    println!("hostile clients: requests smithay would panic on: refused; served {served:?} later");
}
