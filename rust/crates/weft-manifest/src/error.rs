//! Manifest errors, located at the offending line and column.

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::app_id::AppIdError;
use crate::capability::CapabilityError;
use crate::limits::LimitError;
use crate::package_path::PackagePathError;
use crate::shown_text::UnshownChar;

/// A problem in a `wapp.toml`: which field, what value, where, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    /// Dotted path of the offending field, such as `package.capabilities[2]`,
    /// when the problem has one.
    pub field: Option<String>,
    /// The offending value as written, when there is one.
    pub value: Option<String>,
    /// Where the problem is, when it has a place in the text.
    pub location: Option<Location>,
    /// What is wrong.
    pub problem: Problem,
}

/// A 1-based line and column (in characters) in the manifest text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// Line number, from 1.
    pub line: usize,
    /// Column number in characters, from 1.
    pub column: usize,
}

/// What is wrong with a manifest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The text is larger than [`crate::MAX_MANIFEST_BYTES`].
    #[error("the manifest is {0} bytes; the limit is {max}", max = crate::MAX_MANIFEST_BYTES)]
    TooLarge(usize),
    /// TOML syntax, a missing or unknown key, or a value of the wrong type; the
    /// text is the TOML parser's.
    #[error("{0}")]
    Toml(String),
    /// `package.id` is not a valid app id.
    #[error("invalid app id: {0}")]
    AppId(#[from] AppIdError),
    /// `package.name` is empty or too long.
    #[error("invalid name: {0}")]
    Name(&'static str),
    /// `package.name` holds a character that would hide, reorder or fake
    /// what the user reads.
    #[error("invalid name: it contains {0}")]
    NameChar(#[from] UnshownChar),
    /// `package.version` is not a semantic version.
    #[error("invalid version: {0}; expected a semantic version like 1.2.3")]
    Version(String),
    /// A capability that does not parse.
    #[error("{0}")]
    Capability(#[from] CapabilityError),
    /// The same capability twice.
    #[error("duplicate capability, first listed on line {first_line}")]
    DuplicateCapability {
        /// Line of the first listing.
        first_line: usize,
    },
    /// Two filesystem capabilities for one directory with different access.
    #[error("conflicts with `{other}` on line {other_line}; list one access level per directory")]
    ConflictingCapability {
        /// The other capability.
        other: String,
        /// Its line.
        other_line: usize,
    },
    /// A package path that is absolute, leaves the package or is not plain.
    #[error("invalid package path: {0}")]
    Path(#[from] PackagePathError),
    /// A bad `[limits]` value.
    #[error("invalid limit: {0}")]
    Limit(#[from] LimitError),
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(Location { line, column }) = self.location {
            write!(f, "line {line}, column {column}: ")?;
        }
        match (&self.field, &self.value) {
            (Some(field), Some(value)) => write!(f, "{field} = {value:?}: ")?,
            (Some(field), None) => write!(f, "{field}: ")?,
            (None, Some(value)) => write!(f, "at {value:?}: ")?,
            (None, None) => {}
        }
        self.problem.fmt(f)
    }
}

impl Location {
    /// The location of byte `offset` in `source`.
    pub(crate) fn of(source: &str, offset: usize) -> Self {
        let before = &source[..floor_char_boundary(source, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        let column = before[line_start..].chars().count() + 1;
        Self { line, column }
    }
}

fn floor_char_boundary(source: &str, offset: usize) -> usize {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

impl ManifestError {
    /// A problem with a field whose value sits at `span`.
    pub(crate) fn at(
        source: &str,
        field: String,
        value: &str,
        span: Range<usize>,
        problem: Problem,
    ) -> Self {
        Self {
            field: Some(field),
            value: Some(value.to_owned()),
            location: Some(Location::of(source, span.start)),
            problem,
        }
    }

    /// Converts the TOML parser's error, naming the field that holds the
    /// offending span when the text is well-formed enough to tell.
    pub(crate) fn from_toml(source: &str, error: &toml::de::Error) -> Self {
        let span = error.span();
        let field = span.clone().and_then(|span| {
            let document = DeTable::parse(source).ok()?;
            let mut path = Vec::new();
            field_at(document.get_ref(), &span, &mut path).then(|| join_path(&path))
        });
        // Without a field (a syntax error, a duplicate key), show the text the
        // parser points at instead, when it is a short piece of one line.
        let value = match (&field, &span) {
            (None, Some(span)) => source
                .get(span.clone())
                .filter(|text| !text.is_empty() && text.len() <= 64 && !text.contains('\n'))
                .map(str::to_owned),
            _ => None,
        };
        Self {
            field,
            value,
            location: span.map(|span| Location::of(source, span.start)),
            problem: Problem::Toml(error.message().trim_end().to_owned()),
        }
    }
}

/// One step of a field path: a table key or an array index.
enum Step {
    Key(String),
    Index(usize),
}

fn join_path(path: &[Step]) -> String {
    let mut joined = String::new();
    for step in path {
        match step {
            Step::Key(key) => {
                if !joined.is_empty() {
                    joined.push('.');
                }
                joined.push_str(key);
            }
            Step::Index(index) => joined.push_str(&format!("[{index}]")),
        }
    }
    joined
}

/// Records in `path` the keys (and array indices) leading to the innermost key or
/// value that covers `span`; returns whether one does.
///
/// A `[table]` header's value span is the header alone, not the table's body, so
/// tables are searched whatever their span, and their own span counts only when
/// nothing inside them matched (a "missing field" error points at the header).
fn field_at(table: &DeTable<'_>, span: &Range<usize>, path: &mut Vec<Step>) -> bool {
    for (key, value) in table.iter() {
        path.push(Step::Key(key.get_ref().to_string()));
        if overlaps(&key.span(), span) || value_at(value, span, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn value_at(value: &Spanned<DeValue<'_>>, span: &Range<usize>, path: &mut Vec<Step>) -> bool {
    match value.get_ref() {
        DeValue::Table(table) if field_at(table, span, path) => return true,
        DeValue::Array(array) => {
            for (index, element) in array.iter().enumerate() {
                path.push(Step::Index(index));
                if value_at(element, span, path) {
                    return true;
                }
                path.pop();
            }
        }
        _ => {}
    }
    overlaps(&value.span(), span)
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end.max(b.start + 1) && b.start < a.end
}
