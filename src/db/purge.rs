//! Deleting many rows without holding the writer: one helper for every batched purge
//! (done jobs, audit retention, `log.purge`). Each table keeps its own `DELETE … LIMIT`
//! statement; this runs it in one short write transaction after another until a pass
//! deletes fewer than a batch, so readers and other writers are never held up long.

use std::sync::Arc;

use super::{Result, Store, Tx};

/// Rows deleted per transaction.
pub const PURGE_BATCH: u32 = 500;

impl Store {
    /// Runs `delete` (which deletes at most the batch it is given and returns how many
    /// went) in its own transaction, again and again until a pass deletes fewer than
    /// [`PURGE_BATCH`]. Returns the total. An error stops it; what earlier passes
    /// deleted stays deleted.
    pub async fn delete_in_batches<F>(&self, delete: F) -> Result<usize>
    where
        F: Fn(&Tx<'_>, u32) -> Result<usize> + Send + Sync + 'static,
    {
        let delete = Arc::new(delete);
        let mut total = 0;
        loop {
            let d = delete.clone();
            let n = self.write(move |tx| d(tx, PURGE_BATCH)).await?;
            total += n;
            if n < PURGE_BATCH as usize {
                return Ok(total);
            }
            // Let the writer's other callers in between two batches.
            tokio::task::yield_now().await;
        }
    }
}
