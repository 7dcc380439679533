//! The monitor: finds messages that run too long (skynet's endless-loop check).
//!
//! Each worker publishes what it is running in its [`WorkerSlot`] (three relaxed stores per
//! message). The monitor thread polls the slots; a message running longer than the `endless`
//! limit is logged once as `A message from [ :A ] to [ :B ] maybe in an endless loop`, the
//! service's endless flag is set (`skynet.stat "endless"`), and its runtime is asked to interrupt
//! the handler, again at every poll while the same message runs (a Lua handler raises an
//! error; a wasm guest traps at its next epoch check).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::message::Handle;
use super::node::Node;

/// The monitor thread, until the node stops.
pub(super) fn run(node: &Node, limit: Duration) {
    let limit_ns = limit.as_nanos() as u64;
    let mut reported = vec![0u64; node.workers.len()];
    while !node.is_stopping() {
        std::thread::sleep(poll_interval(limit));
        let now = node.clock.hpc();
        for (slot, reported) in node.workers.iter().zip(reported.iter_mut()) {
            let Some((source, dest, since)) = slot.current() else { continue };
            if now.saturating_sub(since) < limit_ns {
                continue;
            }
            let Some(service) = node.handles.grab(dest) else { continue };
            if *reported != since {
                *reported = since;
                node.log(
                    dest,
                    format!("A message from [ :{source:08x} ] to [ :{dest:08x} ] maybe in an endless loop"),
                );
                service.endless.store(true, Ordering::Relaxed);
            }
            // Again at every poll while the same message runs: the handler may be between
            // coroutines, or in native code, when one interrupt lands.
            service.interrupt(Some(since));
        }
    }
}

/// What one worker is running: 0 in `since` when idle.
#[derive(Default)]
pub(crate) struct WorkerSlot {
    dest: AtomicU32,
    source: AtomicU32,
    /// Host clock (ns) when the current message started; 0 when idle.
    since: AtomicU64,
}

impl WorkerSlot {
    #[inline]
    pub(crate) fn begin(&self, source: Handle, dest: Handle, now_ns: u64) {
        self.source.store(source, Ordering::Relaxed);
        self.dest.store(dest, Ordering::Relaxed);
        self.since.store(now_ns.max(1), Ordering::Release);
    }

    #[inline]
    pub(crate) fn end(&self) {
        self.since.store(0, Ordering::Release);
    }

    /// `(source, dest, since)` of the running message, if any.
    pub(crate) fn current(&self) -> Option<(Handle, Handle, u64)> {
        let since = self.since.load(Ordering::Acquire);
        (since != 0).then(|| (self.source.load(Ordering::Relaxed), self.dest.load(Ordering::Relaxed), since))
    }
}

/// How often the monitor looks, for a given limit: often enough to act within a tenth of it.
pub(crate) fn poll_interval(limit: Duration) -> Duration {
    (limit / 10).clamp(Duration::from_millis(5), Duration::from_millis(500))
}

/// Parses the `endless` config value: seconds, fractions allowed; 0 turns the monitor off.
pub(crate) fn parse_limit(text: &str) -> Option<Duration> {
    let secs: f64 = text.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_report_what_runs() {
        let slot = WorkerSlot::default();
        assert_eq!(slot.current(), None);
        slot.begin(3, 4, 100);
        assert_eq!(slot.current(), Some((3, 4, 100)));
        slot.end();
        assert_eq!(slot.current(), None);
    }

    #[test]
    fn limits_parse_with_fractions() {
        assert_eq!(parse_limit("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_limit("0.25"), Some(Duration::from_millis(250)));
        assert_eq!(parse_limit("-1"), None);
        assert_eq!(parse_limit("soon"), None);
        assert_eq!(poll_interval(Duration::from_secs(5)), Duration::from_millis(500));
        assert_eq!(poll_interval(Duration::from_millis(20)), Duration::from_millis(5));
    }
}
