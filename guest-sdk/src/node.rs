//! The node around the guest: its own address and names, other services (launching, finding,
//! killing them), the environment, the clock, logging and exiting. These wrap skynet commands
//! (see [`abi::command`]) and the built-in services `.launcher` and `.service`, as skynet's
//! `skynet` and `skynet.manager` modules do.

use crate::abi::{self, AbiError, Address, ptype};
use crate::call::{CallError, call_values};
use crate::codec::Value;
use crate::error::{Error, Result};
use crate::runtime;

/// This guest's address (`skynet.self()`).
pub fn self_address() -> Address {
    abi::self_address()
}

/// Hundredths of a second since the node started (`skynet.now()`).
pub fn now() -> i64 {
    abi::now()
}

/// Monotonic nanoseconds (`skynet.hpc()`).
pub fn hpc() -> i64 {
    abi::hpc()
}

/// The node's start time, in seconds since the Unix epoch (`skynet.starttime()`).
pub fn starttime() -> Result<u64> {
    let text = abi::command("STARTTIME", None)?.ok_or_else(|| Error::new("STARTTIME has no result"))?;
    text.trim().parse().map_err(|_| Error::new(format!("bad STARTTIME {text:?}")))
}

/// Seconds since the Unix epoch, in hundredths (`skynet.time()`).
pub fn time() -> Result<f64> {
    Ok(starttime()? as f64 + now() as f64 / 100.0)
}

/// A new session id (`skynet.genid()`).
pub fn genid() -> i32 {
    abi::genid()
}

/// Writes a line to the node's log, as `skynet.error` (`[:0000000a] text`). See [`log!`](crate::log!).
pub fn log(text: &str) {
    abi::log(text);
}

/// Formats and logs a line, as `skynet.error`: `log!("{} joined", name)`.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log(&::std::format!($($arg)*))
    };
}

/// A config or environment value (`skynet.getenv`).
pub fn getenv(key: &str) -> Option<String> {
    abi::command("GETENV", Some(key)).ok().flatten()
}

/// Sets an environment value (`skynet.setenv`).
pub fn setenv(key: &str, value: &str) -> Result<(), AbiError> {
    abi::command("SETENV", Some(&format!("{key} {value}"))).map(drop)
}

/// A number from the host's `STAT` command (`mqlen`, `cpu`, `message`, ...; `skynet.stat`).
pub fn stat(what: &str) -> Option<f64> {
    parse_decimal(abi::command("STAT", Some(what)).ok().flatten()?.trim())
}

/// `[-]digits[.digits]`, the numbers the host's commands print. (`f64::from_str` would do, at
/// the cost of its tables: ~15 KB in every guest.)
fn parse_decimal(text: &str) -> Option<f64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let mut value = 0.0f64;
    for b in int.bytes() {
        value = value * 10.0 + f64::from(b - b'0');
    }
    let mut scale = 0.1;
    for b in frac.bytes() {
        value += f64::from(b - b'0') * scale;
        scale /= 10.0;
    }
    Some(if negative { -value } else { value })
}

/// Gives this guest a local name (`skynet.register(".name")`).
pub fn register(name: &str) -> Result<(), AbiError> {
    abi::command("REG", Some(name)).map(drop)
}

/// Names another service (`skynet.name(".name", address)`).
pub fn name(name: &str, address: Address) -> Result<(), AbiError> {
    abi::command("NAME", Some(&format!("{name} {address}"))).map(drop)
}

/// The address behind a local name, or of a printed address (`skynet.localname`).
pub fn query(name: &str) -> Option<Address> {
    abi::command("QUERY", Some(name)).ok().flatten()?.parse().ok()
}

/// Starts a service directly, without the launcher (`skynet.launch`): `launch("snlua", "name
/// args")`. The service starts asynchronously; `None` when the host refuses.
pub fn launch(runtime: &str, args: &str) -> Option<Address> {
    abi::command("LAUNCH", Some(&format!("{runtime} {args}"))).ok().flatten()?.parse().ok()
}

