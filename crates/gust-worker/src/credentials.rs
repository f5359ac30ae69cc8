//! Each function's own credentials, as Lambda gives an execution environment the
//! temporary credentials of its role: `AWS_ACCESS_KEY_ID` (an `ASIA...` id),
//! `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, with which AWS's SDKs sign
//! their calls back to gust. gust accepts them while the function exists; deleting
//! the function revokes them.
//!
//! They are derived from a secret drawn when gust starts (instances do not outlive
//! gust, so neither need their credentials), so that every instance of a function
//! gets the same ones without a lookup on the cold-start path.

use std::collections::HashMap;

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

/// One function's credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// `AWS_SESSION_TOKEN`.
    pub session_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Issues and checks functions' credentials.
pub struct FunctionKeys {
    seed: [u8; 32],
    /// Issued key id → (function, secret).
    issued: Mutex<HashMap<String, (String, String)>>,
}

impl Default for FunctionKeys {
    fn default() -> Self {
        FunctionKeys::new()
    }
}

impl FunctionKeys {
    /// Keys from a new random secret.
    pub fn new() -> FunctionKeys {
        let mut seed = [0u8; 32];
        seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        seed[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        FunctionKeys {
            seed,
            issued: Mutex::new(HashMap::new()),
        }
    }

    fn derive(&self, label: &str, input: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.seed);
        h.update(label.as_bytes());
        h.update([0]);
        h.update(input.as_bytes());
        h.finalize().into()
    }

    /// The credentials of `function` (the same every time until revoked).
    pub fn issue(&self, function: &str) -> Credentials {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let id_bytes = self.derive("access-key-id", function);
        let id: String = std::iter::once("ASIA".to_string())
            .chain(
                id_bytes[..16]
                    .iter()
                    .map(|b| (ALPHABET[usize::from(b % 32)] as char).to_string()),
            )
            .collect();
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let secret = hex(&self.derive("secret", &id)[..20]);
        let token = hex(&self.derive("token", &id));
        self.issued
            .lock()
            .insert(id.clone(), (function.to_string(), secret.clone()));
        Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: token,
        }
    }

    /// The secret of an issued key id, while its function exists.
    pub fn secret(&self, access_key_id: &str) -> Option<String> {
        self.issued
            .lock()
            .get(access_key_id)
            .map(|(_, secret)| secret.clone())
    }

    /// The function a key id was issued to.
    pub fn function_of(&self, access_key_id: &str) -> Option<String> {
        self.issued
            .lock()
            .get(access_key_id)
            .map(|(f, _)| f.clone())
    }

    /// Revokes `function`'s credentials (it was deleted).
    pub fn revoke(&self, function: &str) {
        self.issued.lock().retain(|_, (f, _)| f != function);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_stable_per_function_and_revocable() {
        let keys = FunctionKeys::new();
        let a = keys.issue("a");
        assert_eq!(keys.issue("a"), a);
        assert!(a.access_key_id.starts_with("ASIA") && a.access_key_id.len() == 20);
        let b = keys.issue("b");
        assert_ne!(a.access_key_id, b.access_key_id);
        assert_eq!(
            keys.secret(&a.access_key_id),
            Some(a.secret_access_key.clone())
        );
        assert_eq!(keys.function_of(&b.access_key_id).as_deref(), Some("b"));
        keys.revoke("a");
        assert_eq!(keys.secret(&a.access_key_id), None);
        assert!(keys.secret(&b.access_key_id).is_some());
        // Another gust's keys are not these.
        assert_ne!(FunctionKeys::new().issue("a"), a);
    }
}
