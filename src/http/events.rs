//! `GET /events`: Server-Sent Events of the changes the caller may see.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};

use super::AppState;
use super::access::Access;
use super::error::{ApiError, ErrorBody, Query};
use crate::events::{Event, missed};

/// Events replayed at most on a resumption; more missed than this: one `reload` event.
const MAX_REPLAY: usize = 10_000;

/// Query of `GET /events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsParams {
    /// Resume after this event id, as the `Last-Event-ID` header does (which wins when both
    /// are sent): for a page that keeps the last id itself.
    pub after: Option<u64>,
    /// `false`: send the events missed since `after` (or `Last-Event-ID`) and end, instead of
    /// staying open for new ones (for a client that polls).
    pub follow: Option<bool>,
}

/// The events of one listener, as a stream for the response body.
struct Listener(mpsc::Receiver<SseEvent>);

impl futures_core::Stream for Listener {
    type Item = Result<SseEvent, Infallible>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|e| e.map(Ok))
    }
}

fn sse(e: &Event) -> SseEvent {
    SseEvent::default()
        .id(e.seq.to_string())
        .event(e.name)
        .data(e.data.clone())
}

/// Changes as they happen, for the maps and the Situational Centre: `object` (an object the
/// caller may see was created, edited — its status, say — or deleted), `incident` (reported
/// or moved; for roles that handle incidents), `reload` (an import changed too much to list).
/// Each event's id is its history sequence number: a client that reconnects with
/// `Last-Event-ID` gets exactly the events it missed, then the new ones. A comment every 15 s
/// keeps the connection open.
#[utoipa::path(get, path = "/events", tag = "reports", params(EventsParams),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream"),
        (status = 400, description = "Last-Event-ID is not a number", body = ErrorBody),
        (status = 401, description = "The token is not valid", body = ErrorBody),
    ))]
pub async fn events(
    State(app): State<AppState>,
    access: Access,
    Query(p): Query<EventsParams>,
    headers: HeaderMap,
) -> Result<Sse<impl futures_core::Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let header = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad("Last-Event-ID", "an event id (a number)"))
        })
        .transpose()?;
    let after = header.or(p.after);
    let slot = app.guard.listener()?;
    // Subscribed before the missed events are read: nothing falls between the two.
    let mut live = app.events.subscribe();
    let upto = app.events.last();
    let (tx, rx) = mpsc::channel::<SseEvent>(256);
    let view = access.view.clone();
    let registry = app.registry.clone();
    let follow = p.follow.unwrap_or(true);
    tokio::spawn(async move {
        let _slot = slot;
        let mut sent = after.unwrap_or(upto);
        let replay = |from: u64, to: u64| {
            let r = registry.clone();
            async move {
                tokio::task::spawn_blocking(move || missed(&r, from, to, MAX_REPLAY))
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
        };
        if sent < upto {
            match replay(sent, upto).await {
                Some(Some(events)) => {
                    for e in events.iter().filter(|e| e.visible_to(&view)) {
                        if tx.send(sse(e)).await.is_err() {
                            return;
                        }
                    }
                }
                _ => {
                    let reload = Event {
                        seq: upto,
                        name: "reload",
                        layer: None,
                        hidden: false,
                        incident: false,
                        data: format!("{{\"seq\":{upto}}}"),
                    };
                    if tx.send(sse(&reload)).await.is_err() {
                        return;
                    }
                }
            }
            sent = upto;
        }
        if !follow {
            return;
        }
        loop {
            match live.recv().await {
                Ok(e) => {
                    if e.seq <= sent {
                        continue;
                    }
                    sent = e.seq;
                    if e.visible_to(&view) && tx.send(sse(&e)).await.is_err() {
                        return;
                    }
                }
                // Fell behind the hub: what was dropped is read back from the store.
                Err(broadcast::error::RecvError::Lagged(_)) => match replay(sent, u64::MAX).await {
                    Some(Some(events)) => {
                        for e in events.iter() {
                            sent = sent.max(e.seq);
                            if e.visible_to(&view) && tx.send(sse(e)).await.is_err() {
                                return;
                            }
                        }
                    }
                    _ => return,
                },
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    Ok(Sse::new(Listener(rx)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
