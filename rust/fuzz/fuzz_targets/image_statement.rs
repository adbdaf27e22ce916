//! An image's signed statement past its signature: the dm-verity parameters
//! the mount helper maps the image with come from here, so every value a
//! signer could put there is tried, signed by a trusted key. Parameters that
//! pass fit together (the hash tree starts where the data ends, blocks of
//! 4096, a sha256 root hash and salt, the image file's very name and size);
//! anything else is refused with a reason. Signing and verifying gives back
//! the statement that was signed.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use weft_verify::image::check_image_statement;
use weft_verify::keys::{KeyId, TrustedKeys};
use weft_verify::statement::{FORMAT, Statement};

/// The image file the statement must describe.
const IMAGE: &str = "org.weft.hello-0.1.0.wimg";
/// Its size: 2 blocks of data and 1 of hash tree.
const IMAGE_SIZE: u64 = 3 * 4096;

struct Fixture {
    _dir: tempfile::TempDir,
    key: ed25519_dalek::SigningKey,
    trusted: TrustedKeys,
    image: PathBuf,
    signature: PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let public = dir.path().join("trusted/k.pub");
        std::fs::create_dir_all(public.parent().unwrap()).unwrap();
        weft_verify::keys::generate_key(&dir.path().join("k"), &public).unwrap();
        let key = weft_verify::keys::load_signing_key(&dir.path().join("k")).unwrap();
        let trusted = TrustedKeys::load(&dir.path().join("trusted")).unwrap();
        let image = dir.path().join(IMAGE);
        std::fs::write(&image, vec![0; IMAGE_SIZE as usize]).unwrap();
        let signature = dir.path().join("statement.sig");
        Fixture { _dir: dir, key, trusted, image, signature }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(mut statement) = toml::from_str::<Statement>(text) else { return };
    let fixture = fixture();
    statement.key = KeyId::of(&fixture.key.verifying_key()).as_str().to_owned();
    let signed = statement.sign(&fixture.key);
    match Statement::verify(&signed, &fixture.trusted) {
        Ok(verified) => assert_eq!(verified, statement, "changed by signing"),
        // Only a statement of another format is refused once signed.
        Err(error) => {
            assert_ne!(statement.format, FORMAT, "{error}");
            return weft_fuzz::explains(&error);
        }
    }
    std::fs::write(&fixture.signature, &signed).unwrap();
    match check_image_statement(&fixture.image, &fixture.signature, &fixture.trusted) {
        Ok((_, params)) => {
            let hex = |text: &str| text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
            assert_eq!(params.file, IMAGE);
            assert_eq!(params.size, IMAGE_SIZE);
            assert_eq!(params.hash_offset, params.data_size);
            assert!(params.data_size > 0 && params.data_size.is_multiple_of(4096));
            assert!(params.size > params.data_size);
            assert_eq!((params.data_block_size, params.hash_block_size), (4096, 4096));
            assert_eq!(params.hash_algorithm, "sha256");
            assert!(hex(&params.root_hash) && hex(&params.salt), "{params:?}");
            assert!(Path::new(&params.file).file_name().is_some());
        }
        Err(error) => weft_fuzz::explains(&error),
    }
});
