//! `mailbox`: the async message service of the idempotent-delivery example
//! (`services/mailbox`): a delivery platform hands it compensation for a player under a unique
//! ticket; it archives ticket and message together in the store, once, and the player's logic
//! pulls what it has not consumed yet.
//!
//! It keeps no state that matters: the store (`.mqstore`, a trusted Lua service over SQLite or
//! redis) holds every message, so a mailbox killed mid-delivery and launched again loses
//! nothing, and a retried delivery finds its ticket archived and gets the first answer again.
//! It runs confined (a tenant's profile: its own tenant's services and public names only); the
//! player agents are not its to message, so they learn of news by waiting on it (`wait`), which
//! it answers when news comes.
//!
//! Launch arguments: `store=NAME` (default `.mqstore`), `wait=TICKS` (how long a `wait` is
//! held before it answers `false`, default 500), `name=NAME` (the name it registers, default
//! `.mailbox`), `lose=N` (a fault for the example's tests: every Nth delivery is archived but its
//! answer never sent, as if lost on the way; 0, the default, loses none).
//!
//! Protocol (`lua`):
//!
//! | request | answer |
//! |---------|--------|
//! | `"deliver", player, ticket, payload` | `version, fresh`: the message's version for that player; `fresh` is false when the ticket was archived before (a retry), and then nothing new was stored |
//! | `"pull", player, after` | `{ {version, ticket, payload}, ... }`: archived messages with a version above `after`, in order (at most 100) |
//! | `"wait", player, after` | the latest version once it is above `after` (at once if it is), or `false` after `wait` ticks |
//! | `"stats"` | `{ delivered = n, retries = n, waiting = n }` |

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use serde::Serialize;
use skybox_sdk::{Error, Reply, Request, Responder, Result, Service, Value, call, call_values, sleep, spawn};

/// Longest ticket, payload and player name accepted.
const MAX_TICKET: usize = 128;
const MAX_PAYLOAD: usize = 64 * 1024;
const MAX_PLAYER: usize = 64;

struct Mailbox {
    store: String,
    wait: i32,
    /// Agents waiting for news, by player: (the version they have, who waits).
    waiting: RefCell<HashMap<String, Vec<(i64, Responder)>>>,
    delivered: Cell<u64>,
    retries: Cell<u64>,
    lose: u64,
    /// Answers withheld (`lose`): never sent, released when the guest goes.
    lost: RefCell<Vec<Responder>>,
}

#[derive(Serialize)]
struct Stats {
    delivered: u64,
    retries: u64,
    waiting: usize,
}

fn check(what: &str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() || value.len() > max {
        return Err(Error::new(format!("{what} must be 1 to {max} bytes, got {}", value.len())));
    }
    Ok(())
}

impl Service for Mailbox {
    async fn start(args: String) -> Result<Self> {
        let (mut store, mut wait, mut name, mut lose) =
            (".mqstore".to_string(), 500, ".mailbox".to_string(), 0);
        for word in args.split_whitespace() {
            match word.split_once('=') {
                Some(("store", v)) => store = v.to_string(),
                Some(("wait", v)) => wait = v.parse().map_err(|_| Error::new(format!("bad wait {v}")))?,
                Some(("name", v)) => name = v.to_string(),
                Some(("lose", v)) => lose = v.parse().map_err(|_| Error::new(format!("bad lose {v}")))?,
                _ => return Err(Error::new(format!("unknown argument {word}"))),
            }
        }
        skybox_sdk::register(&name).map_err(|e| Error::new(format!("cannot register {name}: {e}")))?;
        Ok(Mailbox {
            store,
            wait,
            waiting: RefCell::default(),
            delivered: Cell::new(0),
            retries: Cell::new(0),
            lose,
            lost: RefCell::default(),
        })
    }

