//! `matchmaker`: groups players of similar rating into rooms.
//!
//! A realistic guest: typed serde messages, requests answered later by [`Responder`]s, a
//! deadline per request, and a call to another service while other requests go on.
//!
//! Launch arguments, `key=value` words, all optional:
//!
//! - `size=N`: players per room (default 2);
//! - `spread=N`: the largest rating difference within a room (default 200);
//! - `wait=TICKS`: how long a `join` waits for a match before it fails (default 1000, 10 s);
//! - `rooms=ADDRESS`: a service that creates rooms (`:0000000a` or `.name`). It is called with
//!   `"create", {player, ...}` and answers the room's id. Without it rooms are numbered here.
//!
//! Protocol (`lua`):
//!
//! | request | answer |
//! |---------|--------|
//! | `"join", player, rating` | once matched: `{ room = id, players = {...}, spread = n }` (the rating spread); ERROR after `wait`, or if the player is already waiting |
//! | `"leave", player` | `true` if the player was waiting (its `join` then fails), else `false` |
//! | `"stats"` | `{ waiting = n, matched = n, rooms = n, expired = n }` |
//!
//! Whenever a player joins, the matchmaker looks for the `size` waiting players whose ratings
//! are closest (the smallest spread); if that spread is within `spread`, they get a room and the
//! others keep waiting.

use std::cell::{Cell, RefCell};

use serde::{Deserialize, Serialize};
use skybox_sdk::{
    Address, Error, JoinHandle, Reply, Request, Responder, Result, Service, call, sleep, spawn,
};

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Command {
    Join(String, i64),
    Leave(String),
    Stats,
}

/// The answer to a `join`.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Match {
    room: i64,
    players: Vec<String>,
    spread: i64,
}

#[derive(Serialize)]
struct Stats {
    waiting: usize,
    matched: u64,
    rooms: u64,
    expired: u64,
}

/// A player waiting for a match; owns the answer to its `join`.
struct Waiting {
    ticket: u64,
    player: String,
    rating: i64,
    responder: Responder,
    /// Fails the join after `wait`; aborted when the player is matched or leaves.
    expiry: JoinHandle<()>,
}

struct Config {
    size: usize,
    spread: i64,
    wait: i32,
    rooms: Option<Address>,
}

impl Config {
    fn parse(args: &str) -> Result<Config> {
        let mut config = Config { size: 2, spread: 200, wait: 1000, rooms: None };
        for word in args.split_whitespace() {
            let (key, value) =
                word.split_once('=').ok_or_else(|| Error::new(format!("bad argument {word}")))?;
            match key {
                "size" => config.size = value.parse().map_err(|_| Error::new(format!("bad size {value}")))?,
                "spread" => {
                    config.spread = value.parse().map_err(|_| Error::new(format!("bad spread {value}")))?
                }
                "wait" => config.wait = value.parse().map_err(|_| Error::new(format!("bad wait {value}")))?,
                "rooms" if value.starts_with('.') => {
                    config.rooms = Some(
                        skybox_sdk::query(value).ok_or_else(|| Error::new(format!("no service {value}")))?,
                    );
                }
                "rooms" => {
                    config.rooms =
                        Some(value.parse().map_err(|_| Error::new(format!("bad address {value}")))?)
                }
                _ => return Err(Error::new(format!("unknown argument {key}"))),
            }
        }
        if config.size == 0 {
            return Err(Error::new("size must be at least 1"));
        }
        Ok(config)
    }
}

struct Matchmaker {
    config: Config,
    queue: RefCell<Vec<Waiting>>,
    next_ticket: Cell<u64>,
    next_room: Cell<i64>,
    matched: Cell<u64>,
    rooms: Cell<u64>,
    expired: Cell<u64>,
}

impl Service for Matchmaker {
    async fn start(args: String) -> Result<Self> {
        Ok(Matchmaker {
            config: Config::parse(&args)?,
            queue: RefCell::new(Vec::new()),
            next_ticket: Cell::new(1),
            next_room: Cell::new(1),
            matched: Cell::new(0),
            rooms: Cell::new(0),
            expired: Cell::new(0),
        })
    }

