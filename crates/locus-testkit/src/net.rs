//! Loopback network helpers for fault drills: ports that are free, ports that refuse.

use std::net::{SocketAddr, TcpListener};

/// A loopback address on which nothing listens: connecting to it is refused at once.
///
/// The port is taken from the kernel and released again, so another process could grab
/// it in between; in practice the ephemeral range is large enough for that not to matter.
///
/// ```
/// let addr = locus_testkit::net::refusing_addr();
/// assert!(std::net::TcpStream::connect(addr).is_err());
/// ```
pub fn refusing_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("cannot read the bound address: {e}"));
    drop(listener);
    addr
}

/// `http://127.0.0.1:PORT` for [`refusing_addr`]: an S3 endpoint that refuses connections.
pub fn refusing_endpoint() -> String {
    format!("http://{}", refusing_addr())
}

/// True if `port` can be bound on 127.0.0.1 right now.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}
