//! How the death of a guest is told: one log line naming the guest, the phase, the reason and
//! what it used.

use wasmtime::{Trap, WasmBacktrace};

/// Which export was running when the guest died.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Phase {
    Start,
    Alloc,
    Dispatch,
}

impl Phase {
    pub(crate) fn export(self) -> &'static str {
        match self {
            Phase::Start => "skybox_start",
            Phase::Alloc => "skybox_alloc",
            Phase::Dispatch => "skybox_dispatch",
        }
    }
}

/// Fuel a guest had for the message that killed it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fuel {
    /// The engine does not meter fuel (config `fuel = 0`).
    NotMetered,
    /// `--fuel=0`: no budget.
    Unlimited { used: u64 },
    /// `used <= budget`.
    Budget { used: u64, budget: u64 },
}

/// Everything the kill line says (borrowed from the dying guest for the time of one line).
pub(crate) struct Death<'a> {
    pub(crate) name: &'a str,
    pub(crate) phase: Phase,
    pub(crate) error: &'a wasmtime::Error,
    /// The memory growth the limiter refused during this message, if any.
    pub(crate) refused: Option<usize>,
    pub(crate) fuel: Fuel,
    pub(crate) memory: usize,
    pub(crate) cap: usize,
    pub(crate) held: usize,
}

impl Death<'_> {
    /// `wasm guest 'NAME' killed in EXPORT: REASON; used FUEL, M of CAP bytes of memory (H bytes held)`.
    pub(crate) fn line(&self) -> String {
        let what = error_line(self.error);
        let reason = match (self.error.downcast_ref::<Trap>(), self.refused) {
            (Some(Trap::OutOfFuel), _) => "out of fuel".to_string(),
            (Some(Trap::Interrupt), _) => "interrupted".to_string(),
            (_, Some(bytes)) => format!("memory limit (growth to {bytes} bytes refused; then {what})"),
            _ => format!("trap: {what}"),
        };
        let fuel = match self.fuel {
            Fuel::NotMetered => "fuel not metered".to_string(),
            Fuel::Unlimited { used } => format!("{used} fuel (unlimited)"),
            Fuel::Budget { used, budget } => format!("{used} of {budget} fuel"),
        };
        format!(
            "wasm guest '{}' killed in {}: {reason}; used {fuel}, {} of {} bytes of memory ({} bytes held)",
            self.name,
            self.phase.export(),
            self.memory,
            self.cap,
            self.held
        )
    }
}

/// A wasmtime error as one line: the trap (or root cause), and the innermost wasm function
/// when a backtrace names it (demangled).
pub(crate) fn error_line(err: &wasmtime::Error) -> String {
    let mut text = match err.downcast_ref::<Trap>() {
        Some(trap) => {
            let t = trap.to_string();
            t.strip_prefix("wasm trap: ").map(str::to_string).unwrap_or(t)
        }
        None => err.root_cause().to_string(),
    };
    if let Some(frame) = err.downcast_ref::<WasmBacktrace>().and_then(|bt| bt.frames().first()) {
        match frame.func_name() {
            Some(name) => text.push_str(&format!(" (in {:#})", rustc_demangle::demangle(name))),
            None => text.push_str(&format!(" (in func[{}])", frame.func_index())),
        }
    }
    text.replace(['\n', '\r'], " ")
}
