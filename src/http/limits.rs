//! Limits and isolation, applied to every request before its handler: query length, a
//! concurrency bulkhead per feature (tiles, resolver, objects, audit, map, service), a time
//! limit, and per-client rate limits on the resolver and on writes, each role with its own
//! (the public counted per address, a token's holder per token). Each refusal is a JSON error
//! with its own status: 414, 503 or 429.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::AppState;
use super::error::ApiError;
use crate::access::Role;
use crate::config::Limits;

/// The parts of the API that are kept apart: a flood of one cannot use up another's share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Tiles,
    Resolve,
    Objects,
    Audit,
    Map,
    Service,
    /// `/events`: long-lived listeners, with their own count and no time limit.
    Events,
}

impl Feature {
    /// In declaration order: a feature's slot is `slots[feature as usize]`.
    const ALL: [Feature; 7] = [
        Feature::Tiles,
        Feature::Resolve,
        Feature::Objects,
        Feature::Audit,
        Feature::Map,
        Feature::Service,
        Feature::Events,
    ];

    pub fn of(path: &str) -> Feature {
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        match first {
            "tiles" => Feature::Tiles,
            "resolve" | "nearest" | "locate" => Feature::Resolve,
            // A call's record, a report and an incident's move are writes like an object's.
            "objects" | "layers" | "dispatch" | "reports" | "incidents" => Feature::Objects,
            "events" => Feature::Events,
            "audit" => Feature::Audit,
            "" | "styles" | "fonts" | "assets" | "report" | "centre" => Feature::Map,
            _ => Feature::Service,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Feature::Tiles => "tiles",
            Feature::Resolve => "resolver",
            Feature::Objects => "objects",
            Feature::Audit => "audit",
            Feature::Map => "map",
            Feature::Service => "service",
            Feature::Events => "live events",
        }
    }
}

/// The kinds of request each role may make only so often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rate {
    /// `/resolve`, `/nearest`, `/locate`.
    Resolve,
    /// Creates, changes and deletes of objects.
    Write,
}

impl Rate {
    fn of(feature: Feature, method: &Method) -> Option<Rate> {
        match feature {
            Feature::Resolve => Some(Rate::Resolve),
            Feature::Objects if method != Method::GET && method != Method::HEAD => {
                Some(Rate::Write)
            }
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Rate::Resolve => "resolver",
            Rate::Write => "write",
        }
    }

    /// Its setting in `[limits.<role>]`.
    fn setting(self) -> &'static str {
        match self {
            Rate::Resolve => "resolve_per_minute",
            Rate::Write => "writes_per_minute",
        }
    }
}

/// The running limits of one server.
pub struct Guard {
    limits: Limits,
    slots: Vec<Arc<tokio::sync::Semaphore>>,
    /// Per role, in [`Role::ALL`] order.
    resolve: Vec<DefaultKeyedRateLimiter<String>>,
    writes: Vec<DefaultKeyedRateLimiter<String>>,
}

/// The audit walks whole layers: it gets few slots whatever the general limit.
const AUDIT_SLOTS: usize = 2;

impl Guard {
    pub fn new(limits: &Limits) -> Guard {
        let per_minute = |n: u32| {
            DefaultKeyedRateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN),
            ))
        };
        Guard {
            slots: Feature::ALL
                .iter()
                .map(|f| {
                    let n = match f {
                        Feature::Audit => AUDIT_SLOTS.min(limits.concurrency),
                        Feature::Events => limits.event_listeners,
                        _ => limits.concurrency,
                    };
                    Arc::new(tokio::sync::Semaphore::new(n))
                })
                .collect(),
            resolve: Role::ALL
                .iter()
                .map(|r| per_minute(limits.of(*r).resolve_per_minute))
                .collect(),
            writes: Role::ALL
                .iter()
                .map(|r| per_minute(limits.of(*r).writes_per_minute))
                .collect(),
            limits: limits.clone(),
        }
    }

    /// A slot for one `/events` listener, held for as long as it listens.
    pub fn listener(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        self.slots[Feature::Events as usize]
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    format!(
                        "{} event listeners already (limits.event_listeners); try again shortly",
                        self.limits.event_listeners
                    ),
                )
            })
    }

    /// Drops rate-limit state of clients not seen for a while (called now and then).
    pub fn tidy(&self) {
        for l in self.resolve.iter().chain(&self.writes) {
            l.retain_recent();
        }
    }
}

fn refuse(status: StatusCode, code: &'static str, msg: String, retry_s: Option<u64>) -> Response {
    let mut r = ApiError::new(status, code, msg).into_response();
    if let Some(s) = retry_s
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Who a request counts against, and with which role's limits: a token's holder by the
/// token's id once its secret has been proven, else the public by address. A token not yet
/// proven (or made up) counts against the address, so inventing tokens gives no fresh
/// allowance and no higher one; so does a token of role `public`.
fn client(
    req: &Request,
    auth: &crate::access::Authenticator,
    trusted: &[IpAddr],
) -> (Role, String) {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match auth.proven(header) {
        Some((id, role)) if role != Role::Public => (role, format!("token:{id}")),
        _ => (
            Role::Public,
            caller(
                req.headers(),
                req.extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0),
                trusted,
            ),
        ),
    }
}

