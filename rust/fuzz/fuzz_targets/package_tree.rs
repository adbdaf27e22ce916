//! A package directory as its author could make it, walked the way signing
//! and verification walk it (`weft_verify::tree::scan`). The input is read
//! as a list of entries (names, kinds, modes, contents) made in a fresh
//! directory: names with a slash, a backslash or a control character, `..`,
//! symbolic links, special files and odd modes included. A walk that
//! succeeds lists exactly the directories and regular files made, sorted,
//! with their contents' hashes, and compares equal to itself; anything else
//! is refused with a reason.
#![no_main]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use weft_verify::tree::{self, Entry, EntryKind};

/// At most this many entries are made from one input.
const MAX_MADE: usize = 12;

/// What one entry of the input makes.
enum Made {
    Dir,
    File(Vec<u8>),
    Link,
    Fifo,
}

/// Reads entries from `data`: a kind byte, a mode byte, a name (up to a NUL)
/// and, for a file, up to 32 bytes of content (length first).
fn entries(mut data: &[u8]) -> Vec<(String, u32, Made)> {
    let mut made = Vec::new();
    while data.len() >= 3 && made.len() < MAX_MADE {
        let (kind, mode) = (data[0], u32::from(data[1]) << 4 | 0o4);
        data = &data[2..];
        let end = data.iter().position(|&byte| byte == 0).unwrap_or(data.len());
        let name = String::from_utf8_lossy(&data[..end]).into_owned();
        data = data.get(end + 1..).unwrap_or_default();
        let what = match kind % 8 {
            0..=2 => Made::Dir,
            3..=5 => {
                let length = usize::from(data.first().copied().unwrap_or(0) % 33).min(data.len());
                let content = data.get(1..1 + length).unwrap_or_default().to_vec();
                data = data.get(1 + length..).unwrap_or_default();
                Made::File(content)
            }
            6 => Made::Link,
            _ => Made::Fifo,
        };
        made.push((name, mode & 0o7777, what));
    }
    made
}

/// Makes the entries under `root` (a name with `/` nests into what exists);
/// returns what was made as regular files and directories, by path.
fn make(root: &Path, made: Vec<(String, u32, Made)>) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut plain = BTreeMap::new();
    for (name, mode, what) in made {
        // Each part one name: no empty part (a leading, doubled or trailing
        // slash), no `.` or `..`, which the filesystem would resolve.
        if name.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
            continue;
        }
        let path = root.join(&name);
        let created = match &what {
            Made::Dir => std::fs::create_dir(&path),
            // Never opens what is there (a FIFO made before would block).
            Made::File(content) => std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .and_then(|mut file| std::io::Write::write_all(&mut file, content)),
            Made::Link => std::os::unix::fs::symlink("/etc/passwd", &path),
            Made::Fifo => rustix::fs::mknodat(
                rustix::fs::CWD,
                &path,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o644),
                0,
            )
            .map_err(std::io::Error::from),
        };
        if created.is_err() {
            continue;
        }
        match what {
            Made::Dir | Made::File(_) => {
                // Directories stay searchable so the walk can go on below them.
                let mode = if matches!(what, Made::Dir) { mode | 0o700 } else { mode };
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode));
                let content = if let Made::File(content) = what { Some(content) } else { None };
                plain.insert(name, content);
            }
            Made::Link | Made::Fifo => {}
        }
    }
    plain
}

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir_in("/dev/shm").unwrap();
    let made = make(dir.path(), entries(data));
    match tree::scan(dir.path()) {
        Ok(listed) => {
            let paths: Vec<&str> = listed.iter().map(|entry| entry.path.as_str()).collect();
            let mut sorted = paths.clone();
            sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            assert_eq!(paths, sorted, "not sorted by path bytes");
            let mut found: Vec<&str> =
                made.keys().map(String::as_str).filter(|path| *path != "wapp.sig").collect();
            found.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            assert_eq!(paths, found, "what was listed is not what was made");
            for entry in &listed {
                check_entry(entry, &made[&entry.path]);
            }
            assert!(tree::compare(&listed, &listed).is_ok());
            assert_eq!(tree::list_digest(&listed), tree::list_digest(&tree::scan(dir.path()).unwrap()));
        }
        Err(error) => weft_fuzz::explains(&error),
    }
});

/// A listed entry says what was made: a directory, or a file of that content.
fn check_entry(entry: &Entry, made: &Option<Vec<u8>>) {
    match made {
        None => assert_eq!(entry.kind, EntryKind::Dir, "{entry:?}"),
        Some(content) => {
            let (sha256, size) = tree::hash_reader(&content[..]).unwrap();
            assert_eq!(entry.kind, EntryKind::File, "{entry:?}");
            assert_eq!(entry.sha256.as_deref(), Some(sha256.as_str()), "{entry:?}");
            assert_eq!(entry.size, Some(size), "{entry:?}");
        }
    }
}
