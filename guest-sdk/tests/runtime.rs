//! The runtime driven natively through the testing harness: dispatch by protocol, calls that
//! suspend a task while others run, responders, timers, parallel calls, forward mode, errors,
//! exit and the debug protocol.

use std::cell::RefCell;

use skybox_sdk::testing::{Harness, Sent, Target};
use skybox_sdk::{
    Address, CallError, Reply, Request, Responder, Result, Service, Value, call, call_values, ptype, sleep,
    spawn, timeout,
};

const CLIENT: Address = Address(0x42);
const OTHER: Address = Address(0x43);
const BACKEND: Address = Address(0x77);

/// A service whose lua commands exercise one feature each.
#[derive(Default)]
struct Probe {
    config: Option<String>,
    held: RefCell<Vec<Responder>>,
}

impl Service for Probe {
    async fn start(args: String) -> Result<Self> {
        match args.as_str() {
            "fail" => Err(skybox_sdk::Error::new("bad config")),
            "config" => {
                let value: String = call(".config", "lua", &("get",)).await?;
                Ok(Probe { config: Some(value), ..Probe::default() })
            }
            "launch" => {
                let worker = skybox_sdk::newservice("worker", &["a", "b"]).await?;
                let shared = skybox_sdk::uniqueservice("shared", &[]).await?;
                Ok(Probe { config: Some(format!("{worker} {shared}")), ..Probe::default() })
            }
            _ => Ok(Probe::default()),
        }
    }

    async fn lua(&'static self, request: Request) -> Result<Reply> {
        let values = request.values()?;
        let command = values.first().and_then(Value::as_str).unwrap_or_default().to_owned();
        let rest = values.get(1..).unwrap_or_default().to_vec();
        let arg_address = || Address(rest[0].as_integer().unwrap() as u32);
        match command.as_str() {
            "echo" => Ok(Reply::values(&rest)?),
            "config" => Ok(Reply::pack(&(self.config.as_deref(),))?),
            "ping" => Ok(Reply::pack(&("pong",))?),
            "fail" => Err(skybox_sdk::Error::new(rest[0].as_str().unwrap())),
            "relay" => {
                let answer = call_values(arg_address(), "lua", &rest[1..]).await?;
                Ok(Reply::values(&answer)?)
            }
            "typed" => {
                let (sum,): (i64,) = call(arg_address(), "lua", &("add", 1, 2)).await?;
                Ok(Reply::pack(&(sum * 10,))?)
            }
            "hold" => {
                self.held.borrow_mut().push(request.responder().expect("a request"));
                Ok(Reply::Later)
            }
            "release" => {
                for responder in self.held.borrow_mut().drain(..) {
                    responder.pack(&(rest[0].as_str(),))?;
                }
                Ok(Reply::empty())
            }
            "drop_held" => {
                self.held.borrow_mut().clear();
                Ok(Reply::empty())
            }
            "later" => Ok(Reply::Later),
            "sleep" => {
                sleep(rest[0].as_integer().unwrap() as i32).await;
                Ok(Reply::pack(&("slept",))?)
            }
            "deadline" => {
                let answer = timeout(10, call::<_, String>(arg_address(), "lua", &("slow",))).await;
                Ok(Reply::pack(&(answer.map_or_else(|_| "timeout".to_owned(), |r| r.unwrap()),))?)
            }
            "fanout" => {
                let calls = rest
                    .iter()
                    .map(|a| call::<_, i64>(Address(a.as_integer().unwrap() as u32), "lua", &("number",)));
                let answers: Vec<i64> =
                    skybox_sdk::join_all(calls).await.into_iter().collect::<Result<_, _>>()?;
                Ok(Reply::pack(&(answers,))?)
            }
            "spawn" => {
                spawn(async {
                    sleep(5).await;
                    let _ = skybox_sdk::send(".observer", "lua", &("spawned",));
                });
                Ok(Reply::empty())
            }
            "exit" => {
                skybox_sdk::exit();
                Ok(Reply::pack(&("bye",))?)
            }
            other => Err(skybox_sdk::Error::new(format!("unknown command {other}"))),
        }
    }
}

