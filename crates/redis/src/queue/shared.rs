//! The queue's connection: one multiplexed Redis connection shared by every call, so a call
//! costs no pool checkout (deadpool pings each connection it hands out: one more round trip)
//! and concurrent calls are pipelined on one socket. A call that sees the connection fail
//! marks it broken; the next call takes a fresh one from the pool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use deadpool_redis::Pool;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

use crate::error::{Context, RedisFailure};

/// A handle on the shared connection; cheap to clone.
#[derive(Clone)]
pub(crate) struct Connection {
    inner: MultiplexedConnection,
    broken: Arc<AtomicBool>,
}

impl Connection {
    /// Marks the connection broken when `result` says the link failed.
    fn watch<T>(&self, result: RedisResult<T>) -> RedisResult<T> {
        if let Err(e) = &result
            && (e.is_io_error()
                || e.is_connection_dropped()
                || e.is_timeout()
                || e.is_unrecoverable_error())
        {
            self.broken.store(true, Ordering::Release);
        }
        result
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.inner.req_packed_command(cmd).await;
            self.watch(result)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self
                .inner
                .req_packed_commands(pipeline, offset, count)
                .await;
            self.watch(result)
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

/// The shared connection, taken from `pool` when first needed and after it broke.
pub(crate) struct Shared {
    pool: Pool,
    current: Mutex<Option<Connection>>,
}

impl Shared {
    pub(crate) fn new(pool: Pool) -> Self {
        Self {
            pool,
            current: Mutex::new(None),
        }
    }

    /// The pool the connection comes from.
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A handle on the shared connection.
    pub(crate) async fn get(&self) -> Result<Connection, RedisFailure> {
        if let Some(conn) = self.lock().as_ref()
            && !conn.broken.load(Ordering::Acquire)
        {
            return Ok(conn.clone());
        }
        let pooled = self.pool.get().await.context("connect")?;
        let conn = Connection {
            inner: MultiplexedConnection::clone(&pooled),
            broken: Arc::new(AtomicBool::new(false)),
        };
        *self.lock() = Some(conn.clone());
        Ok(conn)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Connection>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
