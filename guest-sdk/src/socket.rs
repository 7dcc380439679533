//! The payload of a `PTYPE_SOCKET` (6) message: one event of the socket thread for the socket's
//! owner, in skynet's numbering (`skynet_socket.h`).
//!
//! Layout: the event's bytes, then a 12-byte trailer of three little-endian `i32`s, `kind`,
//! `id`, `ud`. The trailer sits at the end so that the bytes (received data, which may be large)
//! are handed on by truncating the buffer, never by moving them.
//!
//! | kind | `id` | `ud` | bytes |
//! | --- | --- | --- | --- |
//! | [`DATA`] | socket | byte count | the data |
//! | [`CONNECT`] | socket | bound port of a listener, else 0 | peer or bound address, `"start"`, `"transfer"` |
//! | [`CLOSE`] | socket | 0 | none |
//! | [`ACCEPT`] | listener | the new socket | the peer, `"ip:port"` |
//! | [`ERROR`] | socket | 0 | the error text |
//! | [`UDP`] | socket | payload size | the payload, then the sender's address ([`udp_address`]) |
//! | [`WARNING`] | socket | KiB waiting to be written (0: drained) | none |

/// Data arrived on a stream socket.
pub const DATA: i32 = 1;
/// A connect, listen or start completed.
pub const CONNECT: i32 = 2;
/// The socket is closed (by its owner, or by the peer: then it can still be written).
pub const CLOSE: i32 = 3;
/// A listener accepted a connection (not read until started).
pub const ACCEPT: i32 = 4;
/// A connect failed, or a read or write error.
pub const ERROR: i32 = 5;
/// A datagram arrived.
pub const UDP: i32 = 6;
/// Writes are piling up (1 MiB and each doubling), or have drained (0).
pub const WARNING: i32 = 7;

/// Bytes of the trailer.
pub const TRAILER: usize = 12;

/// One event, without its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// [`DATA`] ... [`WARNING`].
    pub kind: i32,
    /// The socket (for [`ACCEPT`], the listener).
    pub id: i32,
    /// See the table above.
    pub ud: i32,
}

impl Event {
    /// Appends the trailer to `bytes`: the message payload.
    pub fn encode(self, mut bytes: Vec<u8>) -> Vec<u8> {
        bytes.reserve_exact(TRAILER);
        for field in [self.kind, self.id, self.ud] {
            bytes.extend_from_slice(&field.to_le_bytes());
        }
        bytes
    }

    /// Takes the trailer off `payload`, leaving the event's bytes; `None` if it is too short.
    pub fn decode(payload: &mut Vec<u8>) -> Option<Event> {
        let at = payload.len().checked_sub(TRAILER)?;
        let field = |i: usize| {
            let start = at + 4 * i;
            i32::from_le_bytes(payload[start..start + 4].try_into().expect("4 bytes"))
        };
        let event = Event { kind: field(0), id: field(1), ud: field(2) };
        payload.truncate(at);
        Some(event)
    }
}

/// A UDP address as skynet passes them: 1 byte family (1 IPv4, 2 IPv6), the port big-endian,
/// then the 4 or 16 address bytes.
pub mod udp_address {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

    /// Encodes `addr`.
    pub fn encode(addr: SocketAddr) -> Vec<u8> {
        let mut out = Vec::with_capacity(19);
        match addr.ip() {
            IpAddr::V4(ip) => {
                out.push(1);
                out.extend_from_slice(&addr.port().to_be_bytes());
                out.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                out.push(2);
                out.extend_from_slice(&addr.port().to_be_bytes());
                out.extend_from_slice(&ip.octets());
            }
        }
        out
    }

    /// Decodes an address of exactly 7 (IPv4) or 19 (IPv6) bytes with a matching family byte.
    pub fn decode(bytes: &[u8]) -> Option<SocketAddr> {
        let port = u16::from_be_bytes([*bytes.get(1)?, *bytes.get(2)?]);
        let ip = match (bytes[0], bytes.len()) {
            (1, 7) => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&bytes[3..]).ok()?)),
            (2, 19) => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&bytes[3..]).ok()?)),
            _ => return None,
        };
        Some(SocketAddr::new(ip, port))
    }

    /// The length of an encoded address from its family byte.
    pub fn len(family: u8) -> Option<usize> {
        match family {
            1 => Some(7),
            2 => Some(19),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_keep_their_bytes() {
        let event = Event { kind: DATA, id: 65537, ud: 5 };
        let mut payload = event.encode(b"hello".to_vec());
        assert_eq!(payload.len(), 5 + TRAILER);
        assert_eq!(Event::decode(&mut payload), Some(event));
        assert_eq!(payload, b"hello");
        assert_eq!(Event::decode(&mut vec![0; 11]), None);
    }

    #[test]
    fn udp_addresses_round_trip() {
        for text in ["127.0.0.1:53", "[::1]:8000", "[2001:db8::1]:65535"] {
            let addr: std::net::SocketAddr = text.parse().unwrap();
            let bytes = udp_address::encode(addr);
            assert_eq!(bytes.len(), udp_address::len(bytes[0]).unwrap());
            assert_eq!(udp_address::decode(&bytes), Some(addr));
        }
        assert_eq!(&udp_address::encode("10.1.2.3:258".parse().unwrap())[..3], &[1, 1, 2]);
        for bad in [&[][..], &[1, 0, 1, 127, 0, 0][..], &[2, 0, 1, 127, 0, 0, 1][..], &[3; 7][..]] {
            assert_eq!(udp_address::decode(bad), None);
        }
    }
}
