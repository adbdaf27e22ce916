//! The store's data and the host side of the `weft:app` interfaces.

use std::io::Write;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};
use weft_protocol::session::{
    FromApp, IPC_BURST, IPC_PER_SECOND, MAX_CLIPBOARD_BYTES, MAX_IPC_MESSAGE_BYTES, NOTIFY_BURST,
    NOTIFY_PER_SECOND, RateLimit, ToApp,
};

use crate::fetch::FetchGuard;
use crate::limits::{CpuWatch, Limiter};
use crate::session::{ChannelError, Session};

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "weft:app/app",
});

use weft::app::{clipboard, ipc, notifications, notify};

/// Everything one app's store holds.
pub struct State {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) http: WasiHttpCtx,
    pub(crate) fetch_guard: FetchGuard,
    pub(crate) limiter: Limiter,
    pub(crate) cpu: CpuWatch,
    session: Option<Session>,
    ready: bool,
    ipc_rate: RateLimit,
    notify_rate: RateLimit,
}

impl State {
    /// A store state; `session` is `None` when the runtime runs without a
    /// supervisor (the app's IPC then reports a closed channel).
    pub(crate) fn new(
        wasi: WasiCtx,
        fetch_guard: FetchGuard,
        limiter: Limiter,
        cpu: CpuWatch,
        session: Option<Session>,
    ) -> Self {
        Self {
            wasi,
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            fetch_guard,
            limiter,
            cpu,
            session,
            ready: false,
            ipc_rate: RateLimit::new(IPC_BURST, IPC_PER_SECOND),
            notify_rate: RateLimit::new(NOTIFY_BURST, NOTIFY_PER_SECOND),
        }
    }

    fn session(&self) -> Result<&Session, ChannelError> {
        self.session.as_ref().ok_or(ChannelError::Closed)
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.fetch_guard,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

impl notify::Host for State {
    fn ready(&mut self) {
        if self.ready {
            return;
        }
        self.ready = true;
        // The supervisor's contract: exactly one line `READY` on stdout. Guest
        // output goes to stderr, so nothing else is ever written here.
        let mut stdout = std::io::stdout().lock();
        let _ = stdout
            .write_all(weft_protocol::runtime::READY_LINE)
            .and_then(|()| stdout.write_all(b"\n"))
            .and_then(|()| stdout.flush());
        tracing::info!("app reported ready");
    }
}

fn ipc_error(error: ChannelError) -> ipc::IpcError {
    match error {
        ChannelError::Closed => ipc::IpcError::Closed,
        ChannelError::Timeout(_) | ChannelError::Backlog => {
            ipc::IpcError::Failed(error.to_string())
        }
    }
}

impl ipc::Host for State {
    fn send(&mut self, message: String) -> Result<(), ipc::IpcError> {
        if message.len() > MAX_IPC_MESSAGE_BYTES {
            return Err(ipc::IpcError::TooLarge(MAX_IPC_MESSAGE_BYTES as u32));
        }
        if !self.ipc_rate.allow() {
            return Err(ipc::IpcError::Failed(format!(
                "rate limit: at most {IPC_PER_SECOND} messages per second (bursts of {IPC_BURST})"
            )));
        }
        self.session()
            .and_then(|session| session.send(&FromApp::Ipc { message }))
            .map_err(ipc_error)
    }

    fn recv(&mut self, timeout_ms: Option<u32>) -> Result<Option<String>, ipc::IpcError> {
        let timeout = timeout_ms.map(|ms| Duration::from_millis(u64::from(ms)));
        self.session().and_then(|session| session.recv_ipc(timeout)).map_err(ipc_error)
    }
}

impl notifications::Host for State {
    fn notify(&mut self, title: String, body: String) -> Result<(), notifications::NotifyError> {
        if !self.notify_rate.allow() {
            return Err(notifications::NotifyError::RateLimited);
        }
        self.session()
            .and_then(|session| session.send(&FromApp::Notification { title, body }))
            .map_err(|error| notifications::NotifyError::Failed(error.to_string()))
    }
}

impl clipboard::Host for State {
    fn read(&mut self) -> Result<Option<String>, clipboard::ClipboardError> {
        let failed = |error: ChannelError| clipboard::ClipboardError::Failed(error.to_string());
        match self.session().and_then(|session| session.request(|id| FromApp::ClipboardRead { id }))
        {
            Ok(ToApp::ClipboardText { text, .. }) => Ok(text),
            Ok(ToApp::Done { error: Some(_), .. }) => Err(clipboard::ClipboardError::Denied),
            Ok(other) => {
                Err(clipboard::ClipboardError::Failed(format!("unexpected answer {other:?}")))
            }
            Err(error) => Err(failed(error)),
        }
    }

    fn write(&mut self, text: String) -> Result<(), clipboard::ClipboardError> {
        if text.len() > MAX_CLIPBOARD_BYTES {
            return Err(clipboard::ClipboardError::TooLarge(MAX_CLIPBOARD_BYTES as u32));
        }
        match self
            .session()
            .and_then(|session| session.request(|id| FromApp::ClipboardWrite { id, text }))
        {
            Ok(ToApp::Done { error: None, .. }) => Ok(()),
            Ok(ToApp::Done { error: Some(_), .. }) => Err(clipboard::ClipboardError::Denied),
            Ok(other) => {
                Err(clipboard::ClipboardError::Failed(format!("unexpected answer {other:?}")))
            }
            Err(error) => Err(clipboard::ClipboardError::Failed(error.to_string())),
        }
    }
}
