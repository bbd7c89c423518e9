//! API tokens: `ct_<id>_<secret>`. The store keeps only an argon2id hash of the secret; the
//! token itself is shown once, when it is created.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Serialize;

use super::Role;

/// A token as the store keeps it (never the secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// argon2id hash of the secret, in PHC string form.
    #[serde(skip)]
    pub hash: String,
    /// Milliseconds since the Unix epoch.
    pub created: i64,
    pub expires: Option<i64>,
    pub revoked: Option<i64>,
}

impl TokenRecord {
    /// Why the token may not be used at `now`, if it may not.
    pub fn unusable(&self, now: i64) -> Option<String> {
        if let Some(at) = self.revoked {
            return Some(format!(
                "token #{} ({}) was revoked at {}",
                self.id,
                self.name,
                crate::store::format_ms(at)
            ));
        }
        match self.expires {
            Some(at) if at <= now => Some(format!(
                "token #{} ({}) expired at {}",
                self.id,
                self.name,
                crate::store::format_ms(at)
            )),
            _ => None,
        }
    }
}

/// A token to be stored.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    pub hash: String,
    pub expires: Option<i64>,
}

/// The role a stored token names; a role this version does not know is the public's (least
/// privilege), with a warning.
pub fn stored_role(id: i64, role: &str) -> Role {
    Role::parse(role).unwrap_or_else(|| {
        tracing::warn!(
            token = id,
            role,
            "token has an unknown role; treated as public"
        );
        Role::Public
    })
}

/// A token could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no random numbers from the system: {0}")]
    Random(String),
    #[error("hashing the token: {0}")]
    Hash(String),
    #[error("token lifetime {0:?}: give a number and a unit, e.g. 90d, 12h, 30m or 45s")]
    Lifetime(String),
    #[error("token name {0:?}: use 1-64 letters, digits, '-', '_', '.' or '@'")]
    Name(String),
}

/// A fresh random secret: 32 bytes from the system, as 64 hex digits.
pub fn new_secret() -> Result<String, TokenError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(hex::encode(b))
}

/// The argon2id hash of `secret` with a random salt.
pub fn hash_secret(secret: &str) -> Result<String, TokenError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| TokenError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| TokenError::Hash(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| TokenError::Hash(e.to_string()))
}

/// Whether `secret` matches the stored `hash` (false for a hash that cannot be read).
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(secret.as_bytes(), &h)
            .is_ok()
    })
}

/// The token a caller sends.
pub fn format_token(id: i64, secret: &str) -> String {
    format!("ct_{id}_{secret}")
}

/// `ct_<id>_<secret>` → (id, secret).
pub fn parse_token(token: &str) -> Option<(i64, &str)> {
    let rest = token.strip_prefix("ct_")?;
    let (id, secret) = rest.split_once('_')?;
    let id: i64 = id.parse().ok().filter(|v| *v > 0)?;
    (secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit())).then_some((id, secret))
}

/// `90d`, `12h`, `30m`, `45s` → milliseconds.
pub fn parse_lifetime(s: &str) -> Result<i64, TokenError> {
    let t = s.trim();
    let bad = || TokenError::Lifetime(s.to_string());
    let unit = t.chars().last().ok_or_else(bad)?;
    let n: i64 = t[..t.len() - unit.len_utf8()]
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(bad)?;
    let ms = match unit {
        'd' => 86_400_000,
        'h' => 3_600_000,
        'm' => 60_000,
        's' => 1_000,
        _ => return Err(bad()),
    };
    n.checked_mul(ms).ok_or_else(bad)
}

/// Checks a token name.
pub fn check_name(name: &str) -> Result<(), TokenError> {
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(TokenError::Name(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_only_its_secret_verifies() {
        let secret = new_secret().unwrap();
        assert_eq!(secret.len(), 64);
        assert_ne!(secret, new_secret().unwrap());
        let hash = hash_secret(&secret).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains(&secret));
        assert!(verify_secret(&secret, &hash));
        let mut wrong = secret.clone().into_bytes();
        wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
        assert!(!verify_secret(std::str::from_utf8(&wrong).unwrap(), &hash));
        assert!(!verify_secret(&secret, "not a hash"));
        let t = format_token(7, &secret);
        assert_eq!(parse_token(&t), Some((7, secret.as_str())));
        for bad in [
            "",
            "ct_",
            "ct_7",
            "ct_x_ab",
            "ct_0_".to_string().as_str(),
            "xx_7_00",
        ] {
            assert_eq!(parse_token(bad), None, "{bad}");
        }
        assert_eq!(parse_token(&format!("ct_7_{}", &secret[1..])), None);
    }

    #[test]
    fn lifetimes_and_names() {
        assert_eq!(parse_lifetime("90d").unwrap(), 90 * 86_400_000);
        assert_eq!(parse_lifetime("2s").unwrap(), 2000);
        for bad in ["", "d", "0d", "-1h", "5y", "1.5h", "99999999999999999d"] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
        assert!(check_name("alice@dispatch-1").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
    }
}
