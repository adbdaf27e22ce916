//! Text a user reads as an app's own words (its display name, its
//! notifications) must show exactly what it says: nothing that reorders the
//! characters around it (bidirectional overrides and isolates, which turn
//! `Bank\u{202e}txt.exe` into "Bankexe.txt"), nothing invisible (zero-width
//! spaces, joiners, fillers, tag characters, which make two names that look
//! alike differ), and no control characters (line breaks only in messages).
//! Markup is not refused: the system UI shows names and messages as text
//! (`weft-shell-core`'s page tests hold it to that).

/// Why a character may not appear in text shown to the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnshownChar {
    /// A bidirectional control: it reorders what is shown.
    #[error("a bidirectional control (U+{0:04X}), which reorders what is shown")]
    Bidirectional(u32),
    /// A character with no glyph of its own.
    #[error("an invisible formatting character (U+{0:04X})")]
    Invisible(u32),
    /// A control character (line breaks included, where they are not allowed).
    #[error("a control character (U+{0:04X})")]
    Control(u32),
}

/// How text is used: names are one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// A display name: one line of plain text.
    Name,
    /// A notification's text: line breaks allowed.
    Message,
}

/// Checks `text` for characters that hide, reorder or fake what is shown
/// (see the module doc); the first one found is named.
pub fn check_shown_text(text: &str, shown: Shown) -> Result<(), UnshownChar> {
    for c in text.chars() {
        let code = u32::from(c);
        if is_bidirectional_control(code) {
            return Err(UnshownChar::Bidirectional(code));
        }
        if is_invisible(code) {
            return Err(UnshownChar::Invisible(code));
        }
        if c.is_control() && !(shown == Shown::Message && c == '\n') {
            return Err(UnshownChar::Control(code));
        }
    }
    Ok(())
}

/// `text` with every character [`check_shown_text`] refuses replaced by
/// U+FFFD, so what a running app says reaches the user without losing the
/// rest of it, and the substitution shows.
pub fn neutralise_shown_text(text: &str, shown: Shown) -> String {
    let mut buffer = [0; 4];
    text.chars()
        .map(|c| match check_shown_text(c.encode_utf8(&mut buffer), shown) {
            Ok(()) => c,
            Err(_) => char::REPLACEMENT_CHARACTER,
        })
        .collect()
}

/// Marks, embeddings, overrides and isolates of the Unicode bidirectional
/// algorithm (UAX #9).
fn is_bidirectional_control(code: u32) -> bool {
    matches!(code, 0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069)
}

/// Format characters and fillers that draw nothing (Unicode general category
/// Cf and the Hangul fillers), variation selectors left out: emoji use them.
fn is_invisible(code: u32) -> bool {
    matches!(
        code,
        0x00AD
            | 0x034F
            | 0x115F
            | 0x1160
            | 0x17B4
            | 0x17B5
            | 0x180E
            | 0x200B..=0x200D
            | 0x2060..=0x2064
            | 0x206A..=0x206F
            | 0x3164
            | 0xFEFF
            | 0xFFA0
            | 0xFFF9..=0xFFFB
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE007F
    )
}

/// What `name` looks like: Unicode's confusables skeleton (UTS #39), so two
/// names with the same skeleton read alike ("Bank" and "Вank" with a Cyrillic
/// В). Compare skeletons to tell names that look the same apart from names
/// that are the same.
pub fn name_skeleton(name: &str) -> String {
    unicode_security::skeleton(name).collect()
}

/// Whether `name` differs from `other` yet looks like it: the impersonation a
/// store refuses (names that are simply the same are told apart by their ids).
pub fn looks_like(name: &str, other: &str) -> bool {
    name != other && name_skeleton(name) == name_skeleton(other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoofing_characters_are_named_and_plain_text_passes() {
        let cases = [
            ("Bank\u{202e}txt.exe", UnshownChar::Bidirectional(0x202E)),
            ("Clock\u{2067}", UnshownChar::Bidirectional(0x2067)),
            ("Cl\u{200b}ock", UnshownChar::Invisible(0x200B)),
            ("Clock\u{feff}", UnshownChar::Invisible(0xFEFF)),
            ("\u{3164}", UnshownChar::Invisible(0x3164)),
            ("Clock\u{e0041}", UnshownChar::Invisible(0xE0041)),
            ("a\u{7}b", UnshownChar::Control(7)),
            ("two\nlines", UnshownChar::Control(10)),
        ];
        for (text, expected) in cases {
            assert_eq!(check_shown_text(text, Shown::Name), Err(expected), "{text:?}");
        }
        for plain in ["Hello", "Notes & Tasks", "Café ☕", "時計", "Zahlen 1–9", "👍🏽", "<b>"]
        {
            assert_eq!(check_shown_text(plain, Shown::Name), Ok(()), "{plain:?}");
        }
        assert_eq!(check_shown_text("line one\nline two <b>", Shown::Message), Ok(()));
        assert_eq!(
            check_shown_text("Paid\u{202e}", Shown::Message),
            Err(UnshownChar::Bidirectional(0x202E))
        );
        assert_eq!(
            neutralise_shown_text("Paid\u{202e}lasrever\u{200b}\nok <b>", Shown::Message),
            "Paid\u{fffd}lasrever\u{fffd}\nok <b>"
        );
    }

    #[test]
    fn names_that_only_look_alike_are_found_and_different_names_are_not() {
        // Cyrillic В and а, Greek ο, the digit 0 for O, a fullwidth Ｂ.
        for fake in ["\u{412}ank", "B\u{430}nk", "B\u{430}\u{578}k", "\u{ff22}ank"] {
            assert!(looks_like(fake, "Bank"), "{fake:?}");
        }
        assert!(looks_like("Cl\u{3bf}ck", "Clock"));
        assert!(looks_like("C1ock", "Clock"), "1 and l are confusable");
        for other in ["Bank", "Banks", "bank", "Clock", "Notes"] {
            assert!(!looks_like(other, "Bank"), "{other:?}");
        }
    }
}
