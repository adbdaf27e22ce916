//! What a long-running verifier (weft-appd) made before and may answer again:
//! a bounded map, forgotten whole once full (a verifier sees few distinct
//! packages and keys; the bound only stops a stream of new ones from growing
//! it without end).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// At most `LIMIT` values, by key.
#[derive(Debug)]
pub(crate) struct Kept<K, V, const LIMIT: usize> {
    entries: Mutex<HashMap<K, V>>,
}

impl<K, V, const LIMIT: usize> Default for Kept<K, V, LIMIT> {
    fn default() -> Self {
        Self { entries: Mutex::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash, V: Clone, const LIMIT: usize> Kept<K, V, LIMIT> {
    /// The value kept for `key`.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        self.entries.lock().expect("kept values lock").get(key).cloned()
    }

    /// Keeps `value` for `key`; when `LIMIT` values are kept, all are
    /// forgotten first.
    pub(crate) fn insert(&self, key: K, value: V) {
        let mut entries = self.entries.lock().expect("kept values lock");
        if entries.len() >= LIMIT {
            entries.clear();
        }
        entries.insert(key, value);
    }

    /// The value kept for `key`, else what `make` gives for it, kept (an
    /// error is not).
    pub(crate) fn get_or_make<E>(
        &self,
        key: K,
        make: impl FnOnce(&K) -> Result<V, E>,
    ) -> Result<V, E> {
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        let value = make(&key)?;
        self.insert(key, value.clone());
        Ok(value)
    }
}
