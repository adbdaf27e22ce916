//! Statements a long-running verifier (weft-appd) checked before, kept by
//! their signature file's SHA-256, and the manifests they signed, kept parsed
//! by their SHA-256: a launch of an unchanged package does not parse and check
//! the same signature, nor parse the same manifest, again.

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};
use weft_manifest::Manifest;

use crate::kept::Kept;
use crate::keys::{KeyId, TrustedKeys};
use crate::statement::{SignatureError, Statement};

/// How many statements (and manifests) are kept; past it, all are forgotten
/// at once.
const MAX_KEPT: usize = 256;

/// Statements verified before, by their signature file's SHA-256, with the
/// key that verified each; manifests parsed before, by their SHA-256.
#[derive(Debug, Default)]
pub struct VerifiedStatements {
    kept: Kept<[u8; 32], (KeyId, VerifyingKey, Statement), MAX_KEPT>,
    manifests: Kept<[u8; 32], Manifest, MAX_KEPT>,
}

impl VerifiedStatements {
    /// No statement kept yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// [`Statement::verify`], answered from what was kept when `signature_file`
    /// is byte for byte one verified before and its key is still among the
    /// `trusted` ones (the very key, not only its id): the answer is then the
    /// one checking it again would give.
    pub fn verify(
        &self,
        signature_file: &str,
        trusted: &TrustedKeys,
    ) -> Result<Statement, SignatureError> {
        let digest: [u8; 32] = Sha256::digest(signature_file.as_bytes()).into();
        if let Some((id, key, statement)) = self.kept.get(&digest)
            && trusted.get(&id) == Some(&key)
        {
            return Ok(statement);
        }
        let statement = Statement::verify(signature_file, trusted)?;
        let id = KeyId::from_hex(&statement.key).expect("a verified statement names its key");
        let key = *trusted.get(&id).expect("a verified statement's key is trusted");
        self.kept.insert(digest, (id, key, statement.clone()));
        Ok(statement)
    }

    /// The manifest whose bytes have the SHA-256 `digest`: the one parsed
    /// from the same bytes before, else what `parse` gives (kept when it is a
    /// manifest; a refusal is not kept). Parsing depends on the bytes alone,
    /// so the answer is the one parsing them again would give.
    pub fn manifest<E>(
        &self,
        digest: [u8; 32],
        parse: impl FnOnce() -> Result<Manifest, E>,
    ) -> Result<Manifest, E> {
        self.manifests.get_or_make(digest, |_| parse())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{generate_key, load_signing_key};
    use crate::statement::FORMAT;

    fn statement_by(key_id: &KeyId, version: &str) -> Statement {
        Statement {
            format: FORMAT,
            id: "org.weft.hello".into(),
            version: version.into(),
            key: key_id.to_string(),
            files_sha256: "0".repeat(64),
            image: None,
            files: Vec::new(),
        }
    }

    #[test]
    fn a_kept_statement_is_answered_only_while_its_key_is_trusted_and_its_bytes_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let trusted_dir = dir.path().join("trusted");
        std::fs::create_dir(&trusted_dir).unwrap();
        let id = generate_key(&dir.path().join("dev.key"), &trusted_dir.join("dev.pub")).unwrap();
        let key = load_signing_key(&dir.path().join("dev.key")).unwrap();
        let signed = statement_by(&id, "1.0.0").sign(&key);
        let verified = VerifiedStatements::new();

        let trusted = TrustedKeys::load(&trusted_dir).unwrap();
        assert_eq!(verified.verify(&signed, &trusted).unwrap().version, "1.0.0");
        assert_eq!(verified.verify(&signed, &trusted).unwrap().version, "1.0.0", "kept");

        // The same bytes once the key is no longer trusted: refused, as a
        // first check would refuse them.
        std::fs::remove_file(trusted_dir.join("dev.pub")).unwrap();
        let untrusting = TrustedKeys::load(&trusted_dir).unwrap();
        assert!(
            matches!(
                verified.verify(&signed, &untrusting),
                Err(SignatureError::UntrustedKey { .. })
            ),
            "a kept statement outlived its key's trust"
        );

        // Other bytes (the statement altered after signing) are checked again.
        let altered = signed.replace("1.0.0", "9.0.0");
        assert_ne!(altered, signed);
        assert!(matches!(
            verified.verify(&altered, &trusted),
            Err(SignatureError::BadSignature(_))
        ));
    }

    #[test]
    fn a_manifest_is_parsed_once_per_content_and_a_refusal_is_not_kept() {
        let text = r#"
[package]
id = "org.weft.hello"
name = "Hello"
version = "0.1.0"
capabilities = []
[runtime]
module = "app.wasm"
[ui]
entry = "ui/index.html"
"#;
        let digest = |text: &str| -> [u8; 32] { Sha256::digest(text.as_bytes()).into() };
        let verified = VerifiedStatements::new();
        let parses = std::cell::Cell::new(0);
        let parse = |text: &str| {
            parses.set(parses.get() + 1);
            Manifest::parse(text)
        };

        let first = verified.manifest(digest(text), || parse(text)).unwrap();
        let again = verified.manifest(digest(text), || parse(text)).unwrap();
        assert_eq!((first.id.as_str(), &first), ("org.weft.hello", &again));
        assert_eq!(parses.get(), 1, "the same bytes were parsed again");

        // Other bytes are parsed, and a refusal is answered every time.
        let other = text.replace("0.1.0", "0.2.0");
        assert_eq!(
            verified.manifest(digest(&other), || parse(&other)).unwrap().version.to_string(),
            "0.2.0"
        );
        let broken = text.replace("[runtime]", "[runtime");
        assert!(verified.manifest(digest(&broken), || parse(&broken)).is_err());
        assert!(verified.manifest(digest(&broken), || parse(&broken)).is_err());
        assert_eq!(parses.get(), 4);
    }
}
