//! An app image's EROFS filesystem, read back in userspace before anything
//! mounts it: weft-appd lists apps by reading `wapp.toml` out of image files
//! in the image directory, and `weft-pack verify` walks every file. A mutated
//! or hand-made image must be refused with a reason, never crash the reader.
#![no_main]

use std::io::Read;

use erofs_rs::EroFS;
use erofs_rs::backend::SliceImage;
use libfuzzer_sys::fuzz_target;

/// The most read from one file (the listing reads at most a manifest's worth).
const MAX_READ: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let erofs = match EroFS::new(SliceImage::new(data)) {
        Ok(erofs) => erofs,
        Err(error) => return weft_fuzz::explains(&error),
    };
    // What weft-appd's listing does: the manifest, bounded.
    if let Ok(file) = erofs.open("/wapp.toml") {
        let mut text = Vec::new();
        let _ = file.take(MAX_READ).read_to_end(&mut text);
    }
    // What verification does: every entry, every file read.
    let Ok(walk) = erofs.walk_dir("/") else { return };
    for item in walk.take(4096) {
        let Ok(item) = item else { continue };
        if item.inode.is_file()
            && let Ok(file) = erofs.open_inode_file(item.inode)
        {
            let mut bytes = Vec::new();
            let _ = file.take(MAX_READ).read_to_end(&mut bytes);
        }
    }
});
