//! Clients that send random requests: every global bound, then requests of
//! the objects they made, each with arguments of the request's types but
//! hostile values (zeros, -1, the extremes of 32 bits, huge sizes, objects
//! that do not exist, strings and arrays of odd lengths, memory of random
//! size or /dev/null where a descriptor goes), and now and then a message
//! that is not one at all. Whatever a client sends, the compositor ends that
//! client at worst: it never stops, its descriptors and memory stay bounded,
//! and a well-behaved app is served throughout.

mod common;

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use common::wire::*;
use common::*;
use smithay::reexports::wayland_server::Resource;
use wayland_backend::protocol::{ArgumentType, Interface};
use weft_compositor::state::Authorization;
use weft_protocol::zweft::client::zweft_shell_manager_v1::Role;

const RED: [u8; 4] = [200, 30, 30, 255];
/// Random clients, one after another.
const CLIENTS: u64 = 2_000;
/// Random requests each client sends after binding every global.
const REQUESTS: usize = 60;

/// The interfaces of the compositor's globals, by name.
fn global_interface(name: &str) -> Option<&'static Interface> {
    use smithay::reexports::wayland_protocols::{wp, xdg};
    use smithay::reexports::wayland_server::protocol as core;
    let interfaces = [
        core::wl_compositor::WlCompositor::interface(),
        core::wl_subcompositor::WlSubcompositor::interface(),
        core::wl_shm::WlShm::interface(),
        core::wl_seat::WlSeat::interface(),
        core::wl_output::WlOutput::interface(),
        core::wl_data_device_manager::WlDataDeviceManager::interface(),
        xdg::shell::server::xdg_wm_base::XdgWmBase::interface(),
        xdg::xdg_output::zv1::server::zxdg_output_manager_v1::ZxdgOutputManagerV1::interface(),
        xdg::decoration::zv1::server::zxdg_decoration_manager_v1::ZxdgDecorationManagerV1::interface(),
        wp::viewporter::server::wp_viewporter::WpViewporter::interface(),
        wp::presentation_time::server::wp_presentation::WpPresentation::interface(),
        wp::security_context::v1::server::wp_security_context_manager_v1::WpSecurityContextManagerV1::interface(),
        weft_protocol::zweft::server::zweft_shell_manager_v1::ZweftShellManagerV1::interface(),
    ];
    interfaces.into_iter().find(|interface| interface.name == name)
}

