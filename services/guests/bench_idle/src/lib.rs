//! `bench_idle`: the smallest useful guest, as `bench_minimal.lua`: one `lua` handler that
//! answers nothing. The spawn and idle workloads (`benches/wasm`) launch many of them.

use skybox_sdk::{Reply, Request, Result, Service};

struct Idle;

impl Service for Idle {
    async fn start(_args: String) -> Result<Self> {
        Ok(Idle)
    }

    async fn lua(&'static self, _request: Request) -> Result<Reply> {
        Ok(Reply::empty())
    }
}

skybox_sdk::service!(Idle);

#[cfg(test)]
mod tests {
    use skybox_sdk::testing::Harness;
    use skybox_sdk::{Address, ptype};

    use super::Idle;

    #[test]
    fn answers_with_nothing() {
        let h = Harness::start::<Idle>("");
        let session = h.request_lua(Address(0x20), &("anything",));
        let answer = h.answer_to(Address(0x20), session).unwrap();
        assert_eq!((answer.ptype, answer.payload.len()), (ptype::RESPONSE, 0));
    }
}