    async fn lua(&'static self, request: Request) -> Result<Reply> {
        let values = request.values()?;
        let text = |i: usize, what: &str| -> Result<String> {
            values
                .get(i)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| Error::new(format!("{what} expected")))
        };
        let command = text(0, "a command")?;
        match command.as_str() {
            "deliver" => {
                let payload = match values.get(3) {
                    Some(Value::String(bytes)) => bytes.clone(),
                    _ => return Err(Error::new("payload (a string) expected")),
                };
                let reply = self.deliver(text(1, "player")?, text(2, "ticket")?, payload).await?;
                let n = self.delivered.get() + self.retries.get();
                if self.lose > 0
                    && n % self.lose == 0
                    && let Some(responder) = request.responder()
                {
                    // Archived, but the answer is lost on the way: the courier must retry.
                    self.lost.borrow_mut().push(responder);
                    return Ok(Reply::Later);
                }
                Ok(reply)
            }
            "pull" => {
                let (_, player, after): (String, String, i64) = request.args()?;
                check("player", &player, MAX_PLAYER)?;
                let rows =
                    call_values(self.store.as_str(), "lua", &values_of(&["pull"], &player, after)).await?;
                Ok(Reply::values(&rows)?)
            }
            "wait" => {
                let (_, player, after): (String, String, i64) = request.args()?;
                self.wait(&request, player, after).await
            }
            "stats" => Ok(Reply::pack(&(Stats {
                delivered: self.delivered.get(),
                retries: self.retries.get(),
                waiting: self.waiting.borrow().values().map(Vec::len).sum(),
            },))?),
            other => Err(Error::new(format!("unknown command {other:?}"))),
        }
    }
}

/// `head..., player, n` as lua values.
fn values_of(head: &[&str], player: &str, n: i64) -> Vec<Value> {
    let mut v: Vec<Value> = head.iter().map(|s| Value::from(*s)).collect();
    v.push(Value::from(player));
    v.push(Value::Integer(n));
    v
}

impl Mailbox {
    /// Archives the message once (the store's `append` is one transaction: the ticket and the
    /// message with the player's next version, or the version the ticket already has), then
    /// answers the agents waiting for that player.
    async fn deliver(&'static self, player: String, ticket: String, payload: Vec<u8>) -> Result<Reply> {
        check("player", &player, MAX_PLAYER)?;
        check("ticket", &ticket, MAX_TICKET)?;
        if payload.len() > MAX_PAYLOAD {
            return Err(Error::new(format!("payload over {MAX_PAYLOAD} bytes")));
        }
        let (version, fresh): (i64, bool) =
            call(self.store.as_str(), "lua", &("append", &player, &ticket, Value::String(payload))).await?;
        if fresh {
            self.delivered.set(self.delivered.get() + 1);
            self.tell(&player, version);
        } else {
            self.retries.set(self.retries.get() + 1);
        }
        Ok(Reply::pack(&(version, fresh))?)
    }

    /// Answers whoever waits for news of `player` with a version below `version`.
    fn tell(&self, player: &str, version: i64) {
        let mut waiting = self.waiting.borrow_mut();
        let Some(list) = waiting.get_mut(player) else { return };
        let (ready, keep): (Vec<_>, Vec<_>) = list.drain(..).partition(|(after, _)| *after < version);
        *list = keep;
        if list.is_empty() {
            waiting.remove(player);
        }
        drop(waiting);
        for (_, responder) in ready {
            let _ = responder.pack(&(version,));
        }
    }

    /// Answers at once when the store already holds news; else holds the request until a
    /// delivery for the player or the `wait` deadline.
    async fn wait(&'static self, request: &Request, player: String, after: i64) -> Result<Reply> {
        check("player", &player, MAX_PLAYER)?;
        let responder = request.responder().ok_or_else(|| Error::new("wait must be a call"))?;
        let (latest,): (i64,) = call(self.store.as_str(), "lua", &("latest", &player)).await?;
        if latest > after {
            let _ = responder.pack(&(latest,));
            return Ok(Reply::Later);
        }
        let session = responder.session();
        self.waiting.borrow_mut().entry(player.clone()).or_default().push((after, responder));
        spawn(async move {
            sleep(self.wait).await;
            let mut waiting = self.waiting.borrow_mut();
            let Some(list) = waiting.get_mut(&player) else { return };
            let Some(at) = list.iter().position(|(_, r)| r.session() == session) else { return };
            let (_, responder) = list.remove(at);
            if list.is_empty() {
                waiting.remove(&player);
            }
            drop(waiting);
            let _ = responder.pack(&(false,));
        });
        Ok(Reply::Later)
    }
}

