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

/// A linker with the interfaces every app gets (core WASI, inert sockets,
/// `weft:app/notify`, `weft:app/ipc`): what a runtime can make before it knows
/// its app.
pub fn common_linker(engine: &wasmtime::Engine) -> Result<Linker<State>> {
    let mut linker = Linker::new(engine);
    let l = &mut linker;
    sync::io::error::add_to_linker::<State, IoTable>(l, table)?;
    sync::io::poll::add_to_linker::<State, IoTable>(l, table)?;
    sync::io::streams::add_to_linker::<State, IoTable>(l, table)?;
    clocks::wall_clock::add_to_linker::<State, WasiClocks>(l, State::clocks)?;
    clocks::monotonic_clock::add_to_linker::<State, WasiClocks>(l, State::clocks)?;
    random::random::add_to_linker::<State, WasiRandom>(l, State::random)?;
    random::insecure::add_to_linker::<State, WasiRandom>(l, State::random)?;
    random::insecure_seed::add_to_linker::<State, WasiRandom>(l, State::random)?;
    cli::exit::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::environment::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::stdin::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::stdout::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::stderr::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_input::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_output::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_stdin::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_stdout::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_stderr::add_to_linker::<State, WasiCli>(l, State::cli)?;
    // Without an fs: capability the app has no preopened directory, so these
    // reach nothing; Rust's std imports them in every program.
    filesystem::preopens::add_to_linker::<State, WasiFilesystem>(l, State::filesystem)?;
    sync::filesystem::types::add_to_linker::<State, WasiFilesystem>(l, State::filesystem)?;
    // Inert: the WASI context allows no TCP, UDP, name lookup or address (see
    // `launch::wasi_context`), so every socket call fails with access-denied.
    // wasi-libc imports these in every program that uses files.
    let network_options = sockets::network::LinkOptions::default();
    sockets::tcp_create_socket::add_to_linker::<State, WasiSockets>(l, State::sockets)?;
    sockets::instance_network::add_to_linker::<State, WasiSockets>(l, State::sockets)?;
    sockets::network::add_to_linker::<State, WasiSockets>(l, &network_options, State::sockets)?;
    sockets::ip_name_lookup::add_to_linker::<State, WasiSockets>(l, State::sockets)?;
    sync::sockets::tcp::add_to_linker::<State, WasiSockets>(l, State::sockets)?;
    sync::sockets::udp::add_to_linker::<State, WasiSockets>(l, State::sockets)?;
    sync::sockets::udp_create_socket::add_to_linker::<State, WasiSockets>(l, State::sockets)?;

    notify::add_to_linker::<State, HasSelf<State>>(l, |state| state)?;
    ipc::add_to_linker::<State, HasSelf<State>>(l, |state| state)?;
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
