//! `net_echo`: a TCP line echo and a UDP echo on the node's socket thread, for a guest the
//! config grants the network (`wasm_net = "net_echo"`).
//!
//! Launch: `net_echo HOST PORT [udp=PORT] [steal=ID]`; port 0 takes a free port, which the log
//! line `LISTEN <port>` and the lua request `port` tell. Per connection, each line comes back,
//! except:
//! - `dial PORT`: connects to `127.0.0.1:PORT`, sends `hello from the guest`, and answers with
//!   `dialed: ` and the line read back (or the error);
//! - `quit`: closes this connection;
//! - `exit`: the guest exits holding its sockets (the host closes them).
//!
//! `steal=ID` names another service's socket: the guest tries to write to, start, pause and
//! close it, and logs what the host answered (`steal: ...`).

use std::cell::Cell;

use skybox_sdk::net::{TcpListener, TcpStream, UdpSocket};
use skybox_sdk::{Reply, Request, Result, Service, abi, log, spawn};

struct NetEcho {
    port: Cell<u16>,
}

impl Service for NetEcho {
    async fn start(args: String) -> Result<Self> {
        let words: Vec<&str> = args.split_whitespace().collect();
        let host = words.first().copied().unwrap_or("127.0.0.1");
        let port = words.get(1).map_or(Ok(0), |p| p.parse())?;
        for option in words.iter().skip(2) {
            if let Some(id) = option.strip_prefix("steal=") {
                steal(id.parse()?);
            } else if let Some(port) = option.strip_prefix("udp=") {
                let udp = UdpSocket::bind("127.0.0.1", port.parse()?)?;
                spawn(async move {
                    while let Ok((data, from)) = udp.recv_from().await {
                        let _ = udp.send_to(from, &[b"udp:", &data[..]].concat());
                    }
                });
            }
        }
        let listener = TcpListener::bind(host, port).await?;
        let port = listener.port();
        log!("LISTEN {port}");
        spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _peer)) => {
                        spawn(serve(stream));
                    }
                    Err(e) => {
                        log!("accept: {e}");
                        return;
                    }
                }
            }
        });
        Ok(NetEcho { port: Cell::new(port) })
    }

    async fn lua(&'static self, request: Request) -> Result<Reply> {
        match request.values()?.first().and_then(|v| v.as_str()) {
            Some("port") => Ok(Reply::pack(&(self.port.get(),))?),
            _ => Err(skybox_sdk::Error::new("unknown command")),
        }
    }
}

/// One connection: lines back, and the commands above.
async fn serve(stream: TcpStream) {
    while let Ok(line) = stream.read_until(b"\n").await {
        let line = String::from_utf8_lossy(&line).into_owned();
        let answer = match line.split_once(' ') {
            _ if line == "quit" => return,
            _ if line == "exit" => {
                skybox_sdk::exit();
                return;
            }
            Some(("dial", port)) => format!("dialed: {}", dial(port).await.unwrap_or_else(|e| e.to_string())),
            _ => line,
        };
        if stream.write(format!("{answer}\n").as_bytes()).is_err() {
            return;
        }
    }
}

async fn dial(port: &str) -> Result<String> {
    let peer = TcpStream::connect("127.0.0.1", port.trim().parse()?).await?;
    peer.write(b"hello from the guest\n")?;
    let line = peer.read_until(b"\n").await?;
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Tries every operation on a socket this guest does not own.
fn steal(id: i32) {
    let outcome = |r: std::result::Result<(), skybox_sdk::AbiError>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("{e:?}"),
    };
    log!(
        "steal: send={} start={} pause={} close={}",
        outcome(abi::net::send(id, b"stolen\n", false)),
        outcome(abi::net::start(id)),
        outcome(abi::net::pause(id)),
        outcome(abi::net::close(id)),
    );
}

skybox_sdk::service!(NetEcho);