fn requests_to(harness: &Harness, dest: Address) -> Vec<Sent> {
    harness.take_requests().into_iter().filter(|s| s.dest == Target::Address(dest)).collect()
}

#[test]
fn answers_lua_requests_with_the_handlers_reply() {
    let h = Harness::start::<Probe>("");
    // Started: the launcher is told.
    let sent = h.take_sent();
    assert!(sent.iter().any(|s| s.is_to_name(".launcher") && s.ptype == ptype::TEXT && s.payload.is_empty()));

    let session = h.request_lua(CLIENT, &("echo", 1, "two", 3.5));
    let answer = h.answer_to(CLIENT, session).unwrap();
    assert_eq!(answer.ptype, ptype::RESPONSE);
    assert_eq!(answer.args::<(i64, String, f64)>().unwrap(), (1, "two".into(), 3.5));

    // One-way messages get no answer.
    h.send_lua(CLIENT, &("ping",));
    assert!(h.take_sent().is_empty());
}

#[test]
fn handler_errors_fail_the_request_and_the_service_goes_on() {
    let h = Harness::start::<Probe>("");
    h.take_sent();
    let session = h.request_lua(CLIENT, &("fail", "boom"));
    let answer = h.answer_to(CLIENT, session).unwrap();
    assert_eq!((answer.ptype, answer.text()), (ptype::ERROR, "boom".to_owned()));
    assert!(h.logs().iter().any(|l| l.contains("lua request from :00000042 failed: boom")), "{:?}", h.logs());
    let session = h.request_lua(CLIENT, &("ping",));
    assert_eq!(h.answer_to(CLIENT, session).unwrap().args::<String>().unwrap(), "pong");

    // Undecodable payloads and unhandled protocols fail too.
    let session = h.request(CLIENT, ptype::LUA, &[0x07]);
    assert_eq!(h.answer_to(CLIENT, session).unwrap().ptype, ptype::ERROR);
    let session = h.request(CLIENT, ptype::CLIENT, b"raw");
    let answer = h.answer_to(CLIENT, session).unwrap();
    assert!(answer.text().contains("Unknown request (client)"), "{}", answer.text());
}

#[test]
fn a_call_suspends_only_its_own_task() {
    let h = Harness::start::<Probe>("");
    h.take_sent();
    let relayed = h.request_lua(CLIENT, &("relay", BACKEND, "get", "key"));
    let [request] = requests_to(&h, BACKEND).try_into().unwrap();
    assert_eq!(request.args::<(String, String)>().unwrap(), ("get".into(), "key".into()));
    assert!(h.answer_to(CLIENT, relayed).is_none());

    // The service keeps serving while the relay waits.
    let pinged = h.request_lua(OTHER, &("ping",));
    assert_eq!(h.answer_to(OTHER, pinged).unwrap().args::<String>().unwrap(), "pong");

    h.respond_lua(&request, &("value", 7));
    let answer = h.answer_to(CLIENT, relayed).unwrap();
    assert_eq!(answer.args::<(String, i64)>().unwrap(), ("value".into(), 7));
}

