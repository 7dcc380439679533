//! Blocking work off the workers (skynet's "run a function without blocking").
//!
//! A handler that must do something slow or blocking (file I/O, a DNS lookup, a slow library
//! call) hands it to this pool instead of holding a worker thread: the job runs on a pool thread
//! and its result comes back to the service as a RESPONSE carrying the session the service is
//! waiting on, like the answer to a call. The pool starts on first use.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam::channel::{self, Sender};
use parking_lot::Mutex;

use super::message::{Handle, Message, ptype};
use super::node::Node;

/// A job: computes the reply payload. It runs on a pool thread, never on a worker.
pub(crate) type Job = Box<dyn FnOnce() -> Vec<u8> + Send>;

struct Task {
    handle: Handle,
    session: i32,
    job: Job,
}

pub(crate) struct BlockingPool {
    tx: Sender<Option<Task>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl BlockingPool {
    /// Starts `threads` pool threads delivering results through `node` (held weakly, so the pool
    /// does not keep a stopped node alive).
    pub(crate) fn start(node: &Arc<Node>, threads: usize) -> std::io::Result<BlockingPool> {
        let (tx, rx) = channel::unbounded::<Option<Task>>();
        let mut joins = Vec::new();
        for index in 0..threads.max(1) {
            let rx = rx.clone();
            let node = Arc::downgrade(node);
            joins.push(std::thread::Builder::new().name(format!("skybox-blocking-{index}")).spawn(
                move || {
                    while let Ok(Some(task)) = rx.recv() {
                        let data = (task.job)();
                        let Some(node) = node.upgrade() else { return };
                        // The service may have gone meanwhile; then nobody waits for this.
                        let reply = Message {
                            source: task.handle,
                            session: task.session,
                            ptype: ptype::RESPONSE,
                            data,
                        };
                        let _ = node.push(task.handle, reply);
                    }
                },
            )?);
        }
        Ok(BlockingPool { tx, threads: Mutex::new(joins) })
    }

    /// Runs `job` on the pool; its result reaches `handle` as RESPONSE(`session`).
    pub(crate) fn run(&self, handle: Handle, session: i32, job: Job) {
        let _ = self.tx.send(Some(Task { handle, session, job }));
    }

    /// Stops the pool threads after the jobs already queued. Jobs still running are not waited
    /// for: a stop must not hang on a blocked system call.
    pub(crate) fn stop(&self) {
        let threads = std::mem::take(&mut *self.threads.lock());
        for _ in &threads {
            let _ = self.tx.send(None);
        }
        for join in threads {
            if join.is_finished() {
                let _ = join.join();
            }
        }
    }
}
