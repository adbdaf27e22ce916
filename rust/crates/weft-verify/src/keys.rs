//! Signing keys, key ids and the directory of trusted public keys.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::kept::Kept;

/// Where a WEFT system keeps the public keys it trusts.
pub const DEFAULT_TRUSTED_KEYS_DIR: &str = "/etc/weft/trusted-keys";
/// The environment variable that overrides [`DEFAULT_TRUSTED_KEYS_DIR`].
pub const TRUSTED_KEYS_ENV: &str = "WEFT_TRUSTED_KEYS";
/// Largest key file read, in bytes (a PEM Ed25519 key is about 120).
const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;

/// A key id: the first 8 bytes of SHA-256 over the 32-byte public key, as 16
/// lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// The id of `key`.
    pub fn of(key: &VerifyingKey) -> Self {
        Self(hex::encode(&Sha256::digest(key.as_bytes())[..8]))
    }

    /// Parses a key id written as 16 lowercase hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        (text.len() == 16 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key file already exists; keys are never overwritten.
    #[error("{} already exists; refusing to overwrite a key", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("cannot access {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A file is not a PEM Ed25519 key of the expected kind.
    #[error("{} is not a PEM Ed25519 {kind} key", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// "private" or "public".
        kind: &'static str,
    },
    /// The operating system gave no randomness.
    #[error("cannot get randomness for a new key: {0}")]
    Random(getrandom::Error),
}

/// Generates a key pair: the private key goes to `private` (mode 0600, PKCS#8
/// PEM), the public key to `public` (SPKI PEM). Neither file may exist yet.
pub fn generate_key(private: &Path, public: &Path) -> Result<KeyId, KeyError> {
    for path in [private, public] {
        if fs::symlink_metadata(path).is_ok() {
            return Err(KeyError::Exists { path: path.to_owned() });
        }
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(KeyError::Random)?;
    let key = SigningKey::from_bytes(&secret);
    secret.fill(0);
    let private_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| KeyError::Malformed { path: private.to_owned(), kind: "private" })?;
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|_| KeyError::Malformed { path: public.to_owned(), kind: "public" })?;
    write_new(private, private_pem.as_bytes(), 0o600)?;
    write_new(public, public_pem.as_bytes(), 0o644)?;
    Ok(KeyId::of(&key.verifying_key()))
}

/// Creates `path` with `mode` and writes `bytes`; fails if it exists.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let io_error = |source: io::Error| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            KeyError::Exists { path: path.to_owned() }
        } else {
            KeyError::Io { path: path.to_owned(), source }
        }
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_error)?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(io_error)
}

fn read_key_file(path: &Path) -> Result<String, KeyError> {
    let io_error = |source| KeyError::Io { path: path.to_owned(), source };
    let bytes = crate::files::read_regular(path, MAX_KEY_FILE_BYTES).map_err(|error| {
        if error.kind() == io::ErrorKind::FileTooLarge {
            KeyError::Malformed { path: path.to_owned(), kind: "(oversized)" }
        } else {
            io_error(error)
        }
    })?;
    String::from_utf8(bytes)
        .map_err(|_| io_error(io::Error::new(io::ErrorKind::InvalidData, "not UTF-8")))
}

/// Reads a private key written by [`generate_key`].
pub fn load_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let pem = read_key_file(path)?;
    SigningKey::from_pkcs8_pem(&pem)
        .map_err(|_| KeyError::Malformed { path: path.to_owned(), kind: "private" })
}

/// Reads a public key written by [`generate_key`].
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    decode_verifying_key(path, &read_key_file(path)?)
}

/// The public key in `pem`, the text of the key file at `path`.
fn decode_verifying_key(path: &Path, pem: &str) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_public_key_pem(pem)
        .map_err(|_| KeyError::Malformed { path: path.to_owned(), kind: "public" })
}

/// How many decoded keys [`DecodedKeys`] keeps; past it, all are forgotten.
const MAX_DECODED_KEYS: usize = 64;

/// Public keys decoded before, by their key file's text: a long-running
/// verifier (weft-appd) reads the trusted keys at every launch, and decoding
/// a key (its curve point) costs more than reading its file.
#[derive(Debug, Default)]
pub struct DecodedKeys {
    keys: Kept<String, VerifyingKey, MAX_DECODED_KEYS>,
}

impl DecodedKeys {
    /// Nothing decoded yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The public key in `pem`, the text of the key file at `path`.
    fn decode(&self, path: &Path, pem: String) -> Result<VerifyingKey, KeyError> {
        self.keys.get_or_make(pem, |pem| decode_verifying_key(path, pem))
    }
}

/// The public keys a system trusts, by key id.
#[derive(Clone, Debug)]
pub struct TrustedKeys {
    dir: PathBuf,
    keys: BTreeMap<KeyId, VerifyingKey>,
}

