//! The seat's input (pointer, keyboard, touch) as [`Event::Input`]s for the
//! window's shell.

use wayland_client::protocol::{wl_keyboard, wl_pointer, wl_seat, wl_touch};
use wayland_client::{Connection, Dispatch, QueueHandle, WEnum};

use super::{Event, Input, State, TouchPhase};
use crate::keymap::Layout;

impl Dispatch<wl_seat::WlSeat, ()> for State {
    fn event(
        _: &mut Self,
        seat: &wl_seat::WlSeat,
        event: wl_seat::Event,
        _: &(),
        _: &Connection,
        handle: &QueueHandle<Self>,
    ) {
        let wl_seat::Event::Capabilities { capabilities: WEnum::Value(capabilities) } = event
        else {
            return;
        };
        if capabilities.contains(wl_seat::Capability::Keyboard) {
            seat.get_keyboard(handle, ());
        }
        if capabilities.contains(wl_seat::Capability::Pointer) {
            seat.get_pointer(handle, ());
        }
        if capabilities.contains(wl_seat::Capability::Touch) {
            seat.get_touch(handle, ());
        }
    }
}

impl Dispatch<wl_pointer::WlPointer, ()> for State {
    fn event(
        state: &mut Self,
        _: &wl_pointer::WlPointer,
        event: wl_pointer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let input = match event {
            wl_pointer::Event::Enter { surface_x: x, surface_y: y, .. }
            | wl_pointer::Event::Motion { surface_x: x, surface_y: y, .. } => {
                Input::PointerMotion { x, y }
            }
            wl_pointer::Event::Button { button, state: button_state, .. } => Input::PointerButton {
                button,
                pressed: button_state == WEnum::Value(wl_pointer::ButtonState::Pressed),
            },
            _ => return,
        };
        state.events.push(Event::Input(input));
    }
}

impl Dispatch<wl_keyboard::WlKeyboard, ()> for State {
    fn event(
        state: &mut Self,
        _: &wl_keyboard::WlKeyboard,
        event: wl_keyboard::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_keyboard::Event::Keymap {
                format: WEnum::Value(wl_keyboard::KeymapFormat::XkbV1),
                fd,
                size,
            } => match Layout::from_keymap(fd, size) {
                Ok(layout) => state.layout = Some(layout),
                Err(error) => tracing::warn!("{error}: keys will type no text"),
            },
            wl_keyboard::Event::Modifiers {
                mods_depressed,
                mods_latched,
                mods_locked,
                group,
                ..
            } => {
                if let Some(layout) = &mut state.layout {
                    layout.set_modifiers(mods_depressed, mods_latched, mods_locked, group);
                }
            }
            wl_keyboard::Event::Key { key, state: key_state, .. } => {
                let pressed = key_state == WEnum::Value(wl_keyboard::KeyState::Pressed);
                let text = state.layout.as_ref().and_then(|layout| layout.text(key));
                state.events.push(Event::Input(Input::Key { code: key, pressed, text }));
            }
            _ => {}
        }
    }
}

impl Dispatch<wl_touch::WlTouch, ()> for State {
    fn event(
        state: &mut Self,
        _: &wl_touch::WlTouch,
        event: wl_touch::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let input = match event {
            wl_touch::Event::Down { id, x, y, .. } => {
                Input::Touch { id, x, y, phase: TouchPhase::Down }
            }
            wl_touch::Event::Motion { id, x, y, .. } => {
                Input::Touch { id, x, y, phase: TouchPhase::Motion }
            }
            wl_touch::Event::Up { id, .. } => {
                Input::Touch { id, x: 0.0, y: 0.0, phase: TouchPhase::Up }
            }
            _ => return,
        };
        state.events.push(Event::Input(input));
    }
}
