//! A key file as anyone with write access to a key directory, or a user
//! handing `weft-pack` a key, could make it: the trusted keys' `*.pub` files
//! (SPKI PEM) and a signing key (PKCS#8 PEM). A public key that loads has
//! one id, the one its key gives, and the directory it sits in trusts it
//! under that id; a signing key that loads signs what its public half
//! verifies; anything else is refused with a reason naming the file.
#![no_main]

use std::sync::OnceLock;

use ed25519_dalek::{Signer, Verifier};
use libfuzzer_sys::fuzz_target;
use weft_verify::keys::{KeyId, TrustedKeys, load_signing_key, load_verifying_key};

/// A directory for the key file, made once per run.
fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir_in("/dev/shm").unwrap())
}

fuzz_target!(|data: &[u8]| {
    let path = dir().path().join("k.pub");
    std::fs::write(&path, data).unwrap();
    match load_verifying_key(&path) {
        Ok(key) => {
            let id = KeyId::of(&key);
            assert_eq!(KeyId::from_hex(id.as_str()).as_ref(), Some(&id));
            let trusted = TrustedKeys::load(dir().path()).expect("the key just loaded");
            assert_eq!(trusted.get(&id), Some(&key));
        }
        Err(error) => {
            assert!(error.to_string().contains("k.pub"), "{error}");
            assert!(TrustedKeys::load(dir().path()).is_err(), "a bad key file dropped silently");
        }
    }
    match load_signing_key(&path) {
        Ok(key) => {
            let signature = key.sign(data);
            assert!(key.verifying_key().verify(data, &signature).is_ok());
        }
        Err(error) => assert!(error.to_string().contains("k.pub"), "{error}"),
    }
});