impl TrustedKeys {
    /// Loads every `*.pub` file in `dir`. A missing directory trusts nothing; a
    /// malformed key file is an error (a typo must not silently drop trust).
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        Self::load_with(dir, &DecodedKeys::new())
    }

    /// [`TrustedKeys::load`], taking each key from `decoded` when its file's
    /// text was decoded before: every file is still listed and read, so the
    /// keys are the directory's as it is now.
    pub fn load_with(dir: &Path, decoded: &DecodedKeys) -> Result<Self, KeyError> {
        let mut keys = BTreeMap::new();
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok(Self { dir: dir.to_owned(), keys });
            }
            Err(source) => return Err(KeyError::Io { path: dir.to_owned(), source }),
        };
        for entry in entries {
            let entry = entry.map_err(|source| KeyError::Io { path: dir.to_owned(), source })?;
            let path = entry.path();
            if path.extension().is_some_and(|extension| extension == "pub") {
                let key = decoded.decode(&path, read_key_file(&path)?)?;
                keys.insert(KeyId::of(&key), key);
            }
        }
        Ok(Self { dir: dir.to_owned(), keys })
    }

    /// Loads the directory named by `--trusted-keys`, else `$WEFT_TRUSTED_KEYS`,
    /// else [`DEFAULT_TRUSTED_KEYS_DIR`].
    pub fn load_default(flag: Option<&Path>) -> Result<Self, KeyError> {
        let dir = flag.map(Path::to_owned).unwrap_or_else(|| {
            std::env::var_os(TRUSTED_KEYS_ENV)
                .map_or_else(|| PathBuf::from(DEFAULT_TRUSTED_KEYS_DIR), PathBuf::from)
        });
        Self::load(&dir)
    }

    /// The key with `id`, if trusted.
    pub fn get(&self, id: &KeyId) -> Option<&VerifyingKey> {
        self.keys.get(id)
    }

    /// The directory the keys came from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn generated_keys_load_back_and_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("dev.key");
        let public = dir.path().join("dev.pub");
        let id = generate_key(&private, &public).unwrap();
        assert_eq!(id.as_str().len(), 16);
        assert_eq!(fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
        let signing = load_signing_key(&private).unwrap();
        let verifying = load_verifying_key(&public).unwrap();
        assert_eq!(signing.verifying_key(), verifying);
        assert_eq!(KeyId::of(&verifying), id);

        let before = fs::read(&private).unwrap();
        assert!(matches!(
            generate_key(&private, &dir.path().join("other.pub")),
            Err(KeyError::Exists { .. })
        ));
        assert!(matches!(
            generate_key(&dir.path().join("other.key"), &public),
            Err(KeyError::Exists { .. })
        ));
        assert_eq!(fs::read(&private).unwrap(), before);
        assert!(!dir.path().join("other.key").exists());

        let trusted = TrustedKeys::load(dir.path()).unwrap();
        assert_eq!(trusted.get(&id), Some(&verifying));
        // A private key is not a public key, and junk is refused by name.
        assert!(matches!(
            load_verifying_key(&private),
            Err(KeyError::Malformed { kind: "public", .. })
        ));
        fs::write(dir.path().join("junk.pub"), "not a key").unwrap();
        let error = TrustedKeys::load(dir.path()).unwrap_err();
        assert!(error.to_string().contains("junk.pub is not a PEM Ed25519 public key"), "{error}");
    }

    #[test]
    fn a_missing_trusted_keys_dir_trusts_nothing() {
        let trusted = TrustedKeys::load(Path::new("/nonexistent/weft/keys")).unwrap();
        assert!(trusted.keys.is_empty());
    }

    #[test]
    fn keys_decoded_before_follow_the_directory_as_it_is_now() {
        let dir = tempfile::tempdir().unwrap();
        let trusted_dir = dir.path().join("trusted");
        fs::create_dir(&trusted_dir).unwrap();
        let first = generate_key(&dir.path().join("a.key"), &trusted_dir.join("dev.pub")).unwrap();
        let second = generate_key(&dir.path().join("b.key"), &dir.path().join("b.pub")).unwrap();
        let decoded = DecodedKeys::new();
        assert!(TrustedKeys::load_with(&trusted_dir, &decoded).unwrap().get(&first).is_some());

        // The same file name, another key: the new key is trusted, not the old.
        fs::copy(dir.path().join("b.pub"), trusted_dir.join("dev.pub")).unwrap();
        let trusted = TrustedKeys::load_with(&trusted_dir, &decoded).unwrap();
        assert!(trusted.get(&first).is_none(), "a decoded key outlived its file");
        assert!(trusted.get(&second).is_some());

        // Removed: trusted no more. Junk: refused by name, as without the cache.
        fs::remove_file(trusted_dir.join("dev.pub")).unwrap();
        assert!(TrustedKeys::load_with(&trusted_dir, &decoded).unwrap().keys.is_empty());
        fs::write(trusted_dir.join("junk.pub"), "not a key").unwrap();
        let error = TrustedKeys::load_with(&trusted_dir, &decoded).unwrap_err();
        assert!(error.to_string().contains("junk.pub is not a PEM Ed25519 public key"), "{error}");
    }
}