    async fn lua(&'static self, request: Request) -> Result<Reply> {
        match request.args()? {
            Command::Join(player, rating) => self.join(&request, player, rating),
            Command::Leave(player) => Ok(Reply::pack(&(self.leave(&player),))?),
            Command::Stats => Ok(Reply::pack(&(Stats {
                waiting: self.queue.borrow().len(),
                matched: self.matched.get(),
                rooms: self.rooms.get(),
                expired: self.expired.get(),
            },))?),
        }
    }
}

impl Matchmaker {
    fn join(&'static self, request: &Request, player: String, rating: i64) -> Result<Reply> {
        if self.queue.borrow().iter().any(|w| w.player == player) {
            return Err(Error::new(format!("{player} is already waiting")));
        }
        let responder = request.responder().ok_or_else(|| Error::new("join must be a call"))?;
        let ticket = self.next_ticket.replace(self.next_ticket.get() + 1);
        let expiry = spawn(async move {
            sleep(self.config.wait).await;
            self.expire(ticket);
        });
        self.queue.borrow_mut().push(Waiting { ticket, player, rating, responder, expiry });
        if let Some(group) = self.take_group() {
            spawn(self.open_room(group));
        }
        Ok(Reply::Later)
    }

    fn leave(&self, player: &str) -> bool {
        let mut queue = self.queue.borrow_mut();
        let Some(at) = queue.iter().position(|w| w.player == player) else { return false };
        let waiting = queue.remove(at);
        drop(queue);
        waiting.expiry.abort();
        waiting.responder.fail(&format!("{player} left"));
        true
    }

    fn expire(&self, ticket: u64) {
        let mut queue = self.queue.borrow_mut();
        let Some(at) = queue.iter().position(|w| w.ticket == ticket) else { return };
        let waiting = queue.remove(at);
        drop(queue);
        self.expired.set(self.expired.get() + 1);
        let reason = format!("no match for {} within {} ticks", waiting.player, self.config.wait);
        waiting.responder.fail(&reason);
    }

    /// Takes the `size` waiting players with the closest ratings, if there are enough and their
    /// spread is acceptable.
    fn take_group(&self) -> Option<Vec<Waiting>> {
        let size = self.config.size;
        let mut queue = self.queue.borrow_mut();
        if queue.len() < size {
            return None;
        }
        queue.sort_by_key(|w| w.rating);
        let spread = |i: usize| queue[i + size - 1].rating - queue[i].rating;
        let start = (0..=queue.len() - size)
            .min_by_key(|&i| spread(i))
            .filter(|&i| spread(i) <= self.config.spread)?;
        let group: Vec<Waiting> = queue.drain(start..start + size).collect();
        for waiting in &group {
            // Matched: no deadline any more while the room is being made.
            waiting.expiry.abort();
        }
        Some(group)
    }

    /// Creates the room (calling the rooms service, if any) and answers every player in it.
    async fn open_room(&'static self, group: Vec<Waiting>) {
        let players: Vec<String> = group.iter().map(|w| w.player.clone()).collect();
        let spread = group.last().map_or(0, |w| w.rating) - group.first().map_or(0, |w| w.rating);
        let room = match self.config.rooms {
            Some(rooms) => call::<_, i64>(rooms, "lua", &("create", &players)).await.map_err(Error::from),
            None => Ok(self.next_room.replace(self.next_room.get() + 1)),
        };
        match room {
            Ok(room) => {
                skybox_sdk::log!("room {room}: {}", players.join(", "));
                self.rooms.set(self.rooms.get() + 1);
                self.matched.set(self.matched.get() + group.len() as u64);
                let answer = Match { room, players, spread };
                for waiting in group {
                    let _ = waiting.responder.pack(&(&answer,));
                }
            }
            Err(e) => {
                skybox_sdk::log!("cannot create a room for {}: {e}", players.join(", "));
                for waiting in group {
                    waiting.responder.fail(&format!("cannot create a room: {e}"));
                }
            }
        }
    }
}

skybox_sdk::service!(Matchmaker);

#[cfg(test)]
mod tests {
    use skybox_sdk::testing::Harness;
    use skybox_sdk::{Address, Table, Value, ptype};

    use super::{Match, Matchmaker};

    const A: Address = Address(0xa);
    const B: Address = Address(0xb);
    const C: Address = Address(0xc);
    const ROOMS: Address = Address(0x99);

