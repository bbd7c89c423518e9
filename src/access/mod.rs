//! Who may see and change what: roles, API tokens and the one policy every output path asks.
//!
//! A request carries no token (role `public`) or `Authorization: Bearer <token>`; the token
//! names one role. The [`policy::Policy`] turns a role into a [`policy::View`]: which layers it
//! reads, which attributes of each layer it sees, which layers it may write. Tiles, TileJSON,
//! styles, objects, the resolver, the audit and the metrics all take that view; nothing else
//! decides.

pub mod auth;
pub mod policy;
pub mod tokens;

use serde::{Deserialize, Serialize};

pub use auth::Authenticator;
pub use policy::{AccessConfig, AttrView, LayerRule, Policy, View, Visible};

/// A role, from least to most trusted. `public` is anyone without a token.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Public,
    Resident,
    Dispatcher,
    Engineer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Public,
        Role::Resident,
        Role::Dispatcher,
        Role::Engineer,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Public => "public",
            Role::Resident => "resident",
            Role::Dispatcher => "dispatcher",
            Role::Engineer => "engineer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Index in [`Role::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is asking: a role, and the token that proved it (none for `public`).
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub role: Role,
    /// The token's id and name.
    pub token: Option<(i64, String)>,
}

impl Caller {
    pub fn public() -> Caller {
        Caller {
            role: Role::Public,
            token: None,
        }
    }

    /// How the caller is named in the change history: `engineer:alice#3`, or `public`.
    pub fn actor(&self) -> String {
        match &self.token {
            Some((id, name)) => format!("{}:{name}#{id}", self.role),
            None => self.role.as_str().to_string(),
        }
    }
}

/// Why a request may not go on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AccessError {
    /// No usable credentials: missing where needed, malformed, unknown, wrong, revoked or
    /// expired (HTTP 401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Known caller, not allowed (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
}

/// Roles as a readable list: `dispatcher, engineer, admin`.
pub fn role_list(roles: &[Role]) -> String {
    let mut v: Vec<Role> = roles.to_vec();
    if !v.contains(&Role::Admin) {
        v.push(Role::Admin);
    }
    v.sort();
    v.dedup();
    v.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}
