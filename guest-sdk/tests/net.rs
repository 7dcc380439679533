//! `skybox_sdk::net` driven natively: the mock host hands out socket ids and records the
//! guest's calls, and the test plays the socket thread by delivering its events.

use skybox_sdk::net::{NetError, TcpListener, TcpStream, UdpSocket};
use skybox_sdk::socket::{ACCEPT, CLOSE, CONNECT, DATA, ERROR, UDP, WARNING, udp_address};
use skybox_sdk::testing::{Harness, SocketCall};
use skybox_sdk::{Address, Reply, Request, Result, Service, Value, spawn};

const CLIENT: Address = Address(0x42);

/// `listen` in its args: a line echo server. Lua commands open client sockets.
struct Net;

impl Service for Net {
    async fn start(args: String) -> Result<Self> {
        if args == "listen" {
            let listener = TcpListener::bind("127.0.0.1", 0).await?;
            skybox_sdk::log!("port {}", listener.port());
            spawn(async move {
                while let Ok((stream, peer)) = listener.accept().await {
                    skybox_sdk::log!("accepted {peer}");
                    spawn(async move {
                        loop {
                            match stream.read_until(b"\n").await {
                                Ok(line) => {
                                    let _ = stream.write(&[&line[..], b"\n"].concat());
                                }
                                Err(e) => {
                                    skybox_sdk::log!("line reader: {e}");
                                    break;
                                }
                            }
                        }
                    });
                }
            });
        }
        Ok(Net)
    }

    async fn lua(&'static self, request: Request) -> Result<Reply> {
        let values = request.values()?;
        match values[0].as_str().unwrap_or_default() {
            "connect" => {
                let stream = TcpStream::connect("localhost", 80).await?;
                stream.write(b"ping")?;
                let answer = stream.read_exact(4).await?;
                Ok(Reply::pack(&(stream.peer(), String::from_utf8(answer)?))?)
            }
            "drain" => {
                let stream = TcpStream::connect("10.0.0.1", 9).await?;
                stream.write_low(b"bulk")?;
                stream.drained().await?;
                let rest = stream.read().await?;
                Ok(Reply::pack(&(rest.is_none(),))?)
            }
            "udp" => {
                let udp = UdpSocket::bind("", 0)?;
                let (data, from) = udp.recv_from().await?;
                udp.send_to(from, &[b"echo:", &data[..]].concat())?;
                Ok(Reply::pack(&(from.to_string(),))?)
            }
            _ => Err(skybox_sdk::Error::new("unknown command")),
        }
    }
}

fn first_id(calls: &[SocketCall]) -> i32 {
    match calls.first() {
        Some(SocketCall::Listen { id, .. } | SocketCall::Connect { id, .. } | SocketCall::Udp { id, .. }) => {
            *id
        }
        other => panic!("expected a new socket, got {other:?}"),
    }
}

fn answer(h: &Harness, session: i32) -> Vec<Value> {
    h.answer_to(CLIENT, session).expect("answered").values().unwrap()
}

#[test]
fn a_listener_accepts_reads_lines_and_closes_what_it_dropped() {
    let h = Harness::start::<Net>("listen");
    let calls = h.socket_calls();
    assert!(
        matches!(&calls[0], SocketCall::Listen { host, port: 0, backlog: 32, .. } if host == "127.0.0.1")
    );
    let listener = first_id(&calls);
    // The bound port arrives with the listener's first CONNECT; then it starts.
    h.socket_event(CONNECT, listener, 4321, b"127.0.0.1");
    assert_eq!(h.socket_calls(), [SocketCall::Op { op: "start", id: listener }]);
    assert!(h.logs().contains(&"port 4321".to_string()), "{:?}", h.logs());
    h.socket_event(CONNECT, listener, 0, b"start");

    let conn = h.host(|host| host.net().open());
    h.socket_event(ACCEPT, listener, conn, b"10.1.1.1:5000");
    assert_eq!(h.socket_calls(), [SocketCall::Op { op: "start", id: conn }]);
    h.socket_event(CONNECT, conn, 0, b"start");
    // A line split across reads, and two lines in one.
    h.socket_event(DATA, conn, 3, b"hel");
    assert!(h.socket_calls().is_empty());
    h.socket_event(DATA, conn, 10, b"lo\nworld\n!");
    assert_eq!(
        h.socket_calls(),
        [
            SocketCall::Send { id: conn, data: b"hello\n".to_vec(), low: false },
            SocketCall::Send { id: conn, data: b"world\n".to_vec(), low: false },
        ]
    );
    // The peer closes mid-line: the reader ends and its stream is closed.
    h.socket_event(CLOSE, conn, 0, b"");
    assert_eq!(h.socket_calls(), [SocketCall::Op { op: "close", id: conn }]);
    assert!(h.logs().iter().any(|l| l == "line reader: socket closed"), "{:?}", h.logs());
    assert!(!h.host(|host| host.net().is_open(conn)));
    // Late, stale and malformed events reach nobody and break nothing.
    h.socket_event(DATA, conn, 1, b"x");
    h.socket_event(DATA, 999, 1, b"x");
    h.deliver(skybox_sdk::ptype::SOCKET, 0, Address(0), b"short");
    assert!(h.socket_calls().is_empty());
    assert!(h.host(|host| host.net().is_open(listener)));
}

