//! Signing a package directory and verifying one against its signature.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use weft_manifest::{AppId, AppIdError, Manifest};

use crate::inspect::{
    DirFiles, InspectError, Inspection, PackageFiles, inspect_files, read_manifest,
};
use crate::keys::{KeyId, TrustedKeys};
use crate::statement::{FORMAT, MAX_SIGNATURE_FILE_BYTES, SignatureError, Statement};
use crate::tree::{self, Entry, SIGNATURE_FILE, TreeError, TreeMismatch};

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

/// A package whose signature and files checked out, read for a launch: its
/// content was inspected when it was installed, and its files are still the
/// ones signed, so only its manifest is read again.
#[derive(Clone, Debug)]
pub struct Intact {
    /// The verified statement.
    pub statement: Statement,
    /// The package's manifest, its id and version the signed ones.
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

/// Verifies the package in `dir` as a launch needs it: the signature, every
/// entry (nothing missing, added, retyped, re-moded or changed), the list
/// digest, and the manifest's id and version against the signed ones. The
/// content checks of [`verify_package`] (the component's validation, its
/// imports against the grants, the UI entry) are not repeated: they passed
/// when the package was installed, and the files are byte for byte the ones
/// signed then. The runtime checks the imports again when it links.
pub fn verify_intact(dir: &Path, trusted: &TrustedKeys) -> Result<Intact, PackageError> {
    let (statement, actual) = signed_package(dir, trusted)?;
    let id = check_entries(&statement, &actual)?;
    let manifest = read_manifest(&DirFiles::new(dir))?;
    check_identity(&manifest, &statement, &id)?;
    Ok(Intact { statement, manifest })
}

/// A package directory's verified statement and its entries as they are.
fn signed_package(
    dir: &Path,
    trusted: &TrustedKeys,
) -> Result<(Statement, Vec<Entry>), PackageError> {
    let signature = read_signature_file(&dir.join(SIGNATURE_FILE))?;
    let statement = Statement::verify(&signature, trusted)?;
    if statement.image.is_some() {
        return Err(PackageError::WrongStatementKind(
            "this signature is for an image, not for a package directory",
        ));
    }
    Ok((statement, tree::scan(dir)?))
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
    let id = AppId::new(&statement.id)
        .map_err(|source| PackageError::SignedId { id: statement.id.clone(), source })?;
    tree::compare(&statement.files, actual)?;
    if tree::list_digest(actual) != statement.files_sha256 {
        return Err(PackageError::ListDigest);
    }
    Ok(id)
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
