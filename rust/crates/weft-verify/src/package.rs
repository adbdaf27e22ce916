//! Signing a package directory and verifying one against its signature.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use weft_manifest::{AppId, AppIdError, Manifest};

use sha2::{Digest, Sha256};
use weft_manifest::{MANIFEST_FILE, MAX_MANIFEST_BYTES};

use crate::inspect::{
    DirFiles, InspectError, Inspection, PackageFiles, inspect_files, parse_manifest,
};
use crate::keys::{KeyId, TrustedKeys};
use crate::statement::{FORMAT, MAX_SIGNATURE_FILE_BYTES, SignatureError, Statement};
use crate::tree::{self, Entry, EntryKind, SIGNATURE_FILE, TreeError, TreeMismatch};
use crate::verified_statements::VerifiedStatements;

/// Why signing or verifying a package failed; each variant names the step.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The package's content does not pass the checks.
    #[error("package check failed")]
    Check(#[from] InspectError),
    /// The package tree holds something a package may not.
    #[error("package tree check failed")]
    Tree(#[from] TreeError),
    /// The signature file is missing or unreadable.
    #[error("cannot read the signature {}", path.display())]
    ReadSignature {
        /// The signature file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The signature file could not be written.
    #[error("cannot write the signature {}", path.display())]
    WriteSignature {
        /// The signature file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The signature is not valid or not trusted.
    #[error("signature check failed")]
    Signature(#[from] SignatureError),
    /// The signed app id is not a valid app id (a forged or hostile statement).
    #[error("the signed app id {id:?} is invalid")]
    SignedId {
        /// The id in the statement.
        id: String,
        /// Why it is invalid.
        #[source]
        source: AppIdError,
    },
    /// The package's files differ from the signed list.
    #[error("the package differs from what was signed")]
    Mismatch(#[from] TreeMismatch),
    /// The entry list does not hash to the signed digest.
    #[error("the signed file list does not match its signed digest")]
    ListDigest,
    /// The manifest names another id or version than the statement.
    #[error("wapp.toml says {field} {manifest:?} but the signature is for {signed:?}")]
    Identity {
        /// "id" or "version".
        field: &'static str,
        /// The value in the manifest.
        manifest: String,
        /// The value in the statement.
        signed: String,
    },
    /// An image's statement where a package's was expected, or the other way round.
    #[error("{0}")]
    WrongStatementKind(&'static str),
}

/// A package whose signature, files and content all checked out.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The verified statement.
    pub statement: Statement,
    /// The content check of the package.
    pub inspection: Inspection,
    /// The verified app id.
    pub id: AppId,
}

/// A package read as a launch starts it: its signature checked out and its
/// manifest is the signed one. Nothing of it may run before its other files
/// passed [`check_files`].
#[derive(Clone, Debug)]
pub struct Signed {
    /// The verified statement.
    pub statement: Statement,
    /// The package's manifest, byte for byte the signed one.
    pub manifest: Manifest,
}

/// Checks the package in `dir`, lists it and writes its signature file
/// ([`SIGNATURE_FILE`]) inside it, atomically. Returns the statement signed.
pub fn sign_package(dir: &Path, key: &SigningKey) -> Result<Statement, PackageError> {
    let (statement, _) = statement_for(dir, key)?;
    let path = dir.join(SIGNATURE_FILE);
    write_atomically(&path, statement.sign(key).as_bytes())
        .map_err(|source| PackageError::WriteSignature { path, source })?;
    Ok(statement)
}

/// Checks and lists the package in `dir` and builds (without signing) the
/// statement that `key` would sign for it.
pub fn statement_for(
    dir: &Path,
    key: &SigningKey,
) -> Result<(Statement, Inspection), PackageError> {
    let inspection = inspect_files(&DirFiles::new(dir))?;
    let files = tree::scan(dir)?;
    let statement = Statement {
        format: FORMAT,
        id: inspection.manifest.id.to_string(),
        version: inspection.manifest.version.to_string(),
        key: KeyId::of(&key.verifying_key()).to_string(),
        files_sha256: tree::list_digest(&files),
        image: None,
        files,
    };
    Ok((statement, inspection))
}

/// Verifies the package in `dir` against its signature file and the trusted
/// keys: signature, every entry (nothing missing, added, retyped, re-moded or
/// changed), then the content checks, then that the manifest's id and version
/// are the signed ones. Fails closed at the first problem.
pub fn verify_package(dir: &Path, trusted: &TrustedKeys) -> Result<Verified, PackageError> {
    let (statement, actual) = signed_package(dir, trusted)?;
    verify_content(statement, &actual, &DirFiles::new(dir))
}

/// Reads the package in `dir` as a launch starts it: the signature against the
/// trusted keys, the manifest's bytes against their signed SHA-256 and size,
/// and its id and version against the signed ones. The content checks of
/// [`verify_package`] passed when the package was installed; the other files
/// are checked by [`check_files`], which a launch runs beside the runtime's
/// start and which must pass before anything of the package runs.
pub fn read_signed(
    dir: &Path,
    trusted: &TrustedKeys,
    verified: &VerifiedStatements,
) -> Result<Signed, PackageError> {
    let signature = read_signature_file(&dir.join(SIGNATURE_FILE))?;
    let statement = package_statement(verified.verify(&signature, trusted)?)?;
    let id = signed_id(&statement)?;
    let files = DirFiles::new(dir);
    let bytes = files
        .read(MANIFEST_FILE, MAX_MANIFEST_BYTES as u64)
        .map_err(|source| InspectError::ManifestRead { location: files.location(), source })?;
    let signed = statement
        .files
        .iter()
        .find(|entry| entry.path == MANIFEST_FILE && entry.kind == EntryKind::File)
        .ok_or_else(|| TreeMismatch::Added(MANIFEST_FILE.to_owned()))?;
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    if signed.sha256.as_deref() != Some(hex::encode(digest).as_str())
        || signed.size != Some(bytes.len() as u64)
    {
        return Err(TreeMismatch::Content(MANIFEST_FILE.to_owned()).into());
    }
    let manifest = verified.manifest(digest, || parse_manifest(&bytes, &files))?;
    check_identity(&manifest, &statement, &id)?;
    Ok(Signed { statement, manifest })
}

/// Checks every entry of the package in `dir` against the `statement`
/// [`read_signed`] verified: nothing missing, added, retyped, re-moded or
/// changed, and the list digest.
pub fn check_files(dir: &Path, statement: &Statement) -> Result<(), PackageError> {
    check_entries(statement, &tree::scan(dir)?).map(drop)
}

/// A package directory's verified statement and its entries as they are.
fn signed_package(
    dir: &Path,
    trusted: &TrustedKeys,
) -> Result<(Statement, Vec<Entry>), PackageError> {
    Ok((signed_statement(dir, trusted)?, tree::scan(dir)?))
}

/// A package directory's statement, its signature verified.
fn signed_statement(dir: &Path, trusted: &TrustedKeys) -> Result<Statement, PackageError> {
    let signature = read_signature_file(&dir.join(SIGNATURE_FILE))?;
    package_statement(Statement::verify(&signature, trusted)?)
}

/// A verified statement, if it is a package directory's (not an image's).
fn package_statement(statement: Statement) -> Result<Statement, PackageError> {
    if statement.image.is_some() {
        return Err(PackageError::WrongStatementKind(
            "this signature is for an image, not for a package directory",
        ));
    }
    Ok(statement)
}

/// Reads a signature file (at most [`MAX_SIGNATURE_FILE_BYTES`], UTF-8).
pub(crate) fn read_signature_file(path: &Path) -> Result<String, PackageError> {
    crate::files::read_regular(path, MAX_SIGNATURE_FILE_BYTES)
        .and_then(|bytes| {
            String::from_utf8(bytes)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"))
        })
        .map_err(|source| PackageError::ReadSignature { path: path.to_owned(), source })
}

/// The checks shared by package directories and images, once the signature
/// verified: the entries, the list digest, the content and the identity.
pub(crate) fn verify_content(
    statement: Statement,
    actual: &[Entry],
    files: &dyn PackageFiles,
) -> Result<Verified, PackageError> {
    let id = check_entries(&statement, actual)?;
    let inspection = inspect_files(files)?;
    check_identity(&inspection.manifest, &statement, &id)?;
    Ok(Verified { statement, inspection, id })
}

/// The signed id, once the entries as they are match the signed list.
fn check_entries(statement: &Statement, actual: &[Entry]) -> Result<AppId, PackageError> {
    let id = signed_id(statement)?;
    tree::compare(&statement.files, actual)?;
    if tree::list_digest(actual) != statement.files_sha256 {
        return Err(PackageError::ListDigest);
    }
    Ok(id)
}

/// The statement's app id, which must be a valid one.
fn signed_id(statement: &Statement) -> Result<AppId, PackageError> {
    AppId::new(&statement.id)
        .map_err(|source| PackageError::SignedId { id: statement.id.clone(), source })
}

/// Refuses a manifest whose id or version is not the signed one.
fn check_identity(
    manifest: &Manifest,
    statement: &Statement,
    id: &AppId,
) -> Result<(), PackageError> {
    if manifest.id != *id {
        return Err(PackageError::Identity {
            field: "id",
            manifest: manifest.id.to_string(),
            signed: statement.id.clone(),
        });
    }
    if manifest.version.to_string() != statement.version {
        return Err(PackageError::Identity {
            field: "version",
            manifest: manifest.version.to_string(),
            signed: statement.version.clone(),
        });
    }
    Ok(())
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path.file_name().and_then(|name| name.to_str()).unwrap_or("file");
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = fs::write(&temporary, bytes)
        .and_then(|()| fs::File::open(&temporary)?.sync_all())
        .and_then(|()| fs::rename(&temporary, path));
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}
