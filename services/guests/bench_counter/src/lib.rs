//! `bench_counter`: the sink of the fan-in workload (`benches/wasm`), as `bench_sink.lua`.
//!
//! `lua` protocol: `"expect", n` sets how many messages to wait for (answers nothing);
//! `"wait"` answers the count once `n` messages have arrived (at once if they have); any other
//! message (one integer, from the producers) is counted.

use std::cell::{Cell, RefCell};

use skybox_sdk::{Error, Reply, Request, Responder, Result, Service, Value};

struct Counter {
    expected: Cell<i64>,
    got: Cell<i64>,
    waiter: RefCell<Option<Responder>>,
}

impl Counter {
    /// Answers the waiter once the expected count is reached.
    fn check(&self) {
        if self.got.get() >= self.expected.get()
            && let Some(waiter) = self.waiter.borrow_mut().take()
        {
            let _ = waiter.pack(&(self.got.get(),));
        }
    }
}

impl Service for Counter {
    async fn start(_args: String) -> Result<Self> {
        Ok(Counter { expected: Cell::new(0), got: Cell::new(0), waiter: RefCell::new(None) })
    }

    async fn lua(&'static self, request: Request) -> Result<Reply> {
        let values = request.values()?;
        match values.first() {
            Some(Value::Integer(_)) => {
                self.got.set(self.got.get() + 1);
                self.check();
                Ok(Reply::Later)
            }
            Some(v) if v.as_str() == Some("expect") => {
                self.expected.set(values.get(1).and_then(Value::as_integer).unwrap_or(0));
                Ok(Reply::empty())
            }
            Some(v) if v.as_str() == Some("wait") => {
                let waiter = request.responder().ok_or_else(|| Error::new("wait must be a call"))?;
                *self.waiter.borrow_mut() = Some(waiter);
                self.check();
                Ok(Reply::Later)
            }
            _ => Err(Error::new("expected an integer, \"expect\" or \"wait\"")),
        }
    }
}

skybox_sdk::service!(Counter);

#[cfg(test)]
mod tests {
    use skybox_sdk::testing::Harness;
    use skybox_sdk::{Address, ptype};

    use super::Counter;

    #[test]
    fn answers_wait_once_the_count_is_reached() {
        let h = Harness::start::<Counter>("");
        h.take_sent();
        let (driver, producer) = (Address(0x20), Address(0x30));
        let session = h.request_lua(driver, &("expect", 3));
        assert_eq!(h.answer_to(driver, session).unwrap().ptype, ptype::RESPONSE);
        h.send_lua(producer, &(1,));
        let wait = h.request_lua(driver, &("wait",));
        assert!(h.answer_to(driver, wait).is_none());
        h.send_lua(producer, &(2,));
        h.send_lua(producer, &(3,));
        let answer = h.answer_to(driver, wait).unwrap();
        assert_eq!((answer.ptype, answer.args::<i64>().unwrap()), (ptype::RESPONSE, 3));
        assert!(h.take_sent().is_empty(), "one-way counts are not answered");
    }
}