#[test]
fn typed_calls_and_their_failures() {
    let h = Harness::start::<Probe>("");
    h.take_sent();
    let session = h.request_lua(CLIENT, &("typed", BACKEND));
    let [request] = requests_to(&h, BACKEND).try_into().unwrap();
    assert_eq!(request.args::<(String, i64, i64)>().unwrap(), ("add".into(), 1, 2));
    h.respond_lua(&request, &(3,));
    assert_eq!(h.answer_to(CLIENT, session).unwrap().args::<i64>().unwrap(), 30);

    // An ERROR answer fails the call; the handler's `?` turns it into an ERROR for its caller.
    let session = h.request_lua(CLIENT, &("typed", BACKEND));
    let [request] = requests_to(&h, BACKEND).try_into().unwrap();
    h.fail(&request, "no adder");
    let answer = h.answer_to(CLIENT, session).unwrap();
    assert_eq!((answer.ptype, answer.text()), (ptype::ERROR, "call failed: no adder".to_owned()));

    // An answer of the wrong type is a decode error.
    let session = h.request_lua(CLIENT, &("typed", BACKEND));
    let [request] = requests_to(&h, BACKEND).try_into().unwrap();
    h.respond_lua(&request, &("three",));
    assert_eq!(h.answer_to(CLIENT, session).unwrap().ptype, ptype::ERROR);

    // A dead destination fails at once.
    h.host(|host| host.kill(BACKEND));
    let session = h.request_lua(CLIENT, &("typed", BACKEND));
    let answer = h.answer_to(CLIENT, session).unwrap();
    assert_eq!((answer.ptype, answer.text()), (ptype::ERROR, "cannot send: no such service".to_owned()));
}

#[test]
fn a_service_down_notice_fails_its_pending_calls() {
    let h = Harness::start::<Probe>("");
    h.take_sent();
    let session = h.request_lua(CLIENT, &("relay", BACKEND, "x"));
    let other = h.request_lua(OTHER, &("relay", Address(0x99), "y"));
    h.take_sent();
    h.deliver(ptype::ERROR, 0, BACKEND, &[]);
    let answer = h.answer_to(CLIENT, session).unwrap();
    assert_eq!((answer.ptype, answer.text()), (ptype::ERROR, "call failed: the service is gone".to_owned()));
    assert!(h.answer_to(OTHER, other).is_none(), "only calls to the dead service fail");
}

#[test]
fn responders_answer_later_or_fail_when_dropped() {
    let h = Harness::start::<Probe>("");
    h.take_sent();
    let first = h.request_lua(CLIENT, &("hold",));
    let second = h.request_lua(OTHER, &("hold",));
    assert!(h.take_sent().is_empty());
    let release = h.request_lua(CLIENT, &("release", "done"));
    assert_eq!(h.answer_to(CLIENT, first).unwrap().args::<String>().unwrap(), "done");
    assert_eq!(h.answer_to(OTHER, second).unwrap().args::<String>().unwrap(), "done");
    assert_eq!(h.answer_to(CLIENT, release).unwrap().ptype, ptype::RESPONSE);

    let held = h.request_lua(CLIENT, &("hold",));
    let dropped = h.request_lua(OTHER, &("drop_held",));
    assert_eq!(h.answer_to(CLIENT, held).unwrap().ptype, ptype::ERROR);
    assert_eq!(h.answer_to(OTHER, dropped).unwrap().ptype, ptype::RESPONSE);

    // Reply::Later without a responder cannot leave the caller waiting.
    let later = h.request_lua(CLIENT, &("later",));
    assert_eq!(h.answer_to(CLIENT, later).unwrap().ptype, ptype::ERROR);
    assert!(h.take_sent().is_empty(), "every request answered exactly once");
}