#[test]
fn connect_waits_for_connect_or_error() {
    let h = Harness::start::<Net>("");
    let session = h.request_lua(CLIENT, &("connect",));
    let calls = h.socket_calls();
    assert!(matches!(&calls[0], SocketCall::Connect { host, port: 80, .. } if host == "localhost"));
    let id = first_id(&calls);
    h.socket_event(CONNECT, id, 0, b"127.0.0.1");
    assert_eq!(h.socket_calls(), [SocketCall::Send { id, data: b"ping".to_vec(), low: false }]);
    h.socket_event(DATA, id, 4, b"po");
    assert!(h.answer_to(CLIENT, session).is_none());
    h.socket_event(DATA, id, 2, b"ng");
    assert_eq!(answer(&h, session), [Value::from("127.0.0.1"), Value::from("pong")]);
    assert_eq!(h.socket_calls(), [SocketCall::Op { op: "close", id }], "dropped: closed");

    // A refused connect fails the request with the host's reason.
    let session = h.request_lua(CLIENT, &("connect",));
    let id = first_id(&h.socket_calls());
    h.socket_event(ERROR, id, 0, b"Connection refused");
    let failed = h.answer_to(CLIENT, session).unwrap();
    assert_eq!(failed.ptype, skybox_sdk::ptype::ERROR);
    assert_eq!(failed.text(), "Connection refused");
}

#[test]
fn a_writer_waits_while_the_host_warns_and_goes_on_when_drained() {
    let h = Harness::start::<Net>("");
    let session = h.request_lua(CLIENT, &("drain",));
    let id = first_id(&h.socket_calls());
    h.socket_event(CONNECT, id, 0, b"10.0.0.1");
    h.socket_event(WARNING, id, 1024, b"");
    assert_eq!(h.socket_calls(), [SocketCall::Send { id, data: b"bulk".to_vec(), low: true }]);
    h.socket_event(WARNING, id, 2048, b"");
    assert!(h.answer_to(CLIENT, session).is_none(), "still waiting");
    h.socket_event(WARNING, id, 0, b"");
    h.socket_event(CLOSE, id, 0, b"");
    assert_eq!(answer(&h, session), [Value::Boolean(true)], "drained, then EOF reads as None");
}

#[test]
fn udp_receives_and_answers_the_sender() {
    let h = Harness::start::<Net>("");
    let session = h.request_lua(CLIENT, &("udp",));
    let id = first_id(&h.socket_calls());
    let from: std::net::SocketAddr = "[::1]:7000".parse().unwrap();
    let mut payload = b"hi".to_vec();
    payload.extend(udp_address::encode(from));
    h.socket_event(UDP, id, 2, &payload);
    assert_eq!(answer(&h, session), [Value::from("[::1]:7000")]);
    assert_eq!(
        h.socket_calls(),
        [SocketCall::SendTo { id, to: from, data: b"echo:hi".to_vec() }, SocketCall::Op { op: "close", id }]
    );
}

#[test]
fn without_the_network_every_call_is_denied() {
    let h = Harness::builder().network(false).start::<Net>("listen");
    assert!(h.exited(), "start failed, the service exits");
    assert!(
        h.logs().iter().any(|l| l.contains("init service failed: the network is not granted")),
        "{:?}",
        h.logs()
    );
    assert!(h.socket_calls().is_empty());
    assert_eq!(NetError::from(skybox_sdk::AbiError::Denied), NetError::Denied);
}