/// Kills a service (`skynet.kill`).
pub fn kill(address: Address) -> Result<(), AbiError> {
    abi::command("KILL", Some(&address.to_string())).map(drop)
}

/// Stops the whole node (`skynet.abort`).
pub fn abort() {
    let _ = abi::command("ABORT", None);
}

/// Sets whether messages of `ptype` are delivered held (see [`Held`](crate::Held)) instead of
/// copied into guest memory: the guest side of skynet's `forward_type`, for proxies.
pub fn forward_type(ptype: u8, on: bool) -> Result<(), AbiError> {
    abi::forward_type(ptype, on)
}

/// Exits the guest once the current message is handled (`skynet.exit`): tells `.launcher` (if
/// trusted),
/// fails every request still unanswered (queued, in a handler, or held by a responder), tells
/// the services it is calling that it is gone, and asks the host to remove it. No task runs
/// after that.
pub fn exit() {
    if !runtime::begin_exit() {
        return;
    }
    // A confined guest may not speak to `.launcher` (its profile's send rules): the launcher
    // finds the address dead when it next looks.
    if abi::command("PROFILE", None).ok().flatten().is_some_and(|p| p.split(' ').next() == Some("trusted")) {
        let _ = crate::send(".launcher", ptype::LUA, &("REMOVE", self_address(), false));
    }
    abi::exit();
}

/// Has [`exit`] been called?
pub fn is_exiting() -> bool {
    runtime::exiting()
}

/// The lua-protocol values `head..., args...` for a launcher request.
fn launch_request(head: &[&str], args: &[&str]) -> Vec<Value> {
    head.iter().chain(args).map(|s| Value::from(*s)).collect()
}

/// Starts a Lua service through `.launcher` and waits until its start function has finished
/// (`skynet.newservice(name, ...)`).
pub async fn newservice(name: &str, args: &[&str]) -> Result<Address> {
    newservice_in("snlua", name, args).await
}

/// [`newservice`] for another runtime: `newservice_in("wasm", "echo", &[])` starts a wasm guest
/// (if the host registers the runtime under that name).
pub async fn newservice_in(runtime: &str, name: &str, args: &[&str]) -> Result<Address> {
    let request = launch_request(&["LAUNCH", runtime, name], args);
    let answer = call_values(".launcher", ptype::LUA, &request).await.map_err(|e| launch_error(name, e))?;
    match answer.first().and_then(Value::as_integer).and_then(|n| u32::try_from(n).ok()) {
        Some(address) => Ok(Address(address)),
        None => Err(Error::new(format!("{runtime} {name}: the service exited while starting"))),
    }
}

fn launch_error(name: &str, error: CallError) -> Error {
    Error::new(format!("cannot launch {name}: {error}"))
}

/// The one service named `name`, started now through `.service` if nobody started it yet
/// (`skynet.uniqueservice(name, ...)`).
pub async fn uniqueservice(name: &str, args: &[&str]) -> Result<Address> {
    service_manager(&launch_request(&["LAUNCH", name], args)).await
}

/// The one service named `name`, waiting until someone starts it (`skynet.queryservice`).
pub async fn queryservice(name: &str) -> Result<Address> {
    service_manager(&launch_request(&["QUERY", name], &[])).await
}

/// `.service` answers `(address)` or `(nil, error)`.
async fn service_manager(request: &[Value]) -> Result<Address> {
    let answer = call_values(".service", ptype::LUA, request).await?;
    match answer.first().and_then(Value::as_integer).and_then(|n| u32::try_from(n).ok()) {
        Some(address) => Ok(Address(address)),
        None => {
            let reason = answer.get(1).and_then(Value::as_str).unwrap_or("no such service");
            Err(Error::new(reason))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_decimals() {
        use super::parse_decimal;
        assert_eq!(parse_decimal("42"), Some(42.0));
        assert_eq!(parse_decimal("-3.25"), Some(-3.25));
        assert_eq!(parse_decimal("0.5"), Some(0.5));
        for bad in ["", "-", ".5", "1e3", "x", "1.2.3", "nan"] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
    }
}
