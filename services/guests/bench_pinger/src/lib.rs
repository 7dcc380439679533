//! `bench_pinger`: the calling side of the ping-pong workloads (`benches/wasm`), so that a round
//! trip can start in a guest.
//!
//! Asked `n, target` (`lua`), it calls `target` `n` times, one call at a time, with one integer
//! (`i`), checks that each answer is `i`, then answers `n`. `target` is an address (an integer,
//! as `skynet.call` passes it); any echo service fits: the `echo` guest, `bench_echo.lua`.

use skybox_sdk::{Address, Error, Reply, Request, Result, Service, call};

struct Pinger;

impl Service for Pinger {
    async fn start(_args: String) -> Result<Self> {
        Ok(Pinger)
    }

    async fn lua(&'static self, request: Request) -> Result<Reply> {
        let (n, target): (i64, u32) = request.args()?;
        for i in 1..=n {
            let answer: i64 = call(Address(target), "lua", &(i,)).await?;
            if answer != i {
                return Err(Error::new(format!("call {i}: wrong answer {answer}")));
            }
        }
        Ok(Reply::pack(&(n,))?)
    }
}

skybox_sdk::service!(Pinger);

#[cfg(test)]
mod tests {
    use skybox_sdk::testing::Harness;
    use skybox_sdk::{Address, ptype};

    use super::Pinger;

    #[test]
    fn calls_one_at_a_time_then_answers_n() {
        let h = Harness::start::<Pinger>("");
        h.take_sent();
        let client = Address(0x20);
        let session = h.request_lua(client, &(3, 0x30));
        for i in 1..=3i64 {
            let [request] = h.take_requests().try_into().unwrap();
            assert_eq!(request.args::<i64>().unwrap(), i);
            h.respond_lua(&request, &(i,));
        }
        let answer = h.answer_to(client, session).unwrap();
        assert_eq!((answer.ptype, answer.args::<i64>().unwrap()), (ptype::RESPONSE, 3));

        let session = h.request_lua(client, &(1, 0x30));
        let [request] = h.take_requests().try_into().unwrap();
        h.respond_lua(&request, &(7,));
        assert_eq!(h.answer_to(client, session).unwrap().ptype, ptype::ERROR);
    }
}
