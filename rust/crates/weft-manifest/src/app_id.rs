//! App ids: reverse-DNS names that are always one safe path component.

use std::fmt;
use std::str::FromStr;

/// Longest app id, in bytes.
pub const MAX_APP_ID_LEN: usize = 128;
/// Fewest dot-separated labels in an app id.
pub const MIN_APP_ID_LABELS: usize = 2;
/// Most dot-separated labels in an app id.
pub const MAX_APP_ID_LABELS: usize = 8;
/// Longest label, in bytes (as in DNS).
pub const MAX_LABEL_LEN: usize = 63;

/// A validated app id such as `org.weft.hello`.
///
/// Lowercase `[a-z0-9-]` labels separated by single dots, 2 to 8 labels, at most
/// 128 bytes, no label starting or ending with `-`. Such a string never contains
/// `/`, never is `.` or `..`, and so is always safe as one path component: the
/// supervisor, the package store and the mount helper use it as a directory name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppId(String);

/// Why a string is not an app id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppIdError {
    /// The string is empty.
    #[error("an app id cannot be empty")]
    Empty,
    /// The string is longer than [`MAX_APP_ID_LEN`].
    #[error("{0} bytes is longer than the limit of {MAX_APP_ID_LEN}")]
    TooLong(usize),
    /// A label is empty: a leading, trailing or doubled dot.
    #[error("empty label (leading, trailing or doubled dot)")]
    EmptyLabel,
    /// The id has fewer than [`MIN_APP_ID_LABELS`] or more than [`MAX_APP_ID_LABELS`] labels.
    #[error(
        "{0} labels; an app id has {MIN_APP_ID_LABELS} to {MAX_APP_ID_LABELS} dot-separated labels, like `org.example.app`"
    )]
    LabelCount(usize),
    /// A label is longer than [`MAX_LABEL_LEN`].
    #[error("label `{0}` is longer than {MAX_LABEL_LEN} bytes")]
    LabelTooLong(String),
    /// A character outside `[a-z0-9-.]`.
    #[error("character {0:?} is not allowed; use lowercase a-z, 0-9, '-' and '.'")]
    BadCharacter(char),
    /// A label starts or ends with `-`.
    #[error("label `{0}` starts or ends with '-'")]
    HyphenAtEdge(String),
}

impl AppId {
    /// Validates `id` and wraps it.
    pub fn new(id: &str) -> Result<Self, AppIdError> {
        if id.is_empty() {
            return Err(AppIdError::Empty);
        }
        if id.len() > MAX_APP_ID_LEN {
            return Err(AppIdError::TooLong(id.len()));
        }
        if let Some(bad) = id.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-' | '.')) {
            return Err(AppIdError::BadCharacter(bad));
        }
        let labels: Vec<&str> = id.split('.').collect();
        if labels.iter().any(|label| label.is_empty()) {
            return Err(AppIdError::EmptyLabel);
        }
        if !(MIN_APP_ID_LABELS..=MAX_APP_ID_LABELS).contains(&labels.len()) {
            return Err(AppIdError::LabelCount(labels.len()));
        }
        for label in labels {
            if label.len() > MAX_LABEL_LEN {
                return Err(AppIdError::LabelTooLong(label.to_owned()));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(AppIdError::HyphenAtEdge(label.to_owned()));
            }
        }
        Ok(Self(id.to_owned()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AppId {
    type Err = AppIdError;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        Self::new(id)
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for AppId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_reverse_dns_ids() {
        for id in ["org.weft.hello", "a.b", "com.example.x-y.z9", "a.b.c.d.e.f.g.h"] {
            assert_eq!(AppId::new(id).unwrap().as_str(), id);
        }
        let longest = format!("{}.{}", "a".repeat(63), "b".repeat(63));
        assert!(AppId::new(&longest).is_ok());
    }

    #[test]
    fn refuses_ids_that_are_not_one_safe_path_component() {
        let cases: &[(&str, AppIdError)] = &[
            ("", AppIdError::Empty),
            ("hello", AppIdError::LabelCount(1)),
            ("a.b.c.d.e.f.g.h.i", AppIdError::LabelCount(9)),
            (".org.weft", AppIdError::EmptyLabel),
            ("org.weft.", AppIdError::EmptyLabel),
            ("org..weft", AppIdError::EmptyLabel),
            ("..", AppIdError::EmptyLabel),
            ("../../tmp/evil", AppIdError::BadCharacter('/')),
            ("org/weft", AppIdError::BadCharacter('/')),
            ("Org.weft", AppIdError::BadCharacter('O')),
            ("org.we ft", AppIdError::BadCharacter(' ')),
            ("org.weft\0", AppIdError::BadCharacter('\0')),
            ("org.wéft", AppIdError::BadCharacter('é')),
            ("org_weft.app", AppIdError::BadCharacter('_')),
            ("org.-weft", AppIdError::HyphenAtEdge("-weft".into())),
            ("org.weft-", AppIdError::HyphenAtEdge("weft-".into())),
        ];
        for (id, expected) in cases {
            assert_eq!(AppId::new(id).unwrap_err(), *expected, "id {id:?}");
        }
        assert_eq!(
            AppId::new(&format!("a.{}", "b".repeat(64))).unwrap_err(),
            AppIdError::LabelTooLong("b".repeat(64))
        );
        let too_long = ["abcdefghijklmnop"; 8].join(".");
        assert_eq!(too_long.len(), 135);
        assert_eq!(AppId::new(&too_long).unwrap_err(), AppIdError::TooLong(135));
    }
}
