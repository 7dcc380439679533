//! The UDP operations of the server (skynet's `udp`, `udp_listen`, `udp_dial`, `udp_connect`,
//! `udp_send`): a UDP socket is read as soon as it exists, needs no start, and sends to the
//! address given or to its default destination.

use std::io;
use std::net::SocketAddr;

use mio::net::UdpSocket;
use skybox_sdk::socket as event;

use super::addr;
use super::server::{Access, Server, error};
use super::socket::{Io, State};

impl Server {
    /// A UDP socket bound to `bind` (any IPv4 port when `None`), read at once.
    pub(crate) fn udp(&self, owner: u32, bind: Option<SocketAddr>) -> io::Result<i32> {
        let at = bind.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let socket = socket2::Socket::new(socket2::Domain::for_address(at), socket2::Type::DGRAM, None)?;
        if bind.is_some() {
            socket.set_reuse_address(true)?;
        }
        socket.bind(&at.into())?;
        socket.set_nonblocking(true)?;
        let udp = UdpSocket::from_std(socket.into());
        let (id, mut slot) = self.insert(owner, State::Connected, Io::Udp(udp))?;
        let socket = slot.as_mut().expect("just inserted");
        socket.reading = true;
        if let Err(err) = socket.update_interest(&self.registry) {
            self.remove(&mut slot);
            return Err(err);
        }
        Ok(id)
    }

    /// `udp_listen`: a UDP socket bound to `host:port` (a port is required).
    pub(crate) fn udp_listen(&self, owner: u32, host: &str, port: u16) -> io::Result<i32> {
        if port == 0 {
            return Err(error(io::ErrorKind::InvalidInput, "udp listen needs a port"));
        }
        self.udp(owner, Some(addr::bind_addr(host, port)?))
    }

    /// `udp_dial`: an unbound UDP socket of `host`'s family that sends to `host:port`.
    pub(crate) fn udp_dial(&self, owner: u32, host: &str, port: u16) -> io::Result<i32> {
        let to = addr::resolve(host, port)?[0];
        let any =
            if to.is_ipv4() { SocketAddr::from(([0, 0, 0, 0], 0)) } else { SocketAddr::from(([0u16; 8], 0)) };
        let id = self.udp(owner, Some(any))?;
        if let Some(mut slot) = self.slots.lock(id) {
            slot.as_mut().expect("locked live").udp_peer = Some(to);
        }
        Ok(id)
    }

    /// `udp_connect`: sets the default destination of UDP socket `id`.
    pub(crate) fn udp_connect(&self, id: i32, to: SocketAddr, access: Access) -> io::Result<()> {
        let mut slot =
            self.lock(id, access).ok_or_else(|| error(io::ErrorKind::NotFound, "invalid socket"))?;
        let socket = slot.as_mut().expect("locked live");
        let Io::Udp(udp) = &socket.io else {
            return Err(error(io::ErrorKind::InvalidInput, "not a udp socket"));
        };
        if udp.local_addr()?.is_ipv4() != to.is_ipv4() {
            socket.emit(&self.cx(), event::ERROR, 0, b"protocol mismatch".to_vec());
            return Err(error(io::ErrorKind::InvalidInput, "protocol mismatch"));
        }
        socket.udp_peer = Some(to);
        Ok(())
    }

    /// `udp_send`: one datagram to `to`; false when the socket is gone or not UDP.
    pub(crate) fn udp_send(&self, id: i32, to: SocketAddr, data: Vec<u8>, access: Access) -> bool {
        let Some(mut slot) = self.lock(id, access) else { return false };
        let socket = slot.as_mut().expect("locked live");
        socket.is_udp() && socket.send(&self.cx(), data, Some(to), false)
    }
}
