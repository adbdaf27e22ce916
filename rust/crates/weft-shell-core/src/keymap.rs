//! The compositor's keyboard layout on the shell's side: wl_keyboard hands
//! over its XKB keymap (text in a file descriptor) and the modifier state,
//! and xkbcommon turns a key into the text that layout gives it: `ä` on a
//! German keyboard, `€` with AltGr, never a fixed US table.

use std::os::fd::OwnedFd;

use xkbcommon::xkb;

/// One keymap and its current modifiers.
pub struct Layout {
    state: xkb::State,
}

impl Layout {
    /// Compiles the keymap the compositor sent (`size` bytes in `fd`).
    pub fn from_keymap(fd: OwnedFd, size: u32) -> Result<Self, String> {
        let context = xkb::Context::new(xkb::CONTEXT_NO_FLAGS);
        // SAFETY: `fd` is the keymap descriptor wl_keyboard just handed over,
        // owned here, and `size` is the size the same event gave for it;
        // xkbcommon maps it privately and read-only, as the protocol asks.
        #[expect(unsafe_code, reason = "xkbcommon maps the keymap's descriptor")]
        let keymap = unsafe {
            xkb::Keymap::new_from_fd(
                &context,
                fd,
                size as usize,
                xkb::KEYMAP_FORMAT_TEXT_V1,
                xkb::KEYMAP_COMPILE_NO_FLAGS,
            )
        };
        match keymap {
            Ok(Some(keymap)) => Ok(Self { state: xkb::State::new(&keymap) }),
            Ok(None) => Err("the compositor's keymap does not compile".to_owned()),
            Err(error) => Err(format!("cannot read the compositor's keymap: {error}")),
        }
    }

    /// The modifiers and layout group as the compositor's last
    /// `wl_keyboard.modifiers` says.
    pub fn set_modifiers(&mut self, depressed: u32, latched: u32, locked: u32, group: u32) {
        self.state.update_mask(depressed, latched, locked, 0, 0, group);
    }

    /// The character evdev key `code` stands for now, if any (not for Shift,
    /// arrows, Enter and other keys without a printable one). Control does
    /// not turn it into a control character: Ctrl+A is `a` with Control held,
    /// as the web expects.
    pub fn text(&self, code: u32) -> Option<String> {
        let symbol = self.state.key_get_one_sym(xkb::Keycode::new(code + 8));
        let text = xkb::keysym_to_utf8(symbol);
        (!text.is_empty() && !text.chars().any(char::is_control)).then_some(text)
    }
}
