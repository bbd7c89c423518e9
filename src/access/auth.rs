//! Who is calling: `Authorization: Bearer ct_<id>_<secret>` → a [`Caller`].
//!
//! Tokens are read from the store and re-read every [`Authenticator::REFRESH`], so a token
//! revoked by `citytwin token revoke` (another process) stops working within that time, or
//! within [`Authenticator::STALE_MAX`] while the store is slow to answer a reload. The
//! argon2 check of a secret runs once per token and process (a few tens of milliseconds, on a
//! bounded number of threads); after it, the SHA-256 of the proven secret is kept in memory
//! and compared instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::tokens::{TokenRecord, parse_token, verify_secret};
use super::{AccessError, Caller, Role};

/// Reads every token from where they are kept.
pub type TokenLoader = dyn Fn() -> Result<Vec<TokenRecord>, LoadError> + Send + Sync;

/// Why the tokens could not be read.
#[derive(Debug)]
pub struct LoadError {
    /// The store cannot be reached (its database is down). No token can be revoked
    /// meanwhile — a revocation is a write to that store — so the list in hand stays in use,
    /// and staff keep working from the instances' memory.
    pub unavailable: bool,
    pub message: String,
}

impl From<String> for LoadError {
    fn from(message: String) -> Self {
        LoadError {
            unavailable: false,
            message,
        }
    }
}

#[derive(Default)]
struct Snapshot {
    loaded: Option<Instant>,
    tokens: HashMap<i64, TokenRecord>,
    /// Token id → SHA-256 of the secret that passed the argon2 check.
    proven: HashMap<i64, [u8; 32]>,
}

/// Checks callers' tokens.
pub struct Authenticator {
    load: Arc<TokenLoader>,
    snapshot: Mutex<Snapshot>,
    reload: tokio::sync::Mutex<()>,
    /// argon2 checks running at once.
    hashing: tokio::sync::Semaphore,
    /// Secrets checked with argon2 so far (each costs tens of milliseconds of CPU).
    verified: std::sync::atomic::AtomicU64,
}

fn unauthenticated(msg: impl Into<String>) -> AccessError {
    AccessError::Unauthenticated(msg.into())
}

impl Authenticator {
    /// How old the list of tokens may get.
    pub const REFRESH: Duration = Duration::from_secs(2);
    /// How old a list may be used while another request reloads it: a revoked token is
    /// refused within this time even when the store is slow to answer.
    pub const STALE_MAX: Duration = Duration::from_secs(4);

