//! Following the writes of other instances: `LISTEN citytwin_changes` on a connection of its
//! own (a pooled connection is handed to other work and would drop notifications), and a
//! catch-up from the history on every notification, after every (re)connection — the
//! notifications sent while the connection was down are lost, the history is not — and every
//! few seconds besides, should a notification go astray.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio_postgres::{AsyncMessage, NoTls};

use super::CHANNEL;

/// How often the history is read while no notification comes.
const POLL: Duration = Duration::from_secs(5);

/// The longest wait between two tries to connect.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Starts following the database at `url` on the current runtime: `catch_up` (run on a
/// blocking thread, one at a time) reads what others wrote. Answers whether the feed is
/// connected, kept up to date. Fails only on a URL that cannot be read.
pub fn follow(
    url: &str,
    catch_up: Arc<dyn Fn() + Send + Sync>,
) -> Result<Arc<AtomicBool>, tokio_postgres::Error> {
    let config: tokio_postgres::Config = url.parse()?;
    let connected = Arc::new(AtomicBool::new(false));
    let state = connected.clone();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(250);
        loop {
            match listen(&config, &catch_up, &state).await {
                Ok(()) => backoff = Duration::from_millis(250),
                Err(err) => {
                    tracing::warn!(%err, "the feed of other instances' writes is down; trying again")
                }
            }
            state.store(false, Ordering::SeqCst);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    });
    Ok(connected)
}

/// One connection's life: listens, catches up, and follows until the connection ends.
async fn listen(
    config: &tokio_postgres::Config,
    catch_up: &Arc<dyn Fn() + Send + Sync>,
    connected: &AtomicBool,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    // The connection's messages: notifications go to the follower; the stream ends with the
    // connection, and so does the follower's channel.
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(_)) => {
                    if tx.send(()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(%err, "the feed's connection failed");
                    break;
                }
            }
        }
    });
    let listened = client.batch_execute(&format!("LISTEN {CHANNEL}")).await;
    if let Err(err) = listened {
        driver.abort();
        return Err(err);
    }
    connected.store(true, Ordering::SeqCst);
    tracing::info!("following other instances' writes");
    run(catch_up).await;
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Some(()) => {
                    // Many notifications, one catch-up.
                    while rx.try_recv().is_ok() {}
                    run(catch_up).await;
                }
                None => break,
            },
            _ = tokio::time::sleep(POLL) => run(catch_up).await,
        }
    }
    driver.abort();
    drop(client);
    Ok(())
}

async fn run(catch_up: &Arc<dyn Fn() + Send + Sync>) {
    let f = catch_up.clone();
    let _ = tokio::task::spawn_blocking(move || f()).await;
}
