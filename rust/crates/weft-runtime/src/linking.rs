//! Building the linker from the app's grants: only what its capabilities allow
//! is linked, so an ungranted import has nothing to bind to.

use anyhow::Result;
use wasmtime::component::{HasData, HasSelf, Linker, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sockets, sync};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};
use weft_manifest::{CapabilityKind, Manifest};

use crate::host::State;
use crate::host::weft::app::{clipboard, ipc, notifications, notify};

/// `wasi:io` resources live in the store's resource table.
struct IoTable;

impl HasData for IoTable {
    type Data<'a> = &'a mut ResourceTable;
}

/// The store's resource table, where `wasi:io` keeps its resources.
fn table(state: &mut State) -> &mut ResourceTable {
    state.ctx().table
}

/// A linker with the interfaces every app gets and those `manifest`'s
/// capabilities grant.
pub fn linker(engine: &wasmtime::Engine, manifest: &Manifest) -> Result<Linker<State>> {
    let mut linker = common_linker(engine)?;
    link_grants(&mut linker, manifest)?;
    Ok(linker)
}

/// How one interface every app may import is linked.
type Link = fn(&mut Linker<State>) -> wasmtime::Result<()>;

/// The interfaces every app may import, by name (without version), and how
/// each is linked: core WASI, inert sockets, `weft:app/notify`, `weft:app/ipc`.
const COMMON_INTERFACES: &[(&str, Link)] = &[
    ("wasi:io/error", |l| sync::io::error::add_to_linker::<State, IoTable>(l, table)),
    ("wasi:io/poll", |l| sync::io::poll::add_to_linker::<State, IoTable>(l, table)),
    ("wasi:io/streams", |l| sync::io::streams::add_to_linker::<State, IoTable>(l, table)),
    ("wasi:clocks/wall-clock", |l| {
        clocks::wall_clock::add_to_linker::<State, WasiClocks>(l, State::clocks)
    }),
    ("wasi:clocks/monotonic-clock", |l| {
        clocks::monotonic_clock::add_to_linker::<State, WasiClocks>(l, State::clocks)
    }),
    ("wasi:random/random", |l| {
        random::random::add_to_linker::<State, WasiRandom>(l, State::random)
    }),
    ("wasi:random/insecure", |l| {
        random::insecure::add_to_linker::<State, WasiRandom>(l, State::random)
    }),
    ("wasi:random/insecure-seed", |l| {
        random::insecure_seed::add_to_linker::<State, WasiRandom>(l, State::random)
    }),
    ("wasi:cli/exit", |l| cli::exit::add_to_linker::<State, WasiCli>(l, State::cli)),
    ("wasi:cli/environment", |l| cli::environment::add_to_linker::<State, WasiCli>(l, State::cli)),
    ("wasi:cli/stdin", |l| cli::stdin::add_to_linker::<State, WasiCli>(l, State::cli)),
    ("wasi:cli/stdout", |l| cli::stdout::add_to_linker::<State, WasiCli>(l, State::cli)),
    ("wasi:cli/stderr", |l| cli::stderr::add_to_linker::<State, WasiCli>(l, State::cli)),
    ("wasi:cli/terminal-input", |l| {
        cli::terminal_input::add_to_linker::<State, WasiCli>(l, State::cli)
    }),
    ("wasi:cli/terminal-output", |l| {
        cli::terminal_output::add_to_linker::<State, WasiCli>(l, State::cli)
    }),
    ("wasi:cli/terminal-stdin", |l| {
        cli::terminal_stdin::add_to_linker::<State, WasiCli>(l, State::cli)
    }),
    ("wasi:cli/terminal-stdout", |l| {
        cli::terminal_stdout::add_to_linker::<State, WasiCli>(l, State::cli)
    }),
    ("wasi:cli/terminal-stderr", |l| {
        cli::terminal_stderr::add_to_linker::<State, WasiCli>(l, State::cli)
    }),
    ("wasi:filesystem/preopens", |l| {
        filesystem::preopens::add_to_linker::<State, WasiFilesystem>(l, State::filesystem)
    }),
    ("wasi:filesystem/types", |l| {
        sync::filesystem::types::add_to_linker::<State, WasiFilesystem>(l, State::filesystem)
    }),
    ("wasi:sockets/tcp-create-socket", |l| {
        sockets::tcp_create_socket::add_to_linker::<State, WasiSockets>(l, State::sockets)
    }),
    ("wasi:sockets/instance-network", |l| {
        sockets::instance_network::add_to_linker::<State, WasiSockets>(l, State::sockets)
    }),
    ("wasi:sockets/network", |l| {
        let options = sockets::network::LinkOptions::default();
        sockets::network::add_to_linker::<State, WasiSockets>(l, &options, State::sockets)
    }),
    ("wasi:sockets/ip-name-lookup", |l| {
        sockets::ip_name_lookup::add_to_linker::<State, WasiSockets>(l, State::sockets)
    }),
    ("wasi:sockets/tcp", |l| {
        sync::sockets::tcp::add_to_linker::<State, WasiSockets>(l, State::sockets)
    }),
    ("wasi:sockets/udp", |l| {
        sync::sockets::udp::add_to_linker::<State, WasiSockets>(l, State::sockets)
    }),
    ("wasi:sockets/udp-create-socket", |l| {
        sync::sockets::udp_create_socket::add_to_linker::<State, WasiSockets>(l, State::sockets)
    }),
    ("weft:app/notify", |l| notify::add_to_linker::<State, HasSelf<State>>(l, |state| state)),
    ("weft:app/ipc", |l| ipc::add_to_linker::<State, HasSelf<State>>(l, |state| state)),
];

/// A linker of every interface every app may import (what a spare links
/// before it knows its app); the granted ones are added by [`link_grants`].
pub fn common_linker(engine: &wasmtime::Engine) -> Result<Linker<State>> {
    linker_of(engine, |_| true)
}

/// A linker of the interfaces every app may import that these `imports`
/// (a component's, versioned names) name, and no other: what a cold start,
/// which knows its component before it links, needs.
pub fn imported_linker(engine: &wasmtime::Engine, imports: &[String]) -> Result<Linker<State>> {
    let imported: std::collections::HashSet<&str> = imports
        .iter()
        .map(|name| name.split_once('@').map_or(name.as_str(), |(name, _)| name))
        .collect();
    linker_of(engine, |interface| imported.contains(interface))
}

fn linker_of(engine: &wasmtime::Engine, wanted: impl Fn(&str) -> bool) -> Result<Linker<State>> {
    let mut linker = Linker::new(engine);
    for (interface, link) in COMMON_INTERFACES {
        if wanted(interface) {
            link(&mut linker)?;
        }
    }
    Ok(linker)
}

/// Adds to `l` the interfaces `manifest`'s capabilities grant.
pub fn link_grants(l: &mut Linker<State>, manifest: &Manifest) -> Result<()> {
    if manifest.grants(CapabilityKind::Notifications) {
        notifications::add_to_linker::<State, HasSelf<State>>(l, |state| state)?;
    }
    if manifest.grants(CapabilityKind::Clipboard) {
        clipboard::add_to_linker::<State, HasSelf<State>>(l, |state| state)?;
    }
    if manifest.grants(CapabilityKind::NetFetch) {
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(l)?;
    }
    Ok(())
}
