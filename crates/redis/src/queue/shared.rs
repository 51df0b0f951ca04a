//! The queue's connections: one multiplexed Redis connection per thread that calls the store,
//! shared by every call made on that thread, so a call costs no pool checkout (deadpool pings
//! each connection it hands out: one more round trip) and concurrent calls are pipelined on one
//! socket. Per thread, not one for all: a connection's I/O runs on the runtime that opened it,
//! and calls from another runtime would pay a cross-runtime wake-up on every round trip. A call
//! that sees its connection fail marks it broken; the next call takes a fresh one from the pool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::ThreadId;

use deadpool_redis::Pool;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

use crate::error::{Context, RedisFailure};

/// Most threads with a connection of their own at once.
const MAX_THREADS: usize = 64;

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

/// The shared connections, one per calling thread, taken from `pool` when first needed there
/// and after one broke.
pub(crate) struct Shared {
    pool: Pool,
    current: Mutex<Vec<(ThreadId, Connection)>>,
}

impl Shared {
    pub(crate) fn new(pool: Pool) -> Self {
        Self {
            pool,
            current: Mutex::new(Vec::new()),
        }
    }

    /// The pool the connection comes from.
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A handle on this thread's connection.
    pub(crate) async fn get(&self) -> Result<Connection, RedisFailure> {
        let thread = std::thread::current().id();
        let found = self
            .lock()
            .iter()
            .find(|(t, c)| *t == thread && !c.broken.load(Ordering::Acquire))
            .map(|(_, c)| c.clone());
        if let Some(conn) = found {
            return Ok(conn);
        }
        let pooled = self.pool.get().await.context("connect")?;
        // Taken out of the pool: this thread's calls alone use it from now on.
        let conn = Connection {
            inner: deadpool_redis::Connection::take(pooled),
            broken: Arc::new(AtomicBool::new(false)),
        };
        let mut current = self.lock();
        current.retain(|(t, _)| *t != thread);
        if current.len() >= MAX_THREADS {
            // Threads come and go (blocking pools): the oldest connection goes first.
            current.remove(0);
        }
        current.push((thread, conn.clone()));
        Ok(conn)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(ThreadId, Connection)>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
