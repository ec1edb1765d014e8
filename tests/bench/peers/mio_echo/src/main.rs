//! An echo server in the shape of mio's TCP server tutorial: one thread,
//! one `Poll`, the listener under token 0 and each connection under a token
//! of its own.  A peer of pingpongd in make bench-peers.
//!
//!     mio_echo PORT        (0: any free port)
//!
//! Listens on 127.0.0.1, prints "port N" once it does, and echoes every byte
//! back as it arrives.  mio is edge-triggered, so a readable connection is
//! read until it would block.  What the kernel does not take of an echo is
//! kept and the connection is re-registered for writing only; reading
//! resumes once it is gone (re-registering re-arms the readiness of bytes
//! left unread), so a client that does not read its echo stalls only itself
//! and nothing is dropped.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const SERVER: Token = Token(0);
const READ_SIZE: usize = 64 * 1024;

struct Connection {
    stream: TcpStream,
    /// Echo the kernel has not taken yet; empty while reading.
    pending: Vec<u8>,
}

/// Writes as much of `data` as the kernel takes; the bytes written.
fn write_some(stream: &mut TcpStream, data: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < data.len() {
        match stream.write(&data[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Serves one event; false when the connection is finished.
fn serve(poll: &Poll, token: Token, conn: &mut Connection, buf: &mut [u8]) -> io::Result<bool> {
    if !conn.pending.is_empty() {
        let n = write_some(&mut conn.stream, &conn.pending)?;
        conn.pending.drain(..n);
        if !conn.pending.is_empty() {
            return Ok(true);
        }
        poll.registry()
            .reregister(&mut conn.stream, token, Interest::READABLE)?;
        return Ok(true);
    }
    loop {
        let n = match conn.stream.read(buf) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let w = write_some(&mut conn.stream, &buf[..n])?;
        if w < n {
            conn.pending.extend_from_slice(&buf[w..n]);
            poll.registry()
                .reregister(&mut conn.stream, token, Interest::WRITABLE)?;
            return Ok(true);
        }
    }
}

fn main() -> io::Result<()> {
    let port: u16 = match std::env::args().nth(1).map(|a| a.parse()) {
        Some(Ok(p)) if std::env::args().len() == 2 => p,
        _ => {
            eprintln!("usage: mio_echo PORT");
            std::process::exit(2);
        }
    };
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(256);
    let mut server = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    poll.registry()
        .register(&mut server, SERVER, Interest::READABLE)?;
    println!("port {}", server.local_addr()?.port());

    let mut connections: HashMap<Token, Connection> = HashMap::new();
    let mut next = 1;
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            if event.token() == SERVER {
                loop {
                    let (mut stream, _) = match server.accept() {
                        Ok(s) => s,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    };
                    // As pingpongd and redis do: no Nagle delay on an echo.
                    let _ = stream.set_nodelay(true);
                    let token = Token(next);
                    next += 1;
                    poll.registry()
                        .register(&mut stream, token, Interest::READABLE)?;
                    connections.insert(token, Connection { stream, pending: Vec::new() });
                }
                continue;
            }
            let token = event.token();
            let done = match connections.get_mut(&token) {
                Some(conn) => !matches!(serve(&poll, token, conn, &mut buf), Ok(true)),
                None => false,
            };
            if done {
                if let Some(mut conn) = connections.remove(&token) {
                    let _ = poll.registry().deregister(&mut conn.stream);
                }
            }
        }
    }
}