#[test]
fn sleep_timeout_and_spawn_follow_the_clock() {
    let h = Harness::builder().name(".observer", Address(0x55)).start::<Probe>("");
    h.take_sent();
    let session = h.request_lua(CLIENT, &("sleep", 10));
    h.advance(5);
    assert!(h.answer_to(CLIENT, session).is_none());
    h.advance(5);
    assert_eq!(h.answer_to(CLIENT, session).unwrap().args::<String>().unwrap(), "slept");

    // A call that outlives its deadline is abandoned; its late answer is ignored.
    let session = h.request_lua(CLIENT, &("deadline", BACKEND));
    let [slow] = requests_to(&h, BACKEND).try_into().unwrap();
    h.advance(10);
    assert_eq!(h.answer_to(CLIENT, session).unwrap().args::<String>().unwrap(), "timeout");
    h.respond_lua(&slow, &("late",));
    assert!(h.take_sent().is_empty());

    let session = h.request_lua(CLIENT, &("deadline", BACKEND));
    let [fast] = requests_to(&h, BACKEND).try_into().unwrap();
    h.respond_lua(&fast, &("fast",));
    assert_eq!(h.answer_to(CLIENT, session).unwrap().args::<String>().unwrap(), "fast");
    h.advance(10); // the cancelled deadline fires into nothing
    assert!(h.take_sent().is_empty());

    // A spawned task outlives the request that spawned it.
    let session = h.request_lua(CLIENT, &("spawn",));
    assert!(h.answer_to(CLIENT, session).is_some());
    assert_eq!(h.task_count(), 1);
    h.advance(5);
    let [note] = h.take_sent().try_into().unwrap();
    assert_eq!(
        (&note.dest, note.args::<String>().unwrap()),
        (&Target::Address(Address(0x55)), "spawned".into())
    );
    assert_eq!(h.task_count(), 0);
}

#[test]
fn parallel_calls_go_out_together_and_keep_their_order() {
    let h = Harness::start::<Probe>("");
    h.take_sent();
    let backends = [Address(0x71), Address(0x72), Address(0x73)];
    let session = h.request_lua(CLIENT, &("fanout", backends[0], backends[1], backends[2]));
    let requests = h.take_requests();
    assert_eq!(requests.len(), 3, "all sent before any answer");
    for (i, request) in requests.iter().enumerate().rev() {
        assert!(h.answer_to(CLIENT, session).is_none());
        h.respond_lua(request, &(i as i64 * 100,));
    }
    assert_eq!(h.answer_to(CLIENT, session).unwrap().args::<Vec<i64>>().unwrap(), [0, 100, 200]);
}

#[test]
fn requests_wait_for_an_asynchronous_start() {
    let h = Harness::start::<Probe>("config");
    let [get] = h.take_requests().try_into().unwrap();
    assert!(get.is_to_name(".config"));
    // Arrives while start waits: queued, not lost; debug still answers.
    let early = h.request_lua(CLIENT, &("config",));
    let ping = h.request(OTHER, ptype::DEBUG, &skybox_sdk::codec::to_bytes(&("PING",)).unwrap());
    assert_eq!(h.answer_to(OTHER, ping).unwrap().ptype, ptype::RESPONSE);
    assert!(h.answer_to(CLIENT, early).is_none());
    assert!(!h.take_sent().iter().any(|s| s.is_to_name(".launcher")));

    h.respond_lua(&get, &("from config",));
    assert_eq!(h.answer_to(CLIENT, early).unwrap().args::<String>().unwrap(), "from config");
    assert!(h.take_sent().iter().any(|s| s.is_to_name(".launcher")));
}

#[test]
fn a_failed_start_tells_the_launcher_and_exits() {
    let h = Harness::start::<Probe>("fail");
    assert!(h.exited());
    assert!(h.logs().iter().any(|l| l == "init service failed: bad config"));
    let sent = h.take_sent();
    assert!(sent[0].is_to_name(".launcher") && sent[0].ptype == ptype::TEXT && sent[0].payload == b"ERROR");
    assert_eq!(sent[1].values().unwrap()[0].as_str(), Some("REMOVE"));
    assert_eq!(sent.len(), 2);
}

