//! An echo server on tokio's current-thread runtime (one thread), one task
//! per connection that reads and writes back with `write_all`.  A peer of
//! pingpongd in make bench-peers.
//!
//!     tokio_echo PORT      (0: any free port)
//!
//! Listens on 127.0.0.1, prints "port N" once it does, and echoes every byte
//! back as it arrives.  A task does not read again until `write_all` has
//! handed all of its echo to the kernel, so a client that does not read its
//! echo stalls only its own task and nothing is dropped.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const READ_SIZE: usize = 64 * 1024;

async fn echo(mut stream: TcpStream) -> io::Result<()> {
    // The buffer is taken once the client has sent something, so that an
    // idle connection costs its task and nothing more.
    stream.readable().await?;
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

async fn serve(listener: TcpListener) -> io::Result<()> {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(_) => continue,
        };
        // As pingpongd and redis do: no Nagle delay on an echo.
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = echo(stream).await;
        });
    }
}

fn main() -> io::Result<()> {
    let port: u16 = match std::env::args().nth(1).map(|a| a.parse()) {
        Some(Ok(p)) if std::env::args().len() == 2 => p,
        _ => {
            eprintln!("usage: tokio_echo PORT");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        println!("port {}", listener.local_addr()?.port());
        serve(listener).await
    })
}