    pub fn new(load: Arc<TokenLoader>) -> Authenticator {
        Authenticator {
            load,
            snapshot: Mutex::new(Snapshot::default()),
            reload: tokio::sync::Mutex::new(()),
            hashing: tokio::sync::Semaphore::new(2),
            verified: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        self.snapshot.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fresh(&self) -> bool {
        self.lock()
            .loaded
            .is_some_and(|t| t.elapsed() < Self::REFRESH)
    }

    async fn refresh(&self, id: i64) -> Result<(), AccessError> {
        if self.fresh() {
            return Ok(());
        }
        // A request does not queue behind a reload that is already running (it may wait for
        // the store behind a long write) while the list in hand is at most `STALE_MAX` old and
        // names its token: it goes on with that list. Otherwise it waits for the reload.
        let usable = {
            let s = self.lock();
            s.loaded.is_some_and(|t| t.elapsed() < Self::STALE_MAX) && s.tokens.contains_key(&id)
        };
        let _one = if usable {
            match self.reload.try_lock() {
                Ok(one) => one,
                Err(_) => return Ok(()),
            }
        } else {
            self.reload.lock().await
        };
        if self.fresh() {
            return Ok(());
        }
        let load = self.load.clone();
        let loaded = tokio::task::spawn_blocking(move || load())
            .await
            .map_err(|e| LoadError::from(e.to_string()))
            .and_then(|r| r);
        let tokens = match loaded {
            Ok(tokens) => tokens,
            Err(e) if e.unavailable && self.lock().loaded.is_some() => {
                tracing::warn!(error = %e.message, "tokens cannot be re-read while the store is unavailable; the list in hand stays in use");
                // Tried again after REFRESH, by one request.
                self.lock().loaded = Some(Instant::now());
                return Ok(());
            }
            Err(e) => {
                tracing::error!(error = %e.message, "tokens cannot be read");
                return Err(unauthenticated(format!(
                    "tokens cannot be checked right now: {}",
                    e.message
                )));
            }
        };
        let mut s = self.lock();
        s.tokens = tokens.into_iter().map(|t| (t.id, t)).collect();
        // A proven secret stays proven only while its token still has the same hash.
        let Snapshot { tokens, proven, .. } = &mut *s;
        proven.retain(|id, _| tokens.contains_key(id));
        s.loaded = Some(Instant::now());
        Ok(())
    }

    /// How many secrets have been checked with argon2 since start.
    pub fn verified(&self) -> u64 {
        self.verified.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The id and role of the token an `Authorization` header value carries, if its secret
    /// has already passed the argon2 check in this process and the token is still usable.
    /// Cheap: one SHA-256, no waiting. Per-client limits key on this, so a made-up token cannot
    /// buy a fresh allowance or a role's higher one.
    pub fn proven(&self, header: Option<&[u8]>) -> Option<(i64, Role)> {
        let (id, secret) = bearer_token(header?).ok()?;
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let s = self.lock();
        let record = s.tokens.get(&id)?;
        (s.proven.get(&id) == Some(&digest) && record.unusable(crate::model::now_ms()).is_none())
            .then_some((id, record.role))
    }

    /// The caller an `Authorization` header value names: public without one; an error for a
    /// malformed, unknown, wrong, revoked or expired token.
    pub async fn authenticate(&self, header: Option<&[u8]>) -> Result<Caller, AccessError> {
        let Some(raw) = header else {
            return Ok(Caller::public());
        };
        let (id, secret) = bearer_token(raw)?;
        self.refresh(id).await?;
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let (record, proven) = {
            let s = self.lock();
            let r = s
                .tokens
                .get(&id)
                .cloned()
                .ok_or_else(|| unauthenticated(format!("unknown token #{id}")))?;
            (r, s.proven.get(&id) == Some(&digest))
        };
        if let Some(why) = record.unusable(crate::model::now_ms()) {
            return Err(unauthenticated(why));
        }
        if !proven {
            let _slot = self
                .hashing
                .acquire()
                .await
                .map_err(|e| unauthenticated(e.to_string()))?;
            // A map opens with many tile requests at once, all with the same new token: the
            // ones that waited for a slot find it proven by the first.
            if self.lock().proven.get(&id) != Some(&digest) {
                let (secret, hash) = (secret.to_string(), record.hash.clone());
                self.verified
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let ok = tokio::task::spawn_blocking(move || verify_secret(&secret, &hash))
                    .await
                    .unwrap_or(false);
                if !ok {
                    return Err(unauthenticated(format!("wrong secret for token #{id}")));
                }
                self.lock().proven.insert(id, digest);
            }
        }
        if record.role == Role::Public {
            return Ok(Caller::public());
        }
        Ok(Caller {
            role: record.role,
            token: Some((record.id, record.name)),
        })
    }
}

/// The token id and secret of an `Authorization: Bearer ct_<id>_<secret>` value.
fn bearer_token(raw: &[u8]) -> Result<(i64, &str), AccessError> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| unauthenticated("Authorization: not text"))?
        .trim();
    let token = text
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .ok_or_else(|| unauthenticated("Authorization: use `Bearer <token>`"))?;
    parse_token(token).ok_or_else(|| {
        unauthenticated("Authorization: not a citytwin token (ct_<id>_<64 hex digits>)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::tokens::{format_token, hash_secret, new_secret};

    fn record(id: i64, role: Role, secret: &str) -> TokenRecord {
        TokenRecord {
            id,
            name: format!("t{id}"),
            role,
            hash: hash_secret(secret).unwrap(),
            created: 0,
            expires: None,
            revoked: None,
        }
    }

    #[tokio::test]
    async fn tokens_are_checked_and_revocation_is_seen_on_reload() {
        let (s1, s2) = (new_secret().unwrap(), new_secret().unwrap());
        let list = Arc::new(Mutex::new(vec![
            record(1, Role::Engineer, &s1),
            TokenRecord {
                expires: Some(1),
                ..record(2, Role::Admin, &s2)
            },
        ]));
        let l = list.clone();
        let auth = Authenticator::new(Arc::new(move || Ok(l.lock().unwrap().clone())));
        let h = |t: &str| format!("Bearer {t}").into_bytes();
        assert_eq!(auth.authenticate(None).await.unwrap(), Caller::public());
        let c = auth
            .authenticate(Some(&h(&format_token(1, &s1))))
            .await
            .unwrap();
        assert_eq!(c.role, Role::Engineer);
        assert_eq!(c.actor(), "engineer:t1#1");
        // Again, from the proven-secret memory.
        assert!(
            auth.authenticate(Some(&h(&format_token(1, &s1))))
                .await
                .is_ok()
        );
        for (bad, says) in [
            (h(&format_token(1, &s2)), "wrong secret"),
            (h(&format_token(9, &s1)), "unknown token #9"),
            (h(&format_token(2, &s2)), "expired"),
            (b"Basic abc".to_vec(), "Bearer"),
            (h("ct_1_xyz"), "not a citytwin token"),
        ] {
            let e = auth.authenticate(Some(&bad)).await.unwrap_err();
            assert!(
                matches!(&e, AccessError::Unauthenticated(m) if m.contains(says)),
                "{e}"
            );
        }
        list.lock().unwrap()[0].revoked = Some(5);
        auth.lock().loaded = None; // as if REFRESH had passed
        let e = auth
            .authenticate(Some(&h(&format_token(1, &s1))))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("revoked"), "{e}");
    }

    /// Eight requests at once with one new token: the secret is hashed by the two that got
    /// a hashing slot at most, not by all eight.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_requests_with_a_new_token_hash_it_at_most_twice() {
        let s1 = new_secret().unwrap();
        let list = vec![record(1, Role::Engineer, &s1)];
        let auth = Arc::new(Authenticator::new(Arc::new(move || Ok(list.clone()))));
        let header = format!("Bearer {}", format_token(1, &s1)).into_bytes();
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let (auth, header) = (auth.clone(), header.clone());
                tokio::spawn(async move { auth.authenticate(Some(&header)).await })
            })
            .collect();
        for c in calls {
            assert_eq!(c.await.unwrap().unwrap().role, Role::Engineer);
        }
        assert!(auth.verified() <= 2, "hashed {} times", auth.verified());
        assert!(auth.verified() >= 1);
    }

