//! `journal`: a ledger that stamps every entry with the node's clock, and a ticker whose pace
//! follows the high-resolution clock: a guest whose log differs on every run, which a record
//! must replay line for line (`skybox replay`).
//!
//! Launch arguments, `key=value` words, all optional:
//!
//! - `ticks=N`: the ticker logs N times, then stops (default 5);
//! - `seed=PATH`: a file read at start through the profile's `files` (`NAME/relative`): its size
//!   and first line are logged (a replay reads what was read then, not the file as it is now).
//!
//! Protocol (`lua`):
//!
//! | request | answer |
//! |---------|--------|
//! | `"add", who, amount` | the new total; logs who, the amount and when |
//! | `"total"` | the total and the number of entries |
//! | `"exit"` | `true`, then the guest exits |

use std::cell::{Cell, RefCell};

use serde::Deserialize;
use skybox_sdk::{Error, Reply, Request, Result, Service, exit, hpc, log, now, sleep, spawn, time};

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Command {
    Add(String, i64),
    Total,
    Exit,
}

struct Journal {
    total: Cell<i64>,
    /// Who added how much, and when (`now`).
    entries: RefCell<Vec<(String, i64, i64)>>,
}

impl Service for Journal {
    async fn start(args: String) -> Result<Self> {
        let mut ticks = 5;
        let mut seed = None;
        for word in args.split_whitespace() {
            match word.split_once('=') {
                Some(("ticks", n)) => ticks = n.parse().map_err(|_| Error::new(format!("bad ticks {n}")))?,
                Some(("seed", path)) => seed = Some(path.to_string()),
                _ => return Err(Error::new(format!("bad argument {word}"))),
            }
        }
        log(&format!("journal up: now={} time={:.2}", now(), time()?));
        if let Some(path) = seed {
            match skybox_sdk::fs::read(&path) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    log(&format!("seed {path}: {} bytes, first line {:?}", bytes.len(), text.lines().next()));
                }
                Err(e) => log(&format!("seed {path}: {e}")),
            }
        }
        spawn(async move {
            for i in 1..=ticks {
                sleep((hpc() % 5 + 1) as i32).await;
                log(&format!("tick {i}: now={} hpc%1000={}", now(), hpc() % 1000));
            }
        });
        Ok(Journal { total: Cell::new(0), entries: RefCell::new(Vec::new()) })
    }

    async fn lua(&'static self, request: Request) -> Result<Reply> {
        match request.args()? {
            Command::Add(who, amount) => {
                let total = self.total.get() + amount;
                self.total.set(total);
                let at = now();
                log(&format!("add {who} {amount} from {} at now={at}: total {total}", request.source()));
                self.entries.borrow_mut().push((who, amount, at));
                Ok(Reply::pack(&(total,))?)
            }
            Command::Total => Ok(Reply::pack(&(self.total.get(), self.entries.borrow().len()))?),
            Command::Exit => {
                log("journal exits");
                exit();
                Ok(Reply::pack(&(true,))?)
            }
        }
    }
}

skybox_sdk::service!(Journal);
