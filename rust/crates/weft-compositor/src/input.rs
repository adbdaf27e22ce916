//! Input from any smithay input backend (libinput on DRM/KMS, the winit
//! window) turned into the seat's keyboard, pointer and touch events.

use smithay::backend::input::{
    AbsolutePositionEvent, ButtonState, InputBackend, InputEvent, KeyState, KeyboardKeyEvent,
    PointerButtonEvent, PointerMotionEvent, TouchEvent,
};
use smithay::utils::{Logical, Point};

use crate::state::{TouchPhase, Weft};

/// Feeds one input event to the compositor.
pub fn handle<B: InputBackend>(state: &mut Weft, event: InputEvent<B>) {
    let size = state.layout.output_size();
    match event {
        InputEvent::Keyboard { event } => {
            // xkb keycodes are evdev codes + 8.
            let code = event.key_code().raw().saturating_sub(8);
            state.key(code, event.state() == KeyState::Pressed);
        }
        InputEvent::PointerMotion { event } => {
            let at = state.pointer_location() + event.delta();
            state.pointer_motion(at);
        }
        InputEvent::PointerMotionAbsolute { event } => {
            state.pointer_motion(event.position_transformed(size));
        }
        InputEvent::PointerButton { event } => {
            state.pointer_button(event.button_code(), event.state() == ButtonState::Pressed);
        }
        InputEvent::TouchDown { event } => {
            touch(state, event.slot(), TouchPhase::Down, event.position_transformed(size));
        }
        InputEvent::TouchMotion { event } => {
            touch(state, event.slot(), TouchPhase::Motion, event.position_transformed(size));
        }
        InputEvent::TouchUp { event } => {
            // A lifted finger has no position.
            touch(state, event.slot(), TouchPhase::Up, Point::default());
        }
        _ => {}
    }
}

fn touch(
    state: &mut Weft,
    slot: smithay::backend::input::TouchSlot,
    phase: TouchPhase,
    at: Point<f64, Logical>,
) {
    // Slot -1 is a device without multi-touch: one finger, slot 0.
    let slot = u32::try_from(i32::from(slot)).unwrap_or(0);
    state.touch(slot, phase, at);
}
