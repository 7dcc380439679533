//! `echo`: answers every request with what it carried.
//!
//! - `lua`: the values, decoded and encoded again (so a malformed payload fails the request,
//!   and a well-formed one comes back byte for byte);
//! - `text`: the bytes as they are.
//!
//! `skynet.call(echo, "lua", "hello", 42)` returns `"hello", 42`.

use skybox_sdk::{Reply, Request, Result, Service};

struct Echo;

impl Service for Echo {
    async fn start(_args: String) -> Result<Self> {
        Ok(Echo)
    }

    async fn lua(&'static self, request: Request) -> Result<Reply> {
        Ok(Reply::values(&request.values()?)?)
    }

    async fn text(&'static self, request: Request) -> Result<Reply> {
        Ok(Reply::bytes(request.payload().bytes()?))
    }
}

skybox_sdk::service!(Echo);

#[cfg(test)]
mod tests {
    use skybox_sdk::testing::Harness;
    use skybox_sdk::{Address, Table, Value, codec, ptype};

    use super::Echo;

    #[test]
    fn echoes_values_byte_for_byte() {
        let h = Harness::start::<Echo>("");
        let client = Address(0x20);
        let mut table = Table::from_array([1, 2]);
        table.insert("k", Value::Real(2.0));
        let payload =
            codec::encode(&[Value::from("hello"), Value::Integer(42), Value::Nil, Value::Table(table)])
                .unwrap();
        let session = h.request(client, ptype::LUA, &payload);
        let answer = h.answer_to(client, session).unwrap();
        assert_eq!((answer.ptype, answer.payload), (ptype::RESPONSE, payload));

        let session = h.request(client, ptype::TEXT, b"plain text");
        assert_eq!(h.answer_to(client, session).unwrap().payload, b"plain text");

        let session = h.request(client, ptype::LUA, &[0x07]);
        assert_eq!(h.answer_to(client, session).unwrap().ptype, ptype::ERROR);
    }
}