#[test]
fn exit_fails_what_is_pending_and_tells_the_callees() {
    let h = Harness::start::<Probe>("");
    h.take_sent();
    let held = h.request_lua(CLIENT, &("hold",));
    let relayed = h.request_lua(CLIENT, &("relay", BACKEND, "x"));
    let link = h.request(OTHER, ptype::DEBUG, &skybox_sdk::codec::to_bytes(&("LINK",)).unwrap());
    h.take_requests();
    assert!(h.take_sent().is_empty(), "LINK is not answered while the guest lives");

    let bye = h.request_lua(OTHER, &("exit",));
    assert!(h.exited());
    assert_eq!(h.answer_to(OTHER, bye).unwrap().args::<String>().unwrap(), "bye");
    for (to, session) in [(CLIENT, held), (CLIENT, relayed), (OTHER, link)] {
        assert_eq!(h.answer_to(to, session).unwrap().ptype, ptype::ERROR, "session {session}");
    }
    let rest = h.take_sent();
    assert!(
        rest.iter().any(|s| s.dest == Target::Address(BACKEND) && s.ptype == ptype::ERROR && s.session == 0)
    );
    assert!(
        rest.iter().any(|s| s.is_to_name(".launcher") && s.values().unwrap()[0].as_str() == Some("REMOVE"))
    );
    assert_eq!(h.task_count(), 0);

    // Whatever still arrives is refused.
    let late = h.request_lua(CLIENT, &("ping",));
    assert_eq!(h.answer_to(CLIENT, late).unwrap().ptype, ptype::ERROR);
}

#[test]
fn debug_protocol() {
    let h = Harness::start::<Probe>("");
    h.take_sent();
    let debug = |args: &[&str]| {
        let values: Vec<Value> = args.iter().map(|a| Value::from(*a)).collect();
        let session = h.request(CLIENT, ptype::DEBUG, &skybox_sdk::codec::encode(&values).unwrap());
        h.answer_to(CLIENT, session).unwrap()
    };
    assert_eq!(debug(&["PING"]).payload, b"");
    assert_eq!(debug(&["MEM"]).args::<f64>().unwrap(), 0.0);
    let stat = debug(&["STAT"]).values().unwrap();
    let stat = stat[0].as_table().unwrap();
    assert!(stat.field("message").and_then(Value::as_integer).unwrap() >= 3);
    assert_eq!(stat.field("task").and_then(Value::as_integer), Some(1));
    assert_eq!(debug(&["NOPE"]).ptype, ptype::ERROR);
    // TERM: calls pending on that address fail as if it had exited.
    let relayed = h.request_lua(OTHER, &("relay", BACKEND, "x"));
    h.take_sent();
    let session = h.request(CLIENT, ptype::DEBUG, &skybox_sdk::codec::to_bytes(&("TERM", BACKEND)).unwrap());
    assert_eq!(h.answer_to(OTHER, relayed).unwrap().ptype, ptype::ERROR);
    assert!(h.answer_to(CLIENT, session).is_some());
    // EXIT
    debug(&["EXIT"]);
    assert!(h.exited());
}

/// A proxy over held messages: nothing is copied through guest memory, nothing leaks.
struct Proxy;

impl Service for Proxy {
    async fn start(_args: String) -> Result<Self> {
        for t in [ptype::LUA, ptype::RESPONSE, ptype::ERROR] {
            skybox_sdk::forward_type(t, true)?;
        }
        Ok(Proxy)
    }

    async fn lua(&'static self, mut request: Request) -> Result<Reply> {
        let skybox_sdk::Payload::Held(held) = request.take_payload() else {
            return Err(skybox_sdk::Error::new("expected a held message"));
        };
        Ok(Reply::relay(held.call(BACKEND, ptype::LUA).await)?)
    }
}

#[test]
fn forward_mode_relays_by_handle() {
    let h = Harness::start::<Proxy>("");
    h.take_sent();
    let ok = h.request_lua(CLIENT, &("get", 1));
    let bad = h.request_lua(OTHER, &("get", 2));
    let requests = requests_to(&h, BACKEND);
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.forwarded && r.source == h.address()));
    assert_eq!(requests[0].args::<(String, i64)>().unwrap(), ("get".into(), 1));

    h.fail(&requests[1], "nope");
    h.respond_lua(&requests[0], &("one",));
    let answer = h.answer_to(CLIENT, ok).unwrap();
    assert!(answer.forwarded && answer.ptype == ptype::RESPONSE);
    assert_eq!(answer.args::<String>().unwrap(), "one");
    let answer = h.answer_to(OTHER, bad).unwrap();
    assert_eq!((answer.forwarded, answer.ptype, answer.text()), (true, ptype::ERROR, "nope".to_owned()));

    // A timer answer (RESPONSE, held) nobody waits for is freed, not leaked.
    h.deliver(ptype::RESPONSE, 12345, Address(0), b"stray");
    assert_eq!(h.host(|host| host.held_count()), 0);
}