/// The caller's address: the connection's, or, when it comes from a trusted proxy, the last
/// address of `X-Forwarded-For` that is not a trusted proxy (each proxy appends the address
/// it was reached from; what comes before an untrusted one may be made up). `local` when
/// there is no connection (tests calling the router directly).
pub fn caller(headers: &HeaderMap, peer: Option<SocketAddr>, trusted: &[IpAddr]) -> String {
    let Some(peer) = peer.map(|p| p.ip()) else {
        return "local".to_string();
    };
    if !trusted.contains(&peer) {
        return peer.to_string();
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map_while(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|a| !trusted.contains(a))
        .or(forwarded.first())
        .unwrap_or(&peer)
        .to_string()
}

/// The middleware.
pub async fn guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let g = &app.guard;
    let q = req.uri().query().map_or(0, str::len);
    if q > g.limits.max_query_bytes {
        return refuse(
            StatusCode::URI_TOO_LONG,
            "query_too_long",
            format!(
                "the query string has {q} bytes; at most {} are accepted",
                g.limits.max_query_bytes
            ),
            None,
        );
    }
    let feature = Feature::of(req.uri().path());
    if let Some(rate) = Rate::of(feature, req.method()) {
        let (role, key) = client(&req, &app.auth, &g.limits.trusted_proxies);
        let (limiter, per_minute) = match rate {
            Rate::Resolve => (&g.resolve, g.limits.of(role).resolve_per_minute),
            Rate::Write => (&g.writes, g.limits.of(role).writes_per_minute),
        };
        if let Err(not_until) = limiter[role.index()].check_key(&key) {
            let wait = not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1);
            let who = match role {
                Role::Public => "this address (no token)".to_string(),
                _ => format!("this {role} token"),
            };
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "more than {per_minute} {} requests a minute from {who} (limits.{role}.{}); \
                     try again in {wait} s",
                    rate.name(),
                    rate.setting(),
                ),
                Some(wait),
            );
        }
    }
    if feature == Feature::Events {
        // A listener stays as long as it likes: it takes its slot itself, and holds it until
        // its stream ends ([`Guard::listener`]).
        return next.run(req).await;
    }
    let Ok(_slot) = g.slots[feature as usize].clone().try_acquire_owned() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!(
                "the {} is at its limit of requests at once; try again shortly",
                feature.name()
            ),
            Some(1),
        );
    };
    let limit = Duration::from_millis(g.limits.timeout_ms);
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request took longer than {} ms and was stopped",
                g.limits.timeout_ms
            ),
            Some(1),
        ),
    }
}

/// A panic inside a handler becomes a JSON 500 for that request only.
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown");
    tracing::error!(panic = what, "a request panicked; the server goes on");
    ApiError::internal(
        "the request failed inside citytwin (a bug, logged); other requests are not affected",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_caller_is_read_from_x_forwarded_for_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let at = |ip: &str| Some(SocketAddr::new(ip.parse().unwrap(), 40000));
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", "6.6.6.6, 203.0.113.7".parse().unwrap());
        // Not trusted: the connection's address; the header may be made up.
        assert_eq!(caller(&h, at("198.51.100.1"), &[proxy]), "198.51.100.1");
        assert_eq!(caller(&h, at("127.0.0.1"), &[]), "127.0.0.1");
        // Trusted: the last address the proxy appended.
        assert_eq!(caller(&h, at("127.0.0.1"), &[proxy]), "203.0.113.7");
        // Two proxies, both trusted: the one before them.
        let lb: IpAddr = "10.0.0.2".parse().unwrap();
        h.append("x-forwarded-for", "10.0.0.2".parse().unwrap());
        assert_eq!(caller(&h, at("127.0.0.1"), &[proxy, lb]), "203.0.113.7");
        // No header from a trusted proxy: the proxy itself.
        assert_eq!(
            caller(&HeaderMap::new(), at("127.0.0.1"), &[proxy]),
            "127.0.0.1"
        );
        assert_eq!(caller(&h, None, &[proxy]), "local");
    }

    use super::*;

    #[test]
    fn paths_fall_into_features() {
        assert_eq!(Feature::of("/tiles/poles/1/0/0.mvt"), Feature::Tiles);
        assert_eq!(Feature::of("/resolve"), Feature::Resolve);
        assert_eq!(Feature::of("/locate"), Feature::Resolve);
        assert_eq!(Feature::of("/objects/ОП-1"), Feature::Objects);
        assert_eq!(Feature::of("/audit/numbers"), Feature::Audit);
        assert_eq!(Feature::of("/"), Feature::Map);
        assert_eq!(Feature::of("/metrics"), Feature::Service);
    }
}
