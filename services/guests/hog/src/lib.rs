//! `hog`: a guest that can be made to allocate without bound, to test memory limits.
//!
//! `lua` commands: `ping` answers `"pong"`; `grow` (or `hog`) allocates 1 MiB blocks (and
//! touches them) until memory runs out: `memory.grow` fails at the host's limit, the allocator
//! reports the failure, and the guest traps. The caller gets ERROR and every other service goes
//! on. `grow N` stops after N MiB instead and answers how many it holds.

use std::cell::RefCell;

use skybox_sdk::{Error, Reply, Request, Result, Service};

const BLOCK: usize = 1 << 20;

struct Hog {
    /// Kept in the service so nothing is freed (or optimized away).
    hoard: RefCell<Vec<Vec<u8>>>,
}

impl Service for Hog {
    async fn start(_args: String) -> Result<Self> {
        Ok(Hog { hoard: RefCell::new(Vec::new()) })
    }

    async fn lua(&'static self, request: Request) -> Result<Reply> {
        let (command, limit): (String, Option<usize>) = request.args()?;
        match command.as_str() {
            "ping" => Ok(Reply::pack(&("pong",))?),
            "grow" | "hog" => {
                let mut hoard = self.hoard.borrow_mut();
                let target = limit.map_or(usize::MAX, |n| hoard.len() + n);
                while hoard.len() < target {
                    hoard.push(std::hint::black_box(vec![0xa5; BLOCK]));
                }
                Ok(Reply::pack(&(hoard.len(),))?)
            }
            other => Err(Error::new(format!("unknown command {other}"))),
        }
    }
}

skybox_sdk::service!(Hog);

#[cfg(test)]
mod tests {
    use skybox_sdk::Address;
    use skybox_sdk::testing::Harness;

    #[test]
    fn grows_by_megabytes() {
        let h = Harness::start::<super::Hog>("");
        let session = h.request_lua(Address(1), &("grow", 3));
        assert_eq!(h.answer_to(Address(1), session).unwrap().args::<usize>().unwrap(), 3);
        let session = h.request_lua(Address(1), &("grow", 2));
        assert_eq!(h.answer_to(Address(1), session).unwrap().args::<usize>().unwrap(), 5);
    }
}