#[test]
fn calls_outside_a_task_are_plain_functions() {
    // CallError formatting, for logs.
    let e = CallError::Failed(skybox_sdk::Payload::Bytes(b"why".to_vec()));
    assert_eq!(e.to_string(), "call failed: why");
    assert_eq!(e.message().as_deref(), Some("why"));
    assert_eq!(CallError::ServiceDown.to_string(), "call failed: the service is gone");
}

#[test]
fn join_handles_give_the_output_or_tell_of_an_abort() {
    use std::rc::Rc;
    let h = Harness::start::<Probe>("");
    let seen: Rc<RefCell<Vec<String>>> = Rc::default();
    let log = seen.clone();
    // Tasks spawned by the test (outside any dispatch) run when asked to.
    let slow = spawn(async {
        sleep(10).await;
        7
    });
    let _watcher = spawn(async move {
        let fast = spawn(async { 1 });
        let fast = format!("fast {:?}", fast.await);
        log.borrow_mut().push(fast);
        let slow = format!("slow {:?}", slow.await);
        log.borrow_mut().push(slow);
    });
    h.run_ready();
    assert_eq!(*seen.borrow(), ["fast Ok(1)"]);
    h.advance(10);
    assert_eq!(*seen.borrow(), ["fast Ok(1)", "slow Ok(7)"]);

    let log = seen.clone();
    let doomed = spawn(async {
        sleep(5).await;
        "never"
    });
    doomed.abort();
    let _watcher = spawn(async move {
        let doomed = format!("doomed {:?}", doomed.await);
        log.borrow_mut().push(doomed);
    });
    h.run_ready();
    assert_eq!(seen.borrow().last().unwrap(), "doomed Err(Aborted)");
    assert_eq!(h.task_count(), 0);
}

#[test]
fn launches_services_through_the_launcher_and_the_service_manager() {
    let h = Harness::start::<Probe>("launch");
    let [launch] = h.take_requests().try_into().unwrap();
    assert!(launch.is_to_name(".launcher"));
    let args: Vec<String> = launch.values().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert_eq!(args, ["LAUNCH", "snlua", "worker", "a", "b"]);
    h.respond_lua(&launch, &(0x99,));
    let [unique] = h.take_requests().try_into().unwrap();
    assert!(unique.is_to_name(".service"));
    assert_eq!(unique.args::<(String, String)>().unwrap(), ("LAUNCH".into(), "shared".into()));
    h.respond_lua(&unique, &(0x9a,));
    let session = h.request_lua(CLIENT, &("config",));
    assert_eq!(h.answer_to(CLIENT, session).unwrap().args::<String>().unwrap(), ":00000099 :0000009a");

    // A launch answered with nothing (the service exited while starting) or `.service`'s
    // (nil, reason) fail the start.
    drop(h);
    let h = Harness::start::<Probe>("launch");
    let [launch] = h.take_requests().try_into().unwrap();
    h.respond(&launch, &[]);
    assert!(h.exited());
    assert!(
        h.logs().iter().any(|l| l.contains("snlua worker: the service exited while starting")),
        "{:?}",
        h.logs()
    );
    drop(h);
    let h = Harness::start::<Probe>("launch");
    let [launch] = h.take_requests().try_into().unwrap();
    h.respond_lua(&launch, &(0x99,));
    let [unique] = h.take_requests().try_into().unwrap();
    h.respond_lua(&unique, &(None::<i64>, "no such service shared"));
    assert!(h.logs().iter().any(|l| l == "init service failed: no such service shared"), "{:?}", h.logs());
}
