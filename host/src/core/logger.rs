//! The logger thread: `skynet.error` lines and host diagnostics, as `[:0000000a] text`.
//!
//! Lines travel over a channel to one thread that owns the output, so a worker never blocks on
//! I/O. [`Logger::shutdown`] drains the channel and flushes before returning: every line logged
//! before an abort or a normal exit is written.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::thread::JoinHandle;

use crossbeam::channel::{self, Receiver, Sender};
use parking_lot::Mutex;

use super::message::Handle;

enum Entry {
    Line(Handle, String),
    Stop,
}

pub(crate) struct Logger {
    tx: Sender<Entry>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Logger {
    /// Logs to `path` (appending), or to stdout when `None`.
    pub(crate) fn start(path: Option<&Path>) -> io::Result<Logger> {
        let sink: Box<dyn Write + Send> = match path {
            Some(path) => Box::new(open_log(path)?),
            None => Box::new(io::stdout()),
        };
        let (tx, rx) = channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("skybox-logger".into())
            .spawn(move || write_lines(rx, BufWriter::new(sink)))?;
        Ok(Logger { tx, thread: Mutex::new(Some(thread)) })
    }

    pub(crate) fn log(&self, source: Handle, text: String) {
        let captured = CAPTURED.get();
        if !captured.is_null() {
            // SAFETY: set by `capture` on this thread to a vector on its frame, for as long as
            // its `f` runs (this call is inside it); nothing else borrows that vector meanwhile.
            unsafe { (*captured).push((source, text.clone())) };
        }
        if let Err(channel::SendError(Entry::Line(source, text))) = self.tx.send(Entry::Line(source, text)) {
            // The logger already stopped (a line racing the shutdown): write it directly.
            println!("[:{source:08x}] {text}");
        }
    }

    /// Writes every line sent so far, then stops the thread. Idempotent.
    pub(crate) fn shutdown(&self) {
        if let Some(thread) = self.thread.lock().take() {
            let _ = self.tx.send(Entry::Stop);
            let _ = thread.join();
        }
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        self.shutdown();
    }
}

type Lines = Vec<(Handle, String)>;

thread_local! {
    /// Where lines logged on this thread go while [`capture`] runs; null otherwise. A plain
    /// pointer: a recorded service's every send captures, and this costs two loads and stores.
    static CAPTURED: std::cell::Cell<*mut Lines> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// Runs `f` and returns, besides its result, the lines it logged on this thread (they are
/// logged as usual too): a recording keeps the lines the host logs while it performs a
/// service's command or send, which a replay does not perform (see `record`).
pub(crate) fn capture<R>(f: impl FnOnce() -> R) -> (R, Lines) {
    /// Puts the outer capture back, also when `f` unwinds (the pointer must not outlive `lines`).
    struct Restore(*mut Lines);
    impl Drop for Restore {
        fn drop(&mut self) {
            CAPTURED.set(self.0);
        }
    }
    let mut lines = Vec::new();
    let restore = Restore(CAPTURED.replace(&mut lines));
    let result = f();
    drop(restore);
    (result, lines)
}

fn open_log(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn write_lines(rx: Receiver<Entry>, mut out: BufWriter<Box<dyn Write + Send>>) {
    while let Ok(entry) = rx.recv() {
        let mut next = Some(entry);
        // Write everything already queued, then flush once.
        while let Some(entry) = next {
            match entry {
                Entry::Line(source, text) => {
                    let _ = writeln!(out, "[:{source:08x}] {text}");
                }
                Entry::Stop => {
                    let _ = out.flush();
                    return;
                }
            }
            next = rx.try_recv().ok();
        }
        let _ = out.flush();
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_written_before_shutdown_returns() {
        let path = std::env::temp_dir().join(format!("skybox-logger-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let logger = Logger::start(Some(&path)).unwrap();
        for i in 0..10_000 {
            logger.log(0x0a, format!("line {i}"));
        }
        logger.shutdown();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 10_000);
        assert_eq!(lines[0], "[:0000000a] line 0");
        assert_eq!(lines[9_999], "[:0000000a] line 9999");
        let _ = std::fs::remove_file(&path);
    }
}
