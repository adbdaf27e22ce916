//! The signed statement and the signature file that carries it
//! (`docs/package-format.md` is the normative description).

use ed25519_dalek::{Signature, Signer, SigningKey};
use serde::{Deserialize, Serialize};

use crate::keys::{KeyId, TrustedKeys};
use crate::tree::Entry;

/// The statement format this code writes and reads.
pub const FORMAT: u32 = 1;
/// Bytes signed before the statement text, so a WEFT key's signature cannot be
/// taken for a signature in another protocol (and the other way round).
pub const SIGNING_CONTEXT: &[u8] = b"weft-package-statement-v1\0";
/// Largest signature file accepted, in bytes.
pub const MAX_SIGNATURE_FILE_BYTES: u64 = 32 << 20;

/// What a signature vouches for: the package's identity, the key, every entry,
/// and (for images) the dm-verity parameters of the image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Statement {
    /// [`FORMAT`].
    pub format: u32,
    /// The app id (as in `wapp.toml`).
    pub id: String,
    /// The app version (as in `wapp.toml`).
    pub version: String,
    /// The signing key's id.
    pub key: String,
    /// SHA-256 of the canonical entry list ([`crate::tree::list_digest`]).
    pub files_sha256: String,
    /// The image parameters; present only in an image's statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageParams>,
    /// Every entry of the package, sorted by path.
    pub files: Vec<Entry>,
}

/// The dm-verity parameters of an image, as `veritysetup format` made them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImageParams {
    /// The image file's name, `<id>-<version>.wimg`.
    pub file: String,
    /// The image file's total size in bytes (EROFS data plus hash tree).
    pub size: u64,
    /// Size of the EROFS data area in bytes; the hash tree starts here.
    pub data_size: u64,
    /// Byte offset of the verity superblock and hash tree (equals `data-size`).
    pub hash_offset: u64,
    /// The verity hash algorithm.
    pub hash_algorithm: String,
    /// Data block size in bytes.
    pub data_block_size: u32,
    /// Hash block size in bytes.
    pub hash_block_size: u32,
    /// The verity salt, hex.
    pub salt: String,
    /// The verity root hash, hex.
    pub root_hash: String,
    /// The EROFS filesystem UUID.
    pub erofs_uuid: String,
}

/// The signature file: the statement's exact text and the signature over it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    format: u32,
    signature: String,
    statement: String,
}

/// Why a signature file was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// Not a signature file of a format this code reads.
    #[error("the signature file is malformed: {0}")]
    Malformed(String),
    /// The signature does not verify against the named key.
    #[error("the signature does not verify with key {0}: the statement or signature was altered")]
    BadSignature(KeyId),
    /// Signed by a key that is not trusted here.
    #[error("signed by key {key}, which is not among the trusted keys in {dir}")]
    UntrustedKey {
        /// The key id the statement names.
        key: String,
        /// The trusted keys directory.
        dir: String,
    },
}

impl Statement {
    /// Signs the statement with `key` (whose id must be in `self.key`) and
    /// returns the signature file's text.
    pub fn sign(&self, key: &SigningKey) -> String {
        debug_assert_eq!(self.key, KeyId::of(&key.verifying_key()).as_str());
        let statement = toml::to_string(self).expect("a statement always serializes");
        let signature = key.sign(&signed_bytes(&statement));
        toml::to_string(&SignatureFile {
            format: FORMAT,
            signature: hex::encode(signature.to_bytes()),
            statement,
        })
        .expect("a signature file always serializes")
    }

    /// Reads a signature file, checks the signature against the trusted keys and
    /// returns the statement. Nothing in the statement is trusted before this.
    pub fn verify(signature_file: &str, trusted: &TrustedKeys) -> Result<Self, SignatureError> {
        let file: SignatureFile = toml::from_str(signature_file)
            .map_err(|error| SignatureError::Malformed(error.message().to_owned()))?;
        if file.format != FORMAT {
            return Err(SignatureError::Malformed(format!(
                "format {} is not {FORMAT}, the one this weft-pack reads",
                file.format
            )));
        }
        // The key id is read from the (not yet trusted) statement only to pick
        // the key; the signature check below is what makes it authoritative.
        let unverified: Self = toml::from_str(&file.statement).map_err(|error| {
            SignatureError::Malformed(format!("statement: {}", error.message()))
        })?;
        let key_id = KeyId::from_hex(&unverified.key)
            .ok_or_else(|| SignatureError::Malformed(format!("key id {:?}", unverified.key)))?;
        let key = trusted.get(&key_id).ok_or_else(|| SignatureError::UntrustedKey {
            key: unverified.key.clone(),
            dir: trusted.dir().display().to_string(),
        })?;
        let bytes: [u8; 64] = hex::decode(&file.signature)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| SignatureError::Malformed("signature is not 64 hex bytes".into()))?;
        key.verify_strict(&signed_bytes(&file.statement), &Signature::from_bytes(&bytes))
            .map_err(|_| SignatureError::BadSignature(key_id))?;
        if unverified.format != FORMAT {
            return Err(SignatureError::Malformed(format!(
                "statement format {}",
                unverified.format
            )));
        }
        Ok(unverified)
    }
}

fn signed_bytes(statement: &str) -> Vec<u8> {
    [SIGNING_CONTEXT, statement.as_bytes()].concat()
}
