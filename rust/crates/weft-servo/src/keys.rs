//! Keys from the compositor as the web's keyboard events: `code` names the
//! physical key (from its evdev code), `key` is the text the compositor's
//! layout gives it ([`weft_shell_core::keymap`]: `ä`, `€` with AltGr) or the
//! key's name (Enter, arrows, modifiers).

use servo::{Code, Key, KeyState, Modifiers, NamedKey};

/// Turns evdev key codes into keyboard events, remembering the modifiers.
#[derive(Default)]
pub struct Keyboard {
    modifiers: Modifiers,
}

/// Keys that type text: evdev code, physical key.
const TYPING: &[(u32, Code)] = &[
    (2, Code::Digit1),
    (3, Code::Digit2),
    (4, Code::Digit3),
    (5, Code::Digit4),
    (6, Code::Digit5),
    (7, Code::Digit6),
    (8, Code::Digit7),
    (9, Code::Digit8),
    (10, Code::Digit9),
    (11, Code::Digit0),
    (12, Code::Minus),
    (13, Code::Equal),
    (16, Code::KeyQ),
    (17, Code::KeyW),
    (18, Code::KeyE),
    (19, Code::KeyR),
    (20, Code::KeyT),
    (21, Code::KeyY),
    (22, Code::KeyU),
    (23, Code::KeyI),
    (24, Code::KeyO),
    (25, Code::KeyP),
    (26, Code::BracketLeft),
    (27, Code::BracketRight),
    (30, Code::KeyA),
    (31, Code::KeyS),
    (32, Code::KeyD),
    (33, Code::KeyF),
    (34, Code::KeyG),
    (35, Code::KeyH),
    (36, Code::KeyJ),
    (37, Code::KeyK),
    (38, Code::KeyL),
    (39, Code::Semicolon),
    (40, Code::Quote),
    (41, Code::Backquote),
    (43, Code::Backslash),
    (44, Code::KeyZ),
    (45, Code::KeyX),
    (46, Code::KeyC),
    (47, Code::KeyV),
    (48, Code::KeyB),
    (49, Code::KeyN),
    (50, Code::KeyM),
    (51, Code::Comma),
    (52, Code::Period),
    (53, Code::Slash),
    (57, Code::Space),
    (86, Code::IntlBackslash),
];

/// Keys with names: code, key.
const NAMED: &[(u32, Code, NamedKey)] = &[
    (1, Code::Escape, NamedKey::Escape),
    (14, Code::Backspace, NamedKey::Backspace),
    (15, Code::Tab, NamedKey::Tab),
    (28, Code::Enter, NamedKey::Enter),
    (29, Code::ControlLeft, NamedKey::Control),
    (42, Code::ShiftLeft, NamedKey::Shift),
    (54, Code::ShiftRight, NamedKey::Shift),
    (56, Code::AltLeft, NamedKey::Alt),
    (100, Code::AltRight, NamedKey::AltGraph),
    (97, Code::ControlRight, NamedKey::Control),
    (102, Code::Home, NamedKey::Home),
    (103, Code::ArrowUp, NamedKey::ArrowUp),
    (105, Code::ArrowLeft, NamedKey::ArrowLeft),
    (106, Code::ArrowRight, NamedKey::ArrowRight),
    (107, Code::End, NamedKey::End),
    (108, Code::ArrowDown, NamedKey::ArrowDown),
    (111, Code::Delete, NamedKey::Delete),
];

impl Keyboard {
    /// The web's view of evdev key `code` going down or up, typing `text` in
    /// the compositor's layout; `None` for a key with neither a name nor text.
    pub fn event(
        &mut self,
        code: u32,
        pressed: bool,
        text: Option<String>,
    ) -> Option<servo::KeyboardEvent> {
        let state = if pressed { KeyState::Down } else { KeyState::Up };
        let (code, key) = if let Some(&(_, code, named)) = NAMED.iter().find(|k| k.0 == code) {
            let modifier = match named {
                NamedKey::Shift => Modifiers::SHIFT,
                NamedKey::Control => Modifiers::CONTROL,
                NamedKey::Alt => Modifiers::ALT,
                // AltGr is already in the text it chose (`€`); held as a
                // modifier, Servo 0.7 would not insert that text.
                _ => Modifiers::empty(),
            };
            self.modifiers.set(modifier, pressed);
            (code, Key::Named(named))
        } else {
            let physical = TYPING.iter().find(|k| k.0 == code).map_or(Code::Unidentified, |k| k.1);
            (physical, Key::Character(text?))
        };
        Some(servo::KeyboardEvent::new_without_event(
            state,
            key,
            code,
            servo::Location::Standard,
            self.modifiers,
            false,
            false,
        ))
    }
}
