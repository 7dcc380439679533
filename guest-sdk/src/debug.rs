//! The debug protocol (type 9, lua-packed) every skynet service answers; the launcher's `STAT`
//! and `MEM` and debug consoles send it. A guest answers it even before its `start` has
//! finished.
//!
//! | command | answer |
//! |---------|--------|
//! | `PING` | no values |
//! | `LINK` | none while the guest lives; fails when it exits |
//! | `MEM` | linear memory size in KB |
//! | `GC` | nothing (there is no collector) |
//! | `STAT` | `{ task, mqlen, cpu, message }` |
//! | `INFO` | nil |
//! | `EXIT` | the guest exits |
//! | `TERM addr` | calls pending on `addr` fail as if it had exited |

use serde::Serialize;

use crate::abi::{self, Address};
use crate::codec::Value;
use crate::error::{Error, Result};
use crate::runtime;
use crate::service::{Reply, Request};

#[derive(Serialize)]
struct Stat {
    task: usize,
    mqlen: f64,
    cpu: f64,
    message: u64,
}

pub(crate) async fn handle(request: Request) -> Result<Reply> {
    let values = request.values()?;
    let command = values.first().and_then(Value::as_str).unwrap_or_default();
    match command {
        "PING" | "GC" => Ok(Reply::empty()),
        "LINK" => {
            if let Some(responder) = request.responder() {
                runtime::hold_link(responder);
            }
            Ok(Reply::Later)
        }
        "MEM" => Ok(Reply::pack(&(abi::memory_size() as f64 / 1024.0,))?),
        "STAT" => Ok(Reply::pack(&(Stat {
            task: runtime::task_count(),
            mqlen: crate::stat("mqlen").unwrap_or(0.0),
            cpu: crate::stat("cpu").unwrap_or(0.0),
            message: runtime::message_count(),
        },))?),
        "INFO" => Ok(Reply::pack(&(None::<()>,))?),
        "EXIT" => {
            crate::exit();
            Ok(Reply::empty())
        }
        "TERM" => {
            let address = values.get(1).and_then(Value::as_integer).and_then(|n| u32::try_from(n).ok());
            if let Some(address) = address {
                runtime::service_down(Address(address));
            }
            Ok(Reply::empty())
        }
        other => Err(Error::new(format!("Unknown debug command {other}"))),
    }
}