skybox_sdk::service!(Mailbox);

#[cfg(test)]
mod tests {
    use skybox_sdk::testing::Harness;
    use skybox_sdk::{Address, Value, ptype};

    use super::Mailbox;

    const COURIER: Address = Address(0xc);
    const AGENT: Address = Address(0xa);
    const STORE: Address = Address(0x99);

    fn start() -> Harness {
        let h = Harness::builder().name(".mqstore", STORE).start::<Mailbox>("wait=100");
        h.take_sent();
        h
    }

    #[test]
    fn a_delivery_is_archived_then_answered_and_wakes_the_waiting_agent() {
        let h = start();
        // The agent waits: the mailbox asks the store for the latest version first.
        let wait = h.request_lua(AGENT, &("wait", "p1", 0));
        let [latest] = h.take_requests().try_into().unwrap();
        assert_eq!(latest.args::<(String, String)>().unwrap(), ("latest".into(), "p1".into()));
        h.respond_lua(&latest, &(0,));
        assert!(h.answer_to(AGENT, wait).is_none(), "nothing new: held");
        let deliver = h.request_lua(COURIER, &("deliver", "p1", "t-1", "coins:5"));
        let [append] = h.take_requests().try_into().unwrap();
        assert_eq!(
            append.args::<(String, String, String, String)>().unwrap(),
            ("append".into(), "p1".into(), "t-1".into(), "coins:5".into())
        );
        assert!(h.answer_to(COURIER, deliver).is_none(), "not answered before the store has it");
        h.respond_lua(&append, &(1, true));
        assert_eq!(h.answer_to(COURIER, deliver).unwrap().args::<(i64, bool)>().unwrap(), (1, true));
        assert_eq!(h.answer_to(AGENT, wait).unwrap().args::<i64>().unwrap(), 1);
        // A retry: the store says the ticket is known; the same answer, no news for anyone.
        let retry = h.request_lua(COURIER, &("deliver", "p1", "t-1", "coins:5"));
        let [append] = h.take_requests().try_into().unwrap();
        h.respond_lua(&append, &(1, false));
        assert_eq!(h.answer_to(COURIER, retry).unwrap().args::<(i64, bool)>().unwrap(), (1, false));
    }

    #[test]
    fn a_lost_answer_is_archived_but_never_sent() {
        let h = Harness::builder().name(".mqstore", STORE).start::<Mailbox>("lose=1");
        h.take_sent();
        let deliver = h.request_lua(COURIER, &("deliver", "p1", "t-1", "coins:5"));
        let [append] = h.take_requests().try_into().unwrap();
        h.respond_lua(&append, &(1, true));
        assert!(h.answer_to(COURIER, deliver).is_none(), "archived, the answer lost");
    }

    #[test]
    fn a_wait_ends_false_at_its_deadline_and_bad_deliveries_fail() {
        let h = start();
        let wait = h.request_lua(AGENT, &("wait", "p1", 3));
        let [latest] = h.take_requests().try_into().unwrap();
        h.respond_lua(&latest, &(3,));
        h.advance(100);
        assert_eq!(h.answer_to(AGENT, wait).unwrap().values().unwrap(), vec![Value::Boolean(false)]);
        for bad in [("deliver", "", "t", "x"), ("deliver", "p", "", "x")] {
            let s = h.request_lua(COURIER, &bad);
            assert_eq!(h.answer_to(COURIER, s).unwrap().ptype, ptype::ERROR, "{bad:?}");
        }
        assert!(h.take_requests().is_empty(), "nothing bad reached the store");
    }
}
