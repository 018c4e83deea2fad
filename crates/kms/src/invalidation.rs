//! Cross-instance cache invalidation over Redis pub/sub.
//!
//! Every change of a keyring (rotation, settings, deletion) is published on
//! [`CHANNEL`] as `<tenant id>/<keyring>`; every gateway instance listens
//! and evicts that keyring from its key cache, so the next operation
//! reloads it (and encrypts with the new primary) — in practice within
//! milliseconds. When the subscription is lost, the listener clears the
//! whole cache (it may have missed messages) and reconnects with backoff;
//! the cache TTL bounds staleness in the worst case. Messages carry
//! identifiers only, never key material.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use crate::service::{ChangeBus, KeyCache};

/// The pub/sub channel.
pub const CHANNEL: &str = "zenalyze:kms:keyring-changed";

/// Publishes keyring changes on Redis.
pub struct RedisBus {
    conn: redis::aio::ConnectionManager,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus").finish_non_exhaustive()
    }
}

impl RedisBus {
    /// Connects a publisher.
    pub async fn connect(client: &redis::Client) -> redis::RedisResult<Self> {
        Ok(RedisBus {
            conn: redis::aio::ConnectionManager::new(client.clone()).await?,
        })
    }
}

#[async_trait::async_trait]
impl ChangeBus for RedisBus {
    async fn publish(&self, tenant: &str, keyring: &str) {
        let mut c = self.conn.clone();
        let msg = format!("{tenant}/{keyring}");
        let r: redis::RedisResult<i64> = tokio::time::timeout(
            Duration::from_secs(2),
            redis::cmd("PUBLISH")
                .arg(CHANNEL)
                .arg(msg)
                .query_async(&mut c),
        )
        .await
        .unwrap_or_else(|_| Err(redis::RedisError::from((redis::ErrorKind::Io, "timeout"))));
        if let Err(e) = r {
            tracing::warn!(error_kind = ?e.kind(), "could not publish a keyring change; other instances catch up within the cache TTL");
        }
    }
}

/// Parses a change message into `(tenant, keyring)`.
pub fn parse_message(payload: &[u8]) -> Option<(&str, &str)> {
    let s = std::str::from_utf8(payload).ok()?;
    let (t, k) = s.split_once('/')?;
    (!t.is_empty() && !k.is_empty()).then_some((t, k))
}

/// Listens for changes and evicts them from `cache` until aborted. Returns
/// once the first subscription is active (or failed), so callers know
/// whether invalidation works from the start.
pub async fn spawn_listener(
    client: redis::Client,
    cache: Arc<KeyCache>,
) -> (tokio::task::JoinHandle<()>, bool) {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<bool>();
    let handle = tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        let mut backoff = Duration::from_millis(100);
        loop {
            let subscribed = async {
                let mut ps = client.get_async_pubsub().await?;
                ps.subscribe(CHANNEL).await?;
                redis::RedisResult::Ok(ps)
            };
            match tokio::time::timeout(Duration::from_secs(5), subscribed).await {
                Ok(Ok(ps)) => {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(true);
                    }
                    // Anything that changed while we were not subscribed is
                    // unknown: start from an empty cache.
                    cache.clear();
                    backoff = Duration::from_millis(100);
                    let mut stream = ps.into_on_message();
                    while let Some(msg) = stream.next().await {
                        if let Some((t, k)) = parse_message(msg.get_payload_bytes()) {
                            cache.evict(t, k);
                        }
                    }
                    tracing::warn!("keyring change subscription lost; reconnecting");
                    cache.clear();
                }
                _ => {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(false);
                    }
                    tracing::warn!("cannot subscribe to keyring changes on Redis; retrying");
                    cache.clear();
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    });
    let ok = ready_rx.await.unwrap_or(false);
    (handle, ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert_eq!(
            parse_message(b"ten_a/encrypt-email"),
            Some(("ten_a", "encrypt-email"))
        );
        assert_eq!(parse_message(b"ten_a"), None);
        assert_eq!(parse_message(b"/k"), None);
        assert_eq!(parse_message(&[0xff, b'/', b'k']), None);
    }
}
