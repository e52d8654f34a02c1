//! The people who sign in to the web consoles: a name, a role (the same as the API's
//! tokens), for an agent the extension they answer on, their language, and an Argon2id hash
//! of their password in the PHC string form (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
//! Passwords themselves are never kept: `switchboard hash-password` makes the hash for the
//! configuration.

use crate::access::Role;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2};

/// The language a console is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// Simplified Chinese, the default.
    #[default]
    Chinese,
    English,
}

impl Language {
    /// From its configuration name (`zh-CN`, `en`).
    pub fn parse(s: &str) -> Option<Language> {
        match s {
            "zh-CN" => Some(Language::Chinese),
            "en" => Some(Language::English),
            _ => None,
        }
    }
}

/// A console user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleUser {
    pub name: String,
    pub role: Role,
    /// An agent's extension: they act on its calls only.
    pub agent: Option<String>,
    pub language: Language,
    /// Argon2id, PHC string.
    pub password_hash: String,
}

impl ConsoleUser {
    /// Whether `password` is this user's. A hash that does not parse matches nothing.
    pub fn verify(&self, password: &str) -> bool {
        verify_hash(&self.password_hash, password)
    }
}

/// Whether `password` is the one `hash` (a PHC string) was made of; a hash that does not
/// parse matches nothing.
pub fn verify_hash(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// An Argon2id hash of `password` with a fresh random salt and the crate's default cost
/// (19 MiB, two passes: RFC 9106's second recommended option), as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks that `hash` is an Argon2id PHC string (what the configuration must hold); says
/// what is wrong otherwise.
pub fn check_hash(hash: &str) -> Result<(), String> {
    let h = PasswordHash::new(hash).map_err(|e| format!("not a PHC password hash ({e})"))?;
    if h.algorithm != Algorithm::Argon2id.ident() {
        return Err(format!(
            "the hash is {}, not argon2id (make one with `switchboard hash-password`)",
            h.algorithm
        ));
    }
    if h.hash.is_none() || h.salt.is_none() {
        return Err("the hash has no salt or no digest".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_password_verifies_and_nothing_else_does() {
        let hash = hash_password("night shift 42").expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert_eq!(check_hash(&hash), Ok(()));
        let user = ConsoleUser {
            name: "wang".into(),
            role: Role::Agent,
            agent: Some("1003".into()),
            language: Language::Chinese,
            password_hash: hash.clone(),
        };
        assert!(user.verify("night shift 42"));
        assert!(!user.verify("night shift 43"));
        assert!(!user.verify(""));
        // Two hashes of one password differ (their salts), and both verify.
        let again = hash_password("night shift 42").expect("hash");
        assert_ne!(again, hash);
        let other = ConsoleUser {
            password_hash: again,
            ..user.clone()
        };
        assert!(other.verify("night shift 42"));
        // A broken hash matches nothing.
        let broken = ConsoleUser {
            password_hash: "$argon2id$v=19$garbage".into(),
            ..user
        };
        assert!(!broken.verify("night shift 42"));
    }

    #[test]
    fn only_argon2id_phc_strings_are_taken() {
        assert!(check_hash("hunter2").unwrap_err().contains("PHC"));
        let argon2i = "$argon2i$v=19$m=16,t=2,p=1$c29tZXNhbHQ$YcB8fwKLPpT6MQnKBFXDuQ";
        assert!(check_hash(argon2i).unwrap_err().contains("not argon2id"));
        assert_eq!(Language::parse("en"), Some(Language::English));
        assert_eq!(Language::parse("zh-CN"), Some(Language::Chinese));
        assert_eq!(Language::parse("fr"), None);
    }
}
