//! Keys from the compositor (evdev codes) as the web's keyboard events, for a
//! US layout: the compositor sends codes, not symbols, and the shell tracks
//! Shift itself.

use servo::{Code, Key, KeyState, Modifiers, NamedKey};

/// Turns evdev key codes into keyboard events, remembering the modifiers.
#[derive(Default)]
pub struct Keyboard {
    modifiers: Modifiers,
}

/// Letters and symbols: code, unshifted, shifted.
const PRINTABLE: &[(u32, Code, char, char)] = &[
    (2, Code::Digit1, '1', '!'),
    (3, Code::Digit2, '2', '@'),
    (4, Code::Digit3, '3', '#'),
    (5, Code::Digit4, '4', '$'),
    (6, Code::Digit5, '5', '%'),
    (7, Code::Digit6, '6', '^'),
    (8, Code::Digit7, '7', '&'),
    (9, Code::Digit8, '8', '*'),
    (10, Code::Digit9, '9', '('),
    (11, Code::Digit0, '0', ')'),
    (12, Code::Minus, '-', '_'),
    (13, Code::Equal, '=', '+'),
    (16, Code::KeyQ, 'q', 'Q'),
    (17, Code::KeyW, 'w', 'W'),
    (18, Code::KeyE, 'e', 'E'),
    (19, Code::KeyR, 'r', 'R'),
    (20, Code::KeyT, 't', 'T'),
    (21, Code::KeyY, 'y', 'Y'),
    (22, Code::KeyU, 'u', 'U'),
    (23, Code::KeyI, 'i', 'I'),
    (24, Code::KeyO, 'o', 'O'),
    (25, Code::KeyP, 'p', 'P'),
    (26, Code::BracketLeft, '[', '{'),
    (27, Code::BracketRight, ']', '}'),
    (30, Code::KeyA, 'a', 'A'),
    (31, Code::KeyS, 's', 'S'),
    (32, Code::KeyD, 'd', 'D'),
    (33, Code::KeyF, 'f', 'F'),
    (34, Code::KeyG, 'g', 'G'),
    (35, Code::KeyH, 'h', 'H'),
    (36, Code::KeyJ, 'j', 'J'),
    (37, Code::KeyK, 'k', 'K'),
    (38, Code::KeyL, 'l', 'L'),
    (39, Code::Semicolon, ';', ':'),
    (40, Code::Quote, '\'', '"'),
    (41, Code::Backquote, '`', '~'),
    (43, Code::Backslash, '\\', '|'),
    (44, Code::KeyZ, 'z', 'Z'),
    (45, Code::KeyX, 'x', 'X'),
    (46, Code::KeyC, 'c', 'C'),
    (47, Code::KeyV, 'v', 'V'),
    (48, Code::KeyB, 'b', 'B'),
    (49, Code::KeyN, 'n', 'N'),
    (50, Code::KeyM, 'm', 'M'),
    (51, Code::Comma, ',', '<'),
    (52, Code::Period, '.', '>'),
    (53, Code::Slash, '/', '?'),
    (57, Code::Space, ' ', ' '),
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
    /// The web's view of evdev key `code` going down or up, or `None` for a
    /// key this layout does not know.
    pub fn event(&mut self, code: u32, pressed: bool) -> Option<servo::KeyboardEvent> {
        let state = if pressed { KeyState::Down } else { KeyState::Up };
        let (code, key) = if let Some(&(_, code, named)) = NAMED.iter().find(|k| k.0 == code) {
            let modifier = match named {
                NamedKey::Shift => Modifiers::SHIFT,
                NamedKey::Control => Modifiers::CONTROL,
                NamedKey::Alt => Modifiers::ALT,
                _ => Modifiers::empty(),
            };
            self.modifiers.set(modifier, pressed);
            (code, Key::Named(named))
        } else {
            let &(_, code, plain, shifted) = PRINTABLE.iter().find(|k| k.0 == code)?;
            let symbol = if self.modifiers.contains(Modifiers::SHIFT) { shifted } else { plain };
            (code, Key::Character(symbol.to_string()))
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
