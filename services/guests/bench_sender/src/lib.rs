//! `bench_sender`: a producer of the fan-in workload (`benches/wasm`).
//!
//! Sent `sink, count` (`lua`, one-way or a call), it sends `count` one-way `lua` messages of one
//! integer (`1..=count`) to the address `sink`; a call is answered `count` when all are sent.

use skybox_sdk::{Address, Reply, Request, Result, Service, send};

struct Sender;

impl Service for Sender {
    async fn start(_args: String) -> Result<Self> {
        Ok(Sender)
    }

    async fn lua(&'static self, request: Request) -> Result<Reply> {
        let (sink, count): (u32, i64) = request.args()?;
        for i in 1..=count {
            send(Address(sink), "lua", &(i,))?;
        }
        Ok(Reply::pack(&(count,))?)
    }
}

skybox_sdk::service!(Sender);

#[cfg(test)]
mod tests {
    use skybox_sdk::testing::{Harness, Target};
    use skybox_sdk::{Address, ptype};

    use super::Sender;

    #[test]
    fn sends_count_integers() {
        let h = Harness::start::<Sender>("");
        h.take_sent();
        h.send_lua(Address(0x20), &(0x30, 3));
        let sent = h.take_sent();
        let values: Vec<i64> = sent.iter().map(|s| s.args::<i64>().unwrap()).collect();
        assert_eq!(values, [1, 2, 3]);
        assert!(sent.iter().all(|s| s.dest == Target::Address(Address(0x30)) && s.session == 0));
        assert!(sent.iter().all(|s| s.ptype == ptype::LUA));
    }
}
