//! `proxy`: stands in front of one service and relays its `lua` traffic without decoding it.
//!
//! Launched with the target as its argument (`:0000000a`, a decimal address, or a `.name`).
//! `lua` requests, `RESPONSE` and `ERROR` are in forward mode: they stay in the host as held
//! messages, and the proxy passes the handles on. A request goes to the target as a new request
//! of the proxy's (so the proxy sees the answer); the answer, RESPONSE or ERROR, goes back to the
//! caller by handle. One-way messages are passed on with the original sender as their source,
//! which needs a profile with `redirect=yes` (under the default `guest` profile they are
//! refused: launch it with `--profile=trusted` or a profile of your own to relay them).
//! Neither direction copies a payload through the guest's memory.
//!
//! Every request is its own task, so slow answers do not hold up other callers. If the target
//! is gone, the caller gets ERROR.

use skybox_sdk::{Address, Error, Payload, Reply, Request, Result, Service, forward_type, ptype};

struct Proxy {
    target: Address,
}

/// `:0000000a` or `0000000a` (hex, as skynet prints addresses), a decimal number, or a name.
fn resolve(arg: &str) -> Option<Address> {
    if arg.starts_with('.') {
        return skybox_sdk::query(arg);
    }
    if arg.starts_with(':') {
        return arg.parse().ok();
    }
    arg.parse::<u32>().ok().map(Address).or_else(|| arg.parse().ok())
}

impl Service for Proxy {
    async fn start(args: String) -> Result<Self> {
        let arg = args.split_whitespace().next().ok_or_else(|| Error::new("usage: proxy TARGET"))?;
        let target = resolve(arg).ok_or_else(|| Error::new(format!("proxy: no service {arg}")))?;
        for t in [ptype::LUA, ptype::RESPONSE, ptype::ERROR] {
            forward_type(t, true)?;
        }
        skybox_sdk::log!("proxy for {target}");
        Ok(Proxy { target })
    }

    async fn lua(&'static self, mut request: Request) -> Result<Reply> {
        let held = match request.take_payload() {
            Payload::Held(held) => held,
            // Only if the host ignored forward_type: relay a copy.
            Payload::Bytes(bytes) => {
                return Ok(Reply::relay(skybox_sdk::rawcall(self.target, ptype::LUA, &bytes).await)?);
            }
        };
        if !request.is_request() {
            held.forward(self.target, Some(request.source()), ptype::LUA, 0)?;
            return Ok(Reply::Later);
        }
        Ok(Reply::relay(held.call(self.target, ptype::LUA).await)?)
    }
}

skybox_sdk::service!(Proxy);

#[cfg(test)]
mod tests {
    use skybox_sdk::testing::{Harness, Target};
    use skybox_sdk::{Address, ptype};

    use super::Proxy;

    const TARGET: Address = Address(0x30);
    const CLIENT: Address = Address(0x20);

    #[test]
    fn relays_requests_and_answers_by_handle() {
        let h = Harness::start::<Proxy>(":00000030");
        h.take_sent();
        let first = h.request_lua(CLIENT, &("get", 1));
        let second = h.request_lua(CLIENT, &("get", 2));
        let requests = h.take_requests();
        assert_eq!(requests.len(), 2);
        assert!(requests.iter().all(|r| r.dest == Target::Address(TARGET) && r.forwarded));
        assert_eq!(requests[1].args::<(String, i64)>().unwrap(), ("get".into(), 2));

        // Answers in any order, each back to its caller, RESPONSE or ERROR as it came.
        h.fail(&requests[1], "no such key");
        h.respond_lua(&requests[0], &("one",));
        let answer = h.answer_to(CLIENT, first).unwrap();
        assert_eq!((answer.ptype, answer.forwarded), (ptype::RESPONSE, true));
        assert_eq!(answer.args::<String>().unwrap(), "one");
        let answer = h.answer_to(CLIENT, second).unwrap();
        assert_eq!((answer.ptype, answer.text()), (ptype::ERROR, "no such key".to_owned()));
        assert_eq!(h.host(|host| host.held_count()), 0, "no held message leaks");
    }

    #[test]
    fn one_way_messages_keep_their_sender_and_a_dead_target_fails_calls() {
        let h = Harness::start::<Proxy>("48");
        h.take_sent();
        h.send_lua(CLIENT, &("note",));
        let [note] = h.take_sent().try_into().unwrap();
        assert_eq!((note.dest, note.source, note.session), (Target::Address(TARGET), CLIENT, 0));

        h.host(|host| host.kill(TARGET));
        let session = h.request_lua(CLIENT, &("get", 1));
        assert_eq!(h.answer_to(CLIENT, session).unwrap().ptype, ptype::ERROR);
        assert_eq!(h.host(|host| host.held_count()), 0);
    }

    #[test]
    fn needs_a_target() {
        let h = Harness::start::<Proxy>("");
        assert!(h.exited());
        assert!(h.logs().iter().any(|l| l.contains("usage: proxy TARGET")));
    }
}
