//! One web view on one zweft-shell window: Servo renders the page with
//! `SoftwareRenderingContext` (llvmpipe through surfaceless EGL, no GPU), each
//! new frame is read back and shown through wl_shm by
//! [`weft_shell_core::window::ShellWindow`], and the window's input goes to the
//! web view. What the page's bridge delivers is pushed into it
//! ([`crate::push`]); a panel takes the height of its page. The loop ends when
//! the compositor closes the window.

use std::cell::{Cell, RefCell};
use std::os::fd::{AsFd as _, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use dpi::PhysicalSize;
use gleam::gl;
use servo::protocol_handler::ProtocolRegistry;
use servo::{
    DevicePoint, EventLoopWaker, InputEvent, JSValue, LoadStatus, MouseButton, MouseButtonAction,
    MouseButtonEvent, MouseMoveEvent, NavigationRequest, Preferences, RenderingContext,
    ServoBuilder, SoftwareRenderingContext, TouchEvent, TouchEventType, TouchId, TouchPointerType,
    UserContentManager, UserScript, WebResourceLoad, WebResourceResponse, WebView, WebViewBuilder,
    WebViewDelegate, WebViewPoint,
};
use url::Url;
use weft_shell_core::bridge::Bridge;
use weft_shell_core::frames::{RowOrder, changed_rows};
use weft_shell_core::policy::NetworkPolicy;
use weft_shell_core::window::{Event, Input, Role, ShellWindow, TouchPhase};

use crate::keys::Keyboard;
use crate::push::Pusher;
use crate::scheme::ShellScheme;

/// The longest the loop sleeps when nothing wakes it.
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// The page's height, measured in the page after a new frame at most this often.
const MEASURE_EVERY: Duration = Duration::from_millis(100);
/// The height of a panel's page: its body's, which holds the whole panel.
const PAGE_HEIGHT: &str = "Math.ceil(document.body.getBoundingClientRect().height)";

/// What one shell shows and how.
pub struct Page {
    /// The page to open.
    pub entry: Url,
    /// The scheme `handler` serves (`weft-app` or `weft`).
    pub scheme: &'static str,
    /// The page's files and bridge endpoint.
    pub handler: ShellScheme,
    /// What stands behind the bridge; its deliveries are pushed into the page.
    pub bridge: Arc<dyn Bridge>,
    /// Whether the window takes the page's height (the panel does).
    pub fit_height: bool,
    /// The script injected before the page's own (the bridge's page side).
    pub user_script: String,
    /// Where the page may load from and connect to.
    pub network: NetworkPolicy,
    /// Run SpiderMonkey without its JIT tiers (interpreter only).
    pub no_jit: bool,
}

/// Opens the shell's window on `$WAYLAND_DISPLAY` (before the sandbox, which
/// allows no new connections to the compositor's socket directory).
pub fn open_window(
    app_id: &str,
    title: &str,
    role: Role,
    size: (i32, i32),
) -> anyhow::Result<ShellWindow> {
    ShellWindow::connect(app_id, title, role, size).context("cannot open the window")
}

/// Runs `page` in `window` until the window is closed; `on_gesture` gets the
/// navigation gestures the compositor sends (the system UI forwards them).
pub fn run(page: Page, mut window: ShellWindow, on_gesture: &dyn Fn(&str)) -> anyhow::Result<()> {
    let started = Instant::now();
    let (width, height) = window.size();
    let context = Rc::new(
        SoftwareRenderingContext::new(PhysicalSize::new(width as u32, height as u32))
            .map_err(|error| anyhow::anyhow!("no software rendering context: {error:?}"))?,
    );
    context.make_current().map_err(|error| anyhow::anyhow!("cannot use the context: {error:?}"))?;

    let mut registry = ProtocolRegistry::default();
    registry
        .register(page.scheme, page.handler)
        .map_err(|error| anyhow::anyhow!("cannot register {}://: {error:?}", page.scheme))?;
    let waker = Waker::new().context("cannot make the engine's wake-up descriptor")?;
    let servo = ServoBuilder::default()
        .preferences(preferences(page.no_jit))
        .protocol_registry(registry)
        .event_loop_waker(Box::new(waker.clone()))
        .build();
    let user_content = Rc::new(UserContentManager::new(&servo));
    user_content.add_script(Rc::new(UserScript::new(page.user_script, None)));
    let pusher = Pusher::start(page.bridge, Box::new(waker.clone()))
        .context("cannot start the bridge's delivery thread")?;
    let delegate = Rc::new(Delegate {
        network: page.network,
        frame_ready: Cell::new(false),
        loaded: Cell::new(false),
        document_ready: Cell::new(false),
        title: RefCell::new(None),
        crashed: RefCell::new(None),
    });
    let webview = WebViewBuilder::new(&servo, context.clone())
        .url(page.entry.clone())
        .delegate(delegate.clone())
        .user_content_manager(user_content)
        .build();
    webview.set_focused(true);
    tracing::info!(url = %page.entry, "engine up for a {width}x{height} window after {:?}", started.elapsed());

    let mut keyboard = Keyboard::default();
    let mut pointer = DevicePoint::new(0.0, 0.0);
    let mut size = (width, height);
    let mut first_frame = true;
    // The frame read back, and the one shown last (to find what changed).
    let (mut pixels, mut shown) = (Vec::new(), Vec::new());
    let height = PageHeight::default();
    loop {
        // Idle, the loop sleeps until the compositor or the engine wakes it.
        let wait = if waker.take() { Duration::ZERO } else { IDLE_WAIT };
        let events = window
            .dispatch_or_wake(wait, Some(waker.event.as_fd()))
            .context("the compositor connection failed")?;
        for event in events {
            match event {
                Event::Configured { width, height } if (width, height) != size => {
                    size = (width, height);
                    let physical = PhysicalSize::new(width as u32, height as u32);
                    context.resize(physical);
                    webview.resize(physical);
                }
                Event::Configured { .. } => {}
                Event::Closed(reason) => {
                    tracing::info!("the compositor closed the window: {reason}");
                    return Ok(());
                }
                Event::Focus(focused) => webview.set_focused(focused),
                Event::Gesture(gesture) => on_gesture(&gesture),
                Event::Input(input) => {
                    if let Some(event) = web_input(input, &mut pointer, &mut keyboard) {
                        webview.notify_input_event(event);
                    }
                }
            }
        }
        servo.spin_event_loop();
        pusher.push(&webview, delegate.document_ready.get());
        if let Some(wanted) = height.wanted(size.1) {
            tracing::info!("the panel's page is {wanted} pixels high: asking for that");
            window.request_height(wanted);
        }
        if let Some(reason) = delegate.crashed.borrow_mut().take() {
            bail!("the page's engine crashed: {reason}");
        }
        if let Some(title) = delegate.title.borrow_mut().take() {
            window.set_title(&title);
        }
        // A new frame is painted when the window wants one (the compositor
        // drew the last, or one more may replace it); until then newer frames
        // replace each other unpainted (the frame callback wakes the loop).
        // The context's buffers are never swapped: its framebuffer keeps the
        // last frame, and WebRender composites only what changed into it.
        if window.wants_frame() && delegate.frame_ready.replace(false) {
            webview.paint();
            read_back(&*context, size, &mut pixels)?;
            // Only the rows that changed since the frame shown last are damaged
            // (the compositor draws only those again); a frame like it is not
            // sent at all.
            if let Some(changed) = changed_rows(&shown, &pixels, size.0, RowOrder::BottomUp) {
                window
                    .present_rows(&pixels, size.0, size.1, RowOrder::BottomUp, changed)
                    .context("cannot show the frame")?;
                std::mem::swap(&mut shown, &mut pixels);
            }
            if first_frame && delegate.loaded.get() {
                first_frame = false;
                tracing::info!("first frame of the loaded page after {:?}", started.elapsed());
            }
            if page.fit_height && delegate.document_ready.get() {
                height.measure(&webview);
            }
        }
    }
}

/// Reads the frame just painted into `pixels` (reused from frame to frame),
/// its rows bottom up as OpenGL has them: the window turns them while it
/// copies them into its buffer, so a frame is copied twice in all.
fn read_back(
    context: &dyn RenderingContext,
    (width, height): (i32, i32),
    pixels: &mut Vec<u8>,
) -> anyhow::Result<()> {
    let gl = context.gleam_gl_api();
    context.prepare_for_rendering();
    pixels.resize(width.max(0) as usize * height.max(0) as usize * 4, 0);
    gl.read_pixels_into_buffer(0, 0, width, height, gl::RGBA, gl::UNSIGNED_BYTE, pixels);
    match gl.get_error() {
        gl::NO_ERROR => Ok(()),
        error => bail!("cannot read the frame back: GL error {error:#x}"),
    }
}

/// A panel's page height, measured in the page after new frames.
#[derive(Default)]
struct PageHeight {
    measured: Rc<Cell<Option<i32>>>,
    measuring: Rc<Cell<bool>>,
    last: Cell<Option<Instant>>,
    asked: Cell<Option<i32>>,
}

impl PageHeight {
    /// Measures the page again unless a measurement is running or was recent.
    fn measure(&self, webview: &WebView) {
        if self.measuring.get() || self.last.get().is_some_and(|at| at.elapsed() < MEASURE_EVERY) {
            return;
        }
        self.measuring.set(true);
        self.last.set(Some(Instant::now()));
        let (measured, measuring) = (Rc::clone(&self.measured), Rc::clone(&self.measuring));
        webview.evaluate_javascript(PAGE_HEIGHT, move |result| {
            measuring.set(false);
            match result {
                Ok(JSValue::Number(height)) if height >= 1.0 => measured.set(Some(height as i32)),
                other => tracing::warn!("cannot measure the page's height: {other:?}"),
            }
        });
    }

    /// A height to ask the compositor for: the page's, when it differs from
    /// the window's `current` one and was not asked for already (the
    /// compositor may grant less).
    fn wanted(&self, current: i32) -> Option<i32> {
        let height = self.measured.take()?;
        if height == current || self.asked.get() == Some(height) {
            return None;
        }
        self.asked.set(Some(height));
        Some(height)
    }
}

/// The engine's preferences: no devtools server, and without the JIT when
/// asked. (Thread pools of one worker each saved no memory: 124.1 → 123.7 MiB
/// PSS for a tenth app shell; Servo's defaults stay.)
fn preferences(no_jit: bool) -> Preferences {
    let mut preferences = Preferences { devtools_server_enabled: false, ..Default::default() };
    if no_jit {
        tracing::info!("JavaScript runs without the JIT (interpreter only)");
        preferences.js_disable_jit = true;
        preferences.js_baseline_jit_enabled = false;
        preferences.js_ion_enabled = false;
        preferences.js_wasm_baseline_enabled = false;
        preferences.js_wasm_ion_enabled = false;
        preferences.js_wasm_enabled = false;
        preferences.js_asmjs_enabled = false;
    }
    preferences
}

/// The window's input as the web view's, or `None` for what it has no use for.
fn web_input(
    input: Input,
    pointer: &mut DevicePoint,
    keyboard: &mut Keyboard,
) -> Option<InputEvent> {
    let at = |x: f64, y: f64| WebViewPoint::Device(DevicePoint::new(x as f32, y as f32));
    match input {
        Input::PointerMotion { x, y } => {
            *pointer = DevicePoint::new(x as f32, y as f32);
            Some(InputEvent::MouseMove(MouseMoveEvent::new(at(x, y))))
        }
        Input::PointerButton { button, pressed } => {
            // evdev BTN_LEFT, BTN_RIGHT, BTN_MIDDLE.
            let button = match button {
                0x110 => MouseButton::Primary,
                0x111 => MouseButton::Secondary,
                0x112 => MouseButton::Auxiliary,
                other => MouseButton::Other(other as u16),
            };
            let action = if pressed { MouseButtonAction::Down } else { MouseButtonAction::Up };
            let point = WebViewPoint::Device(*pointer);
            Some(InputEvent::MouseButton(MouseButtonEvent::new(action, button, point)))
        }
        Input::Key { code, pressed, text } => {
            keyboard.event(code, pressed, text).map(InputEvent::Keyboard)
        }
        Input::Touch { id, x, y, phase } => {
            let kind = match phase {
                TouchPhase::Down => TouchEventType::Down,
                TouchPhase::Motion => TouchEventType::Move,
                TouchPhase::Up => TouchEventType::Up,
            };
            let point =
                if phase == TouchPhase::Up { WebViewPoint::Device(*pointer) } else { at(x, y) };
            if phase != TouchPhase::Up {
                *pointer = DevicePoint::new(x as f32, y as f32);
            }
            Some(InputEvent::Touch(TouchEvent::new(
                kind,
                TouchId(id),
                point,
                TouchPointerType::Touch,
            )))
        }
    }
}

/// Wakes the loop when Servo (or the bridge's delivery thread) has work: an
/// eventfd the loop's wait watches, so the work starts at once.
#[derive(Clone)]
struct Waker {
    event: Arc<OwnedFd>,
}

impl Waker {
    /// A waker that starts woken, so the loop's first pass spins the engine.
    fn new() -> std::io::Result<Self> {
        let flags = rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK;
        Ok(Self { event: Arc::new(rustix::event::eventfd(1, flags)?) })
    }

    /// Whether the loop was woken since the last call; empties the eventfd.
    fn take(&self) -> bool {
        let mut count = [0u8; 8];
        rustix::io::read(&*self.event, &mut count).is_ok_and(|read| read == count.len())
    }
}

impl EventLoopWaker for Waker {
    fn clone_box(&self) -> Box<dyn EventLoopWaker> {
        Box::new(self.clone())
    }

    fn wake(&self) {
        let _ = rustix::io::write(&*self.event, &1u64.to_ne_bytes());
    }
}

/// What the web view tells the shell.
struct Delegate {
    network: NetworkPolicy,
    frame_ready: Cell<bool>,
    loaded: Cell<bool>,
    /// The current document has its head parsed, so the injected bridge.
    document_ready: Cell<bool>,
    title: RefCell<Option<String>>,
    crashed: RefCell<Option<String>>,
}

impl WebViewDelegate for Delegate {
    fn notify_new_frame_ready(&self, _webview: WebView) {
        self.frame_ready.set(true);
    }

    fn notify_load_status_changed(&self, _webview: WebView, status: LoadStatus) {
        if status == LoadStatus::Complete {
            self.loaded.set(true);
        }
        self.document_ready.set(status != LoadStatus::Started);
    }

    fn notify_page_title_changed(&self, _webview: WebView, title: Option<String>) {
        *self.title.borrow_mut() = title;
    }

    fn notify_crashed(&self, _webview: WebView, reason: String, _backtrace: Option<String>) {
        *self.crashed.borrow_mut() = Some(reason);
    }

    fn request_navigation(&self, _webview: WebView, request: NavigationRequest) {
        if self.network.allows(&request.url) {
            request.allow();
        } else {
            tracing::warn!(url = %request.url, "navigation refused: not this shell's page");
            request.deny();
        }
    }

    fn load_web_resource(&self, _webview: WebView, load: WebResourceLoad) {
        let url = load.request().url.clone();
        if !self.network.allows(&url) {
            tracing::warn!(%url, "load refused: {}", self.network.why_not(&url));
            let refused = WebResourceResponse::new(url).status_code(http::StatusCode::FORBIDDEN);
            load.intercept(refused).cancel();
        }
    }

    fn show_console_message(
        &self,
        _webview: WebView,
        level: servo::ConsoleLogLevel,
        message: String,
    ) {
        tracing::info!(target: "page", "{level:?}: {message}");
    }
}
