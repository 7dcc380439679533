//! The one message ABI shared by every kind of service.
//!
//! A message is `(type, session, source, payload)`; its size is the payload's length. The payload is
//! an owned buffer: whoever holds the `Message` owns the bytes, and handing the message on moves
//! them, so a payload is freed exactly once, by whoever holds it last.

/// A service address: the harbor id in the high 8 bits, the local index in the low 24.
pub type Handle = u32;

/// Message type numbers, as in skynet.h: one definition for the host and the guests.
pub use skybox_sdk::ptype;

/// One message in flight.
#[derive(Debug)]
pub struct Message {
    /// The sender (0 for the host itself: timers, the boot message).
    pub source: Handle,
    /// 0 for a one-way message; otherwise the id the reply must carry.
    pub session: i32,
    /// The message type, one of [`ptype`].
    pub ptype: u8,
    /// The payload, owned by whoever holds the message.
    pub data: Vec<u8>,
}

impl Message {
    /// A request expects a reply: it carries a session and is neither a reply nor an error.
    pub(crate) fn is_request(&self) -> bool {
        is_request(self.ptype, self.session)
    }
}

/// An answer to a request: a RESPONSE or an ERROR.
#[inline]
pub(crate) fn is_answer(ptype: u8) -> bool {
    ptype == ptype::RESPONSE || ptype == ptype::ERROR
}

/// See [`Message::is_request`].
pub(crate) fn is_request(ptype: u8, session: i32) -> bool {
    session != 0 && ptype != ptype::RESPONSE && ptype != ptype::ERROR
}

/// Formats a handle the way skynet prints it: `:0000000a`.
pub(crate) fn format_handle(handle: Handle) -> String {
    skybox_sdk::Address(handle).to_string()
}

/// Parses `:0000000a` (or bare hex); `None` for anything else. The SDK's `Address` parser is
/// the one definition of the format.
pub(crate) fn parse_handle(text: &str) -> Option<Handle> {
    text.parse::<skybox_sdk::Address>().ok().map(|address| address.0)
}
