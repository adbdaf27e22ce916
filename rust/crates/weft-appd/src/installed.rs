//! `QUERY_INSTALLED_APPS`: every app of every store root, verified, or every
//! signed app image when apps launch from images, as one reply that always
//! fits a frame. One broken entry cannot break the list for
//! everyone: the apps that verified come first, each text field is cut to a
//! bound, and entries past the reply's budget are summed up in one last entry
//! instead of overflowing the frame.

use std::collections::HashMap;

use weft_protocol::appd::{InstalledApp, MAX_FRAME_BYTES};
use weft_verify::keys::TrustedKeys;

/// The longest app id, name, version and error text listed, in bytes.
const MAX_ID: usize = 128;
const MAX_NAME: usize = 256;
const MAX_VERSION: usize = 64;
const MAX_ERROR: usize = 1024;
/// What the entries may take of a frame (the rest is the reply's own framing
/// and the summary entry, with room to spare).
const BUDGET: usize = MAX_FRAME_BYTES * 3 / 4;
/// A generous estimate of one entry's encoding besides its text.
const ENTRY_OVERHEAD: usize = 64;

/// Lists and verifies every app in `roots`, bounded to fit one reply.
pub fn list(roots: &[std::path::PathBuf], trusted: &TrustedKeys) -> Vec<InstalledApp> {
    ordered(weft_verify::store::list(roots, trusted).into_iter().map(|listed| {
        let checked = listed.verified.map(|verified| {
            let id = verified.id.to_string();
            (id, verified.statement.version, verified.inspection.manifest.name)
        });
        entry(&listed.path, checked.map_err(anyhow::Error::from))
    }))
}

/// Lists and checks every app image in `dir` ([`weft_verify::image_list`]),
/// bounded to fit one reply.
pub fn list_images(dir: &std::path::Path, trusted: &TrustedKeys) -> Vec<InstalledApp> {
    ordered(weft_verify::image_list::list_images(dir, trusted).into_iter().map(|listed| {
        let checked = listed
            .checked
            .map(|(statement, manifest)| (statement.id, statement.version, manifest.name));
        entry(&listed.path, checked.map_err(anyhow::Error::from))
    }))
}

/// The apps that verified first, then the broken ones, bounded, with the
/// names that look alike marked.
fn ordered(entries: impl Iterator<Item = InstalledApp>) -> Vec<InstalledApp> {
    let (good, broken): (Vec<_>, Vec<_>) = entries.partition(|app| app.error.is_none());
    mark_look_alikes(bounded(good.into_iter().chain(broken)))
}

/// Marks every app whose name looks like another listed app's (the same
/// confusables skeleton, [`weft_manifest::name_skeleton`]).
fn mark_look_alikes(mut apps: Vec<InstalledApp>) -> Vec<InstalledApp> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let skeletons: Vec<Option<String>> =
        apps.iter().map(|app| app.name.as_deref().map(weft_manifest::name_skeleton)).collect();
    for skeleton in skeletons.iter().flatten() {
        *seen.entry(skeleton.clone()).or_default() += 1;
    }
    for (app, skeleton) in apps.iter_mut().zip(&skeletons) {
        app.look_alike = skeleton.as_ref().is_some_and(|skeleton| seen[skeleton] > 1);
    }
    apps
}

/// One entry: the app's id, version and name, or its directory's name and
/// why it did not check out.
fn entry(
    path: &std::path::Path,
    checked: Result<(String, String, String), anyhow::Error>,
) -> InstalledApp {
    match checked {
        Ok((app_id, version, name)) => InstalledApp {
            app_id,
            version: Some(version),
            name: Some(name),
            error: None,
            look_alike: false,
        },
        Err(error) => InstalledApp {
            app_id: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            version: None,
            name: None,
            error: Some(format!("{error:#}")),
            look_alike: false,
        },
    }
}

/// Cuts every field to its bound and keeps entries while they fit the budget.
fn bounded(entries: impl Iterator<Item = InstalledApp>) -> Vec<InstalledApp> {
    let mut listed = Vec::new();
    let mut used = 0;
    let mut left_out = 0usize;
    for app in entries {
        let app = InstalledApp {
            app_id: cut(app.app_id, MAX_ID),
            version: app.version.map(|text| cut(text, MAX_VERSION)),
            name: app.name.map(|text| cut(text, MAX_NAME)),
            error: app.error.map(|text| cut(text, MAX_ERROR)),
            look_alike: false,
        };
        let size = ENTRY_OVERHEAD
            + app.app_id.len()
            + [&app.version, &app.name, &app.error]
                .iter()
                .map(|text| text.as_ref().map_or(0, String::len))
                .sum::<usize>();
        if left_out > 0 || used + size > BUDGET {
            left_out += 1;
            continue;
        }
        used += size;
        listed.push(app);
    }
    if left_out > 0 {
        listed.push(InstalledApp {
            app_id: String::new(),
            version: None,
            name: None,
            error: Some(format!("{left_out} more store entries are not listed: the reply is full")),
            look_alike: false,
        });
    }
    listed
}

/// `text` cut to at most `limit` bytes on a character boundary, marked with
/// an ellipsis when cut.
fn cut(text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broken(id: String, error: String) -> InstalledApp {
        InstalledApp {
            app_id: id,
            version: None,
            name: None,
            error: Some(error),
            look_alike: false,
        }
    }

    fn named(id: &str, name: &str) -> InstalledApp {
        InstalledApp {
            app_id: id.into(),
            version: Some("1.0.0".into()),
            name: Some(name.into()),
            error: None,
            look_alike: false,
        }
    }

    #[test]
    fn names_that_are_or_look_the_same_are_marked_and_others_not() {
        let apps = vec![
            named("org.example.bank", "Bank"),
            named("org.example.fake", "\u{412}ank"),
            named("org.example.clock", "Clock"),
            named("org.example.notes", "Notes"),
            named("org.other.notes", "Notes"),
            broken("org.example.broken".into(), "no signature".into()),
        ];
        let marked: Vec<bool> = mark_look_alikes(apps).iter().map(|app| app.look_alike).collect();
        assert_eq!(marked, [true, true, false, true, true, false]);
    }

    #[test]
    fn long_fields_are_cut_on_character_boundaries() {
        assert_eq!(cut("short".into(), 8), "short");
        let cut_text = cut("é".repeat(100), 11);
        assert!(cut_text.len() <= 11 && cut_text.ends_with('…'), "{cut_text}");
        let listed = bounded([broken("a".repeat(1 << 20), "b".repeat(1 << 20))].into_iter());
        assert_eq!(listed.len(), 1);
        assert!(listed[0].app_id.len() <= MAX_ID);
        assert!(listed[0].error.as_ref().unwrap().len() <= MAX_ERROR);
    }

    #[test]
    fn entries_past_the_budget_are_summed_up_in_one() {
        let many = (0..4_000).map(|n| broken(format!("org.weft.app{n}"), "x".repeat(MAX_ERROR)));
        let listed = bounded(many);
        let last = listed.last().unwrap();
        let listed_apps = listed.len() - 1;
        assert_eq!(
            last.error.as_deref(),
            Some(
                format!(
                    "{} more store entries are not listed: the reply is full",
                    4_000 - listed_apps
                )
                .as_str()
            )
        );
        let encoded = rmp_serde::to_vec_named(&listed).unwrap();
        assert!(encoded.len() < MAX_FRAME_BYTES, "{} bytes", encoded.len());
    }
}