    #[tokio::test]
    async fn a_token_is_proven_only_after_its_secret_passed() {
        let s1 = new_secret().unwrap();
        let list = vec![record(1, Role::Dispatcher, &s1)];
        let auth = Authenticator::new(Arc::new(move || Ok(list.clone())));
        let good = format!("Bearer {}", format_token(1, &s1)).into_bytes();
        let wrong = format!("Bearer {}", format_token(1, &"0".repeat(64))).into_bytes();
        let made_up = format!("Bearer {}", format_token(7, &"0".repeat(64))).into_bytes();
        assert_eq!(auth.proven(Some(&good)), None, "not checked yet");
        auth.authenticate(Some(&good)).await.unwrap();
        assert_eq!(auth.proven(Some(&good)), Some((1, Role::Dispatcher)));
        assert_eq!(auth.proven(Some(&wrong)), None);
        assert_eq!(auth.proven(Some(&made_up)), None);
        assert_eq!(auth.proven(None), None);
        assert_eq!(auth.proven(Some(b"Basic abc")), None);
    }

    #[tokio::test]
    async fn while_the_store_is_unavailable_the_tokens_in_hand_stay_in_use() {
        let s1 = new_secret().unwrap();
        let list = vec![record(1, Role::Dispatcher, &s1)];
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = calls.clone();
        // The first read succeeds; then the store is down (unavailable), then broken.
        let auth = Authenticator::new(Arc::new(move || {
            match c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => Ok(list.clone()),
                1 => Err(LoadError {
                    unavailable: true,
                    message: "database down".into(),
                }),
                _ => Err(LoadError::from("a bad row".to_string())),
            }
        }));
        let h = format!("Bearer {}", format_token(1, &s1)).into_bytes();
        auth.authenticate(Some(&h)).await.unwrap();
        let long_ago = Instant::now()
            .checked_sub(Authenticator::STALE_MAX + Duration::from_secs(60))
            .unwrap();
        auth.lock().loaded = Some(long_ago);
        let caller = auth.authenticate(Some(&h)).await.unwrap();
        assert_eq!(caller.role, Role::Dispatcher, "kept while unavailable");
        auth.lock().loaded = Some(long_ago);
        assert!(
            auth.authenticate(Some(&h)).await.is_err(),
            "any other failure to read refuses"
        );
    }

    #[tokio::test]
    async fn a_slow_reload_does_not_hold_up_requests_with_a_proven_token() {
        let s1 = new_secret().unwrap();
        let list = vec![record(1, Role::Engineer, &s1)];
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = Mutex::new(wait);
        let c = calls.clone();
        // The second read of the list waits until released, like a store busy with a write.
        let auth = Arc::new(Authenticator::new(Arc::new(move || {
            if c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                let _ = wait.lock().unwrap().recv();
            }
            Ok(list.clone())
        })));
        let h = format!("Bearer {}", format_token(1, &s1)).into_bytes();
        auth.authenticate(Some(&h)).await.unwrap();
        let stale = Instant::now()
            .checked_sub(Authenticator::REFRESH + Duration::from_secs(1))
            .unwrap();
        auth.lock().loaded = Some(stale);
        let (a, ha) = (auth.clone(), h.clone());
        let reloading = tokio::spawn(async move { a.authenticate(Some(&ha)).await });
        while calls.load(std::sync::atomic::Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The reload is stuck; another request goes on with the list it has.
        let other = tokio::time::timeout(Duration::from_secs(5), auth.authenticate(Some(&h)))
            .await
            .expect("a request waited for the stuck reload");
        assert_eq!(other.unwrap().role, Role::Engineer);
        // But a list older than STALE_MAX is not used: the request waits for the reload.
        let too_old = Instant::now()
            .checked_sub(Authenticator::STALE_MAX + Duration::from_secs(1))
            .unwrap();
        auth.lock().loaded = Some(too_old);
        let waited =
            tokio::time::timeout(Duration::from_millis(300), auth.authenticate(Some(&h))).await;
        assert!(waited.is_err(), "a list past STALE_MAX was used");
        assert!(!reloading.is_finished());
        release.send(()).unwrap();
        assert_eq!(reloading.await.unwrap().unwrap().role, Role::Engineer);
    }
}