/// Binds every global the compositor offers, in order, as ids 4, 5, ...;
/// returns the objects made (with their interfaces, where known) and the
/// next free id.
fn bind_every_global(wire: &mut Wire) -> (Vec<(u32, &'static Interface)>, u32) {
    let globals = globals(wire);
    assert!(globals.len() >= 5, "only {} globals", globals.len());
    let mut objects = Vec::new();
    let mut id: u32 = 4;
    for global in globals {
        assert!(bind(wire, &global, id));
        if let Some(interface) = global_interface(&global.interface) {
            objects.push((id, interface));
        }
        id += 1;
    }
    (objects, id)
}

/// A random request of a random object in `objects`, with hostile argument
/// values of the request's types, and the descriptors it carries; a new
/// object it makes is added to `objects`.
fn hostile_request(
    random: &mut fastrand::Rng,
    objects: &mut Vec<(u32, &'static Interface)>,
    next_id: &mut u32,
) -> Option<(Vec<u8>, Vec<OwnedFd>)> {
    let (object, interface) = objects[random.usize(..objects.len())];
    if interface.requests.is_empty() {
        return None;
    }
    let opcode = random.usize(..interface.requests.len());
    let request = &interface.requests[opcode];
    let mut body = Vec::new();
    let mut descriptors = Vec::new();
    let mut object_interfaces = request.arg_interfaces.iter();
    for argument in request.signature {
        match argument {
            ArgumentType::Int | ArgumentType::Uint | ArgumentType::Fixed => {
                // Half plausible, half hostile: deep enough to reach the
                // handlers' own checks.
                let word = if random.bool() {
                    random.u32(0..2048)
                } else {
                    hostile_word(random, *next_id)
                };
                body.extend(word.to_ne_bytes());
            }
            ArgumentType::Str(_) => body.extend(hostile_string(random)),
            ArgumentType::Array => {
                let bytes: Vec<u8> = (0..random.usize(0..64)).map(|_| random.u8(..)).collect();
                body.extend((bytes.len() as u32).to_ne_bytes());
                body.extend(&bytes);
                body.resize(body.len().next_multiple_of(4), 0);
            }
            ArgumentType::Object(_) => {
                // Mostly an object of the interface the request asks for.
                let wanted = object_interfaces.next().map(|interface| interface.name);
                let fitting: Vec<u32> = objects
                    .iter()
                    .filter(|(_, interface)| Some(interface.name) == wanted)
                    .map(|&(id, _)| id)
                    .collect();
                let id = match random.u8(0..8) {
                    0 => 0,
                    1 => hostile_word(random, *next_id),
                    2 => objects[random.usize(..objects.len())].0,
                    _ if !fitting.is_empty() => fitting[random.usize(..fitting.len())],
                    _ => objects[random.usize(..objects.len())].0,
                };
                body.extend(id.to_ne_bytes());
            }
            ArgumentType::NewId => {
                body.extend(next_id.to_ne_bytes());
                if let Some(child) = request.child_interface {
                    objects.push((*next_id, child));
                }
                *next_id += 1;
            }
            ArgumentType::Fd => descriptors.push(hostile_descriptor(random)),
        }
    }
    if request.is_destructor {
        objects.retain(|&(id, _)| id != object);
    }
    Some((Wire::message(object, opcode as u16, &body), descriptors))
}

/// A string argument: mostly a short one, sometimes empty, without its NUL,
/// or with a length far past the message.
fn hostile_string(random: &mut fastrand::Rng) -> Vec<u8> {
    match random.u8(0..8) {
        0 => 0u32.to_ne_bytes().to_vec(),
        1 => [3u32.to_ne_bytes(), *b"abcd"].concat(),
        2 => [u32::MAX.to_ne_bytes(), *b"abcd"].concat(),
        _ => wire_string(&"x".repeat(random.usize(0..40))),
    }
}

/// One argument word an attacker would try.
fn hostile_word(random: &mut fastrand::Rng, next_id: u32) -> u32 {
    match random.u8(0..10) {
        0 => 0,
        1 => u32::MAX,                   // -1
        2 => i32::MIN as u32,            // the most negative
        3 => i32::MAX as u32,            // the largest size
        4 => 1 << random.u32(10..31),    // a huge size
        5 | 6 => next_id,                // a new object
        7 => random.u32(1..next_id + 2), // an object that may exist
        _ => random.u32(..),
    }
}

/// Memory of a random size (sometimes none), or /dev/null.
fn hostile_descriptor(random: &mut fastrand::Rng) -> OwnedFd {
    if random.bool() {
        return std::fs::File::open("/dev/null").unwrap().into();
    }
    let memory = rustix::fs::memfd_create("weft-hostile", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    rustix::fs::ftruncate(&memory, random.u64(0..1 << 20)).unwrap();
    memory
}

#[test]
fn random_requests_end_at_worst_their_client_and_others_are_still_served() {
    let compositor = headless(640, 480);
    let mut app = TestClient::connect(&compositor, Authorization::app("org.weft.hello"), RED);
    let _window = app.zweft_window("org.weft.hello", Role::Application, 100);
    assert_eq!(wait_for_pixel(&compositor, 50, 50, RED), RED);
    let (fds_before, rss_before) = (open_descriptors(), resident_kib());

    let mut slowest = Duration::ZERO;
    let (mut disconnected, mut requests) = (0, 0);
    for seed in 0..CLIENTS {
        // Seeded: a failing client can be replayed from its number.
        let mut random = fastrand::Rng::with_seed(seed);
        let authorization = if seed % 4 == 0 {
            Authorization::system_ui()
        } else {
            Authorization::app("org.weft.evil")
        };
        let mut evil = Wire::new(compositor.connect(authorization).unwrap());
        let (mut objects, mut next_id) = bind_every_global(&mut evil);
        for _ in 0..REQUESTS {
            requests += 1;
            let (message, descriptors) = if random.u8(0..20) == 0 {
                // Not a request at all: a random object, opcode and size.
                let body: Vec<u8> = (0..random.usize(0..8))
                    .flat_map(|_| hostile_word(&mut random, next_id).to_ne_bytes())
                    .collect();
                let object = hostile_word(&mut random, next_id);
                (Wire::message(object, random.u16(..), &body), Vec::new())
            } else {
                match hostile_request(&mut random, &mut objects, &mut next_id) {
                    Some(request) => request,
                    None => continue,
                }
            };
            let mut descriptors = descriptors;
            if random.u8(0..4) == 0 {
                // One more than the request takes.
                descriptors.push(hostile_descriptor(&mut random));
            }
            let sent = if descriptors.is_empty() {
                evil.send(&message)
            } else {
                let borrowed: Vec<_> = descriptors.iter().map(|fd| fd.as_fd()).collect();
                send_with_descriptors(&evil, &message, &borrowed)
            };
            if !sent || objects.is_empty() {
                break;
            }
        }
        // A round trip: the answer, or the end of the connection.
        let sync = Wire::message(1, 0, &next_id.to_ne_bytes());
        let answered = evil.send(&sync)
            && std::iter::from_fn(|| evil.next().ok()).any(|event| event.object == next_id);
        disconnected += u32::from(!answered);
        drop(evil);

        let asked = Instant::now();
        assert!(app.roundtrip().is_ok(), "client {seed} cost the app its connection");
        slowest = slowest.max(asked.elapsed());
    }
    assert_eq!(wait_for_pixel(&compositor, 50, 50, RED), RED);
    let (fds_after, rss_after) = (open_descriptors(), resident_kib());
    println!(
        "random clients: {CLIENTS} clients sent {requests} random requests, {disconnected} \
         were disconnected; the app's slowest round trip after one {slowest:?}; descriptors \
         {fds_before} -> {fds_after}, RSS {rss_before} -> {rss_after} KiB"
    );
    assert!(fds_after <= fds_before + 2, "descriptors {fds_before} -> {fds_after}");
    assert!(rss_after < rss_before + 64 * 1024, "RSS grew from {rss_before} to {rss_after} KiB");
}
