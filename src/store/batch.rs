//! Many small units of work in one write, each undone alone if it fails.

use rusqlite::Connection;

use super::StoreError;

/// How an item that did not succeed went wrong.
pub enum ItemError<E> {
    /// The database failed: the whole batch stops and is retried later.
    Fatal(StoreError),
    /// This item cannot be done; the others go on.
    Failed(E),
}

/// Runs `each` over `items` under one savepoint, so a page is journaled once per batch
/// rather than once per item. Failures are rare: if an item fails, the pass is undone
/// and the items run again, each in a savepoint of its own, with the failures handed to
/// `failed`. A fatal error undoes everything this call did.
pub fn run_isolated<T, E>(
    conn: &Connection,
    items: &[T],
    each: impl Fn(&Connection, &T) -> Result<(), ItemError<E>>,
    failed: impl Fn(&Connection, &T, E) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    conn.execute_batch("SAVEPOINT batch_pass")?;
    let mut clean = true;
    for item in items {
        match each(conn, item) {
            Ok(()) => {}
            Err(ItemError::Fatal(e)) => {
                super::instance::here().freshness().rolled_back();
                conn.execute_batch("ROLLBACK TO batch_pass; RELEASE batch_pass")?;
                return Err(e);
            }
            Err(ItemError::Failed(_)) => {
                clean = false;
                break;
            }
        }
    }
    if clean {
        conn.execute_batch("RELEASE batch_pass")?;
        return Ok(());
    }
    super::instance::here().freshness().rolled_back();
    conn.execute_batch("ROLLBACK TO batch_pass")?;
    for item in items {
        conn.execute_batch("SAVEPOINT batch_item")?;
        match each(conn, item) {
            Ok(()) => conn.execute_batch("RELEASE batch_item")?,
            Err(outcome) => {
                super::instance::here().freshness().rolled_back();
                conn.execute_batch("ROLLBACK TO batch_item; RELEASE batch_item")?;
                match outcome {
                    ItemError::Fatal(e) => {
                        conn.execute_batch("ROLLBACK TO batch_pass; RELEASE batch_pass")?;
                        return Err(e);
                    }
                    ItemError::Failed(e) => failed(conn, item, e)?,
                }
            }
        }
    }
    conn.execute_batch("RELEASE batch_pass")?;
    Ok(())
}
