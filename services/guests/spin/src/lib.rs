//! `spin`: a guest that can be made to loop forever, to test fuel limits.
//!
//! `lua` commands: `ping` answers `"pong"`; `spin` never returns, so the host must stop it (out
//! of fuel); the guest dies, the caller gets ERROR and every other service goes on. `panic`
//! panics: a trap too, after the SDK's panic hook has logged the message. `abort` tries to stop
//! the whole node (skynet's ABORT) and answers what the host said.

use skybox_sdk::{Error, Reply, Request, Result, Service};

struct Spin;

impl Service for Spin {
    async fn start(_args: String) -> Result<Self> {
        Ok(Spin)
    }

    async fn lua(&'static self, request: Request) -> Result<Reply> {
        match request.command()?.as_str() {
            "ping" => Ok(Reply::pack(&("pong",))?),
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    // black_box keeps the loop real: no side effect for the optimizer to prove
                    // absent.
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "panic" => panic!("asked to panic"),
            // Tries to stop the whole node: under a confined profile the host refuses.
            "abort" => match skybox_sdk::abi::command("ABORT", None) {
                Ok(_) => Ok(Reply::pack(&("the node let me abort it",))?),
                Err(e) => Ok(Reply::pack(&(format!("ABORT refused: {e}"),))?),
            },
            other => Err(Error::new(format!("unknown command {other}"))),
        }
    }
}

skybox_sdk::service!(Spin);

#[cfg(test)]
mod tests {
    use skybox_sdk::testing::Harness;
    use skybox_sdk::{Address, ptype};

    #[test]
    fn pings() {
        let h = Harness::start::<super::Spin>("");
        let session = h.request_lua(Address(1), &("ping",));
        assert_eq!(h.answer_to(Address(1), session).unwrap().args::<String>().unwrap(), "pong");
        let session = h.request_lua(Address(1), &("what",));
        assert_eq!(h.answer_to(Address(1), session).unwrap().ptype, ptype::ERROR);
    }
}
