//! `wl_seat` and `wl_data_device`: keyboard, pointer and touch delivered to
//! the window under them (or the focused one), and the clipboard.

use smithay::backend::input::{ButtonState, KeyState, TouchSlot};
use smithay::desktop::WindowSurfaceType;
use smithay::desktop::utils::under_from_surface_tree;
use smithay::input::keyboard::{FilterResult, Keycode, Keysym};
use smithay::input::pointer::{ButtonEvent, MotionEvent};
use smithay::input::touch::{DownEvent, MotionEvent as TouchMotionEvent, UpEvent};
use smithay::input::{SeatHandler, SeatState};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::{Logical, Point, SERIAL_COUNTER};
use smithay::wayland::selection::SelectionHandler;
use smithay::wayland::selection::data_device::{
    ClientDndGrabHandler, DataDeviceHandler, DataDeviceState, ServerDndGrabHandler,
};
use smithay::{delegate_data_device, delegate_seat};

use crate::shell::WindowId;

use super::{ShellWindow, TouchPhase, Weft, WindowKind};

impl Weft {
    /// The visible window and (sub)surface under `point`, with the surface's
    /// origin.
    fn under(
        &self,
        point: Point<f64, Logical>,
    ) -> Option<(WindowId, WlSurface, Point<i32, Logical>)> {
        // The panel is drawn over the application.
        self.layout.visible().into_iter().rev().find_map(|id| {
            let window = self.windows.get(&id)?;
            let origin = self.surface_origin(id)?;
            let (surface, at) =
                under_from_surface_tree(&window.surface, point, origin, WindowSurfaceType::ALL)?;
            Some((id, surface, at))
        })
    }

    /// Where the pointer is (output coordinates).
    pub fn pointer_location(&self) -> Point<f64, Logical> {
        self.seat.get_pointer().map(|pointer| pointer.current_location()).unwrap_or_default()
    }

    /// Moves the pointer to `point` (output coordinates) and tells the surface
    /// under it.
    pub fn pointer_motion(&mut self, point: Point<f64, Logical>) {
        let Some(pointer) = self.seat.get_pointer() else { return };
        let size = self.layout.output_size();
        let point = Point::from((
            point.x.clamp(0.0, f64::from(size.w - 1)),
            point.y.clamp(0.0, f64::from(size.h - 1)),
        ));
        let focus = self.under(point).map(|(_, surface, at)| (surface, at.to_f64()));
        let event = MotionEvent {
            location: point,
            serial: SERIAL_COUNTER.next_serial(),
            time: self.started.elapsed().as_millis() as u32,
        };
        pointer.motion(self, focus, &event);
        pointer.frame(self);
    }

    /// Presses or releases a button (evdev code) where the pointer is; a press
    /// on an application window or the panel gives it the keyboard.
    pub fn pointer_button(&mut self, button: u32, pressed: bool) {
        let Some(pointer) = self.seat.get_pointer() else { return };
        if pressed && let Some((id, _, _)) = self.under(pointer.current_location()) {
            if self.layout.panel() == Some(id) {
                let panel = self.windows.get(&id).map(|window| window.surface.clone());
                if let Some(keyboard) = self.seat.get_keyboard() {
                    keyboard.set_focus(self, panel, SERIAL_COUNTER.next_serial());
                }
            } else {
                self.focus(id);
            }
        }
        let event = ButtonEvent {
            serial: SERIAL_COUNTER.next_serial(),
            time: self.started.elapsed().as_millis() as u32,
            button,
            state: if pressed { ButtonState::Pressed } else { ButtonState::Released },
        };
        pointer.button(self, &event);
        pointer.frame(self);
    }

    /// A touch point goes down, moves or goes up (output coordinates). A touch
    /// down on an application window focuses it.
    pub fn touch(&mut self, slot: u32, phase: TouchPhase, point: Point<f64, Logical>) {
        let Some(touch) = self.seat.get_touch() else { return };
        let slot = TouchSlot::from(Some(slot));
        let (serial, time) =
            (SERIAL_COUNTER.next_serial(), self.started.elapsed().as_millis() as u32);
        let under = self.under(point);
        let focus = under.as_ref().map(|(_, surface, at)| (surface.clone(), at.to_f64()));
        match phase {
            TouchPhase::Down => {
                if let Some((id, _, _)) = under
                    && self.layout.panel() != Some(id)
                {
                    self.focus(id);
                }
                touch.down(self, focus, &DownEvent { slot, location: point, serial, time });
            }
            TouchPhase::Motion => {
                touch.motion(self, focus, &TouchMotionEvent { slot, location: point, time });
            }
            TouchPhase::Up => touch.up(self, &UpEvent { slot, serial, time }),
        }
        touch.frame(self);
    }

    /// Handles a key: Super+Tab switches applications (and is told to the panel
    /// as the `switch-app` gesture); everything else goes to the focused window.
    pub fn key(&mut self, evdev_code: u32, pressed: bool) {
        let Some(keyboard) = self.seat.get_keyboard() else { return };
        let state = if pressed { KeyState::Pressed } else { KeyState::Released };
        let time = self.started.elapsed().as_millis() as u32;
        let switch = keyboard.input(
            self,
            Keycode::new(evdev_code + 8),
            state,
            SERIAL_COUNTER.next_serial(),
            time,
            |_, modifiers, keysym| {
                if pressed && modifiers.logo && keysym.modified_sym() == Keysym::Tab {
                    FilterResult::Intercept(())
                } else {
                    FilterResult::Forward
                }
            },
        );
        if switch.is_some() {
            self.layout.cycle();
            self.relayout();
            self.navigation_gesture("switch-app");
        }
    }

    /// Tells the panel about a navigation gesture.
    pub fn navigation_gesture(&self, gesture: &str) {
        let panel = self.layout.panel().and_then(|id| self.windows.get(&id));
        if let Some(ShellWindow { kind: WindowKind::Zweft(resource), .. }) = panel {
            resource.navigation_gesture(gesture.to_owned());
        }
    }
}

impl SeatHandler for Weft {
    type KeyboardFocus = WlSurface;
    type PointerFocus = WlSurface;
    type TouchFocus = WlSurface;

    fn seat_state(&mut self) -> &mut SeatState<Self> {
        &mut self.seat_state
    }
}

impl SelectionHandler for Weft {
    type SelectionUserData = ();
}

impl DataDeviceHandler for Weft {
    fn data_device_state(&self) -> &DataDeviceState {
        &self.data_device_state
    }
}

impl ClientDndGrabHandler for Weft {}
impl ServerDndGrabHandler for Weft {}

delegate_seat!(Weft);
delegate_data_device!(Weft);
