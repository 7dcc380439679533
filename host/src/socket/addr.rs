//! Addresses as skynet's socket functions take them: `(host, port)`, or one string
//! `"host:port"` / `"[v6]:port"` when the port is left out; a host is a name or an IP literal.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// Splits `"host:port"` or `"[v6]:port"` (the host before the first `:` unless bracketed).
pub(crate) fn split(text: &str) -> io::Result<(&str, u16)> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidInput, format!("Invalid address {text}."));
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (host, rest) = rest.split_once(']').ok_or_else(invalid)?;
            (host, rest.strip_prefix(':').ok_or_else(invalid)?)
        }
        None => text.split_once(':').ok_or_else(invalid)?,
    };
    let port = port.parse().map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("Invalid port in address {text}."))
    })?;
    Ok((host, port))
}

/// The host to bind when none is given: every IPv4 interface, as skynet.
fn bind_host(host: &str) -> &str {
    if host.is_empty() { "0.0.0.0" } else { host }
}

/// `host` as an IP literal, without a lookup.
pub(crate) fn literal(host: &str, port: u16) -> Option<SocketAddr> {
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    host.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, port))
}

/// Every address of `host:port` (a literal without a lookup; a name through the system
/// resolver, which may block: not on the socket thread).
pub(crate) fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Some(addr) = literal(host, port) {
        return Ok(vec![addr]);
    }
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address")));
    }
    Ok(addrs)
}

/// The address to bind for a listener or a UDP socket: the first of `host` (every IPv4
/// interface for "").
pub(crate) fn bind_addr(host: &str, port: u16) -> io::Result<SocketAddr> {
    resolve(bind_host(host), port).map(|addrs| addrs[0])
}

/// `ip:port` as skynet prints a peer (IPv6 without brackets).
pub(crate) fn peer_text(addr: SocketAddr) -> String {
    format!("{}:{}", addr.ip(), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_as_skynet_splits_them() {
        assert_eq!(split("127.0.0.1:8000").unwrap(), ("127.0.0.1", 8000));
        assert_eq!(split("[::1]:53").unwrap(), ("::1", 53));
        assert_eq!(split("example.com:0").unwrap(), ("example.com", 0));
        assert_eq!(split(":80").unwrap(), ("", 80));
        for bad in ["nohost", "[::1]53", "[::1", "a:65536", "a:-1", "a:1x", "a:"] {
            assert!(split(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn literals_need_no_lookup() {
        assert_eq!(literal("::1", 5), Some("[::1]:5".parse().unwrap()));
        assert_eq!(literal("[::1]", 5), Some("[::1]:5".parse().unwrap()));
        assert_eq!(literal("localhost", 5), None);
        assert_eq!(bind_addr("", 7).unwrap(), "0.0.0.0:7".parse().unwrap());
        assert_eq!(peer_text("[::1]:8000".parse().unwrap()), "::1:8000");
    }
}