    fn stats(h: &Harness) -> Table {
        let session = h.request_lua(A, &("stats",));
        h.answer_to(A, session).unwrap().args::<Table>().unwrap()
    }

    #[test]
    fn matches_the_closest_ratings() {
        let h = Harness::start::<Matchmaker>("size=2");
        let alice = h.request_lua(A, &("join", "alice", 1500));
        let bob = h.request_lua(B, &("join", "bob", 1900));
        let carol = h.request_lua(C, &("join", "carol", 1550));
        // bob is too far from both; alice and carol are matched together.
        let to_alice = h.answer_to(A, alice).unwrap().args::<Match>().unwrap();
        let to_carol = h.answer_to(C, carol).unwrap().args::<Match>().unwrap();
        assert_eq!(to_alice, Match { room: 1, players: vec!["alice".into(), "carol".into()], spread: 50 });
        assert_eq!(to_alice, to_carol);
        assert!(h.answer_to(B, bob).is_none());
        assert_eq!(stats(&h).field("waiting"), Some(&Value::Integer(1)));
        assert!(h.logs().iter().any(|l| l == "room 1: alice, carol"));
        // The matched players' deadlines are gone; bob's is still there.
        assert_eq!(h.task_count(), 1);
    }

    #[test]
    fn joins_expire_and_players_can_leave() {
        let h = Harness::start::<Matchmaker>("size=3 wait=100");
        let alice = h.request_lua(A, &("join", "alice", 1500));
        let bob = h.request_lua(B, &("join", "bob", 1500));
        let again = h.request_lua(B, &("join", "bob", 1500));
        let answer = h.answer_to(B, again).unwrap();
        assert_eq!((answer.ptype, answer.text()), (ptype::ERROR, "bob is already waiting".into()));

        let leave = h.request_lua(C, &("leave", "bob"));
        assert!(h.answer_to(C, leave).unwrap().args::<bool>().unwrap());
        let answer = h.answer_to(B, bob).unwrap();
        assert_eq!((answer.ptype, answer.text()), (ptype::ERROR, "bob left".into()));

        h.advance(99);
        assert!(h.answer_to(A, alice).is_none());
        h.advance(1);
        let answer = h.answer_to(A, alice).unwrap();
        assert_eq!(
            (answer.ptype, answer.text()),
            (ptype::ERROR, "no match for alice within 100 ticks".into())
        );
        let stats = stats(&h);
        assert_eq!(stats.field("expired"), Some(&Value::Integer(1)));
        assert_eq!(stats.field("waiting"), Some(&Value::Integer(0)));
        assert_eq!(h.task_count(), 0);
    }

    #[test]
    fn asks_the_rooms_service_while_serving_others() {
        let h = Harness::builder().name(".rooms", ROOMS).start::<Matchmaker>("rooms=.rooms");
        h.take_sent();
        let alice = h.request_lua(A, &("join", "alice", 10));
        let bob = h.request_lua(B, &("join", "bob", 20));
        let [create] = h.take_requests().try_into().unwrap();
        assert_eq!(
            create.args::<(String, Vec<String>)>().unwrap(),
            ("create".into(), vec!["alice".into(), "bob".into()])
        );
        // Still serving while the room is being made.
        assert_eq!(stats(&h).field("waiting"), Some(&Value::Integer(0)));
        h.respond_lua(&create, &(42,));
        assert_eq!(h.answer_to(A, alice).unwrap().args::<Match>().unwrap().room, 42);
        assert_eq!(h.answer_to(B, bob).unwrap().args::<Match>().unwrap().spread, 10);

        // A failing rooms service fails the joins, not the matchmaker.
        let carol = h.request_lua(C, &("join", "carol", 1));
        let dave = h.request_lua(A, &("join", "dave", 2));
        let [create] = h.take_requests().try_into().unwrap();
        h.fail(&create, "full");
        assert_eq!(h.answer_to(C, carol).unwrap().text(), "cannot create a room: call failed: full");
        assert_eq!(h.answer_to(A, dave).unwrap().ptype, ptype::ERROR);
    }

    #[test]
    fn bad_arguments_fail_the_launch() {
        let h = Harness::start::<Matchmaker>("size=zero");
        assert!(h.exited());
        assert!(h.logs().iter().any(|l| l == "init service failed: bad size zero"));
    }
}
