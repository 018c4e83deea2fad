//! The group-commit writer: one task per store that gathers concurrent
//! write units and commits them together.

use crate::error::{Result, StoreError};
use crate::store::{Applied, WriteUnit};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

/// Commits one batch of units in one transaction, extending the audit chain
/// in order. All or nothing: an error means no unit was committed.
#[async_trait::async_trait]
pub(crate) trait BatchCommitter: Send + Sync + 'static {
    async fn commit_batch(&self, units: Vec<WriteUnit>) -> Result<Vec<Applied>>;
}

type Job = (WriteUnit, oneshot::Sender<Result<Applied>>);

/// Handle to the writer task. Cloning the sender is how units are queued;
/// dropping every handle stops the task once the queue is drained.
#[derive(Debug)]
pub(crate) struct Writer {
    /// A std mutex: held only to clone or take the sender, never across an
    /// await, so submitters never park on it.
    sender: std::sync::Mutex<Option<mpsc::Sender<Job>>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Writer {
    /// Spawns the writer task on the current Tokio runtime.
    pub(crate) fn spawn(
        committer: Arc<dyn BatchCommitter>,
        queue_capacity: usize,
        max_batch: usize,
    ) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(queue_capacity.max(1));
        let task = tokio::spawn(run(committer, rx, max_batch.max(1)));
        Self {
            sender: std::sync::Mutex::new(Some(tx)),
            task: Mutex::new(Some(task)),
        }
    }

    /// Queues a unit (waiting while the queue is full) and waits for its
    /// commit.
    pub(crate) async fn submit(&self, unit: WriteUnit) -> Result<Applied> {
        let sender = self
            .sender
            .lock()
            .map_err(|_| StoreError::WriterClosed)?
            .clone()
            .ok_or(StoreError::WriterClosed)?;
        let (done_tx, done_rx) = oneshot::channel();
        sender
            .send((unit, done_tx))
            .await
            .map_err(|_| StoreError::WriterClosed)?;
        drop(sender);
        done_rx.await.map_err(|_| StoreError::WriterClosed)?
    }

    /// Stops accepting units, lets the task drain the queue, and waits for
    /// it.
    pub(crate) async fn shutdown(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        if let Some(task) = self.task.lock().await.take() {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "audit writer task ended abnormally");
            }
        }
    }
}

async fn run(committer: Arc<dyn BatchCommitter>, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.recv().await {
        jobs.push(first);
        while jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (units, senders): (Vec<WriteUnit>, Vec<_>) = jobs.drain(..).unzip();
        let count = units.len();
        match committer.commit_batch(units).await {
            Ok(applied) if applied.len() == count => {
                for (sender, result) in senders.into_iter().zip(applied) {
                    // The caller may have gone away; its unit is committed
                    // regardless.
                    let _ = sender.send(Ok(result));
                }
            }
            Ok(_) => {
                tracing::error!("audit writer: batch result count mismatch");
                for sender in senders {
                    let _ = sender.send(Err(StoreError::AuditUnavailable(
                        "internal batch accounting error".into(),
                    )));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, units = count, "audit batch failed; nothing committed");
                for sender in senders {
                    let _ = sender.send(Err(e.for_batch()));
                }
            }
        }
    }
}
