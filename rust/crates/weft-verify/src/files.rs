//! Reading the small files a package or a store hands over (signature files,
//! keys) as an attacker may have planted them: never through a symlink, never
//! blocking on a FIFO or a device, only a regular file, only up to a limit.

use std::fs::File;
use std::io;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};

use crate::inspect::read_limited;

/// Reads `path` if it is a regular file of at most `limit` bytes. A FIFO, a
/// socket, a device or a directory is refused by its kind, without waiting on
/// it; a symlink is refused by the kernel (`O_NOFOLLOW`).
pub(crate) fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty())?;
    let stat = rustix::fs::fstat(&fd)?;
    let kind = FileType::from_raw_mode(stat.st_mode);
    if kind != FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file but a {}", describe(kind)),
        ));
    }
    read_limited(File::from(fd), limit, stat.st_size as u64)
}

fn describe(kind: FileType) -> &'static str {
    match kind {
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        _ => "special file",
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn only_regular_files_are_read_and_nothing_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("wapp.sig");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0)
            .unwrap();
        let started = Instant::now();
        let error = read_regular(&fifo, 64).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(error.to_string(), "not a regular file but a FIFO");
        let error = read_regular(dir.path(), 64).unwrap_err();
        assert_eq!(error.to_string(), "not a regular file but a directory");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
        assert!(read_regular(&link, 64).is_err(), "followed a symlink");
        let file = dir.path().join("file");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(read_regular(&file, 5).unwrap(), b"12345");
        assert!(read_regular(&file, 4).is_err(), "read past the limit");
    }
}
