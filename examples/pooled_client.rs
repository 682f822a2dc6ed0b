//! A small request/response client with a connection pool, and the retry logic that a pooled
//! connection needs: the server may have closed it while it sat idle.
//!
//! The protocol is one line each way: the request `METHOD PATH\n`, the response `STATUS TEXT\n`.
//! A request on a pooled connection that the server has closed *succeeds* as a write (the
//! server's kernel answers it with RST, too late for the write to see), and the read that follows
//! returns EOF: the server closed the connection without responding. The client cannot know
//! whether the server processed the request, so it retries on a fresh connection only a request
//! that is safe to repeat (idempotent: GET, HEAD, PUT, DELETE, OPTIONS), never a POST.
//!
//! `tests/peer_example.rs` proves both behaviours with `rstlab::peer`. Against `rstlab serve`:
//!
//! ```text
//! printf '200 ok\n' > ok.txt
//! rstlab serve --respond ok.txt "client write 7; server read 7; server write 7; server close; client write 7"
//! cargo run --example pooled_client -- 127.0.0.1:PORT GET     # GET /a, then GET /a: retried
//! cargo run --example pooled_client -- 127.0.0.1:PORT POST    # GET /a, then POST /a: not retried
//! ```

use std::fmt;
use std::io::{self, BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A request: a method and a path.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// `/a`, …
    pub path: &'a str,
}

impl Request<'_> {
    /// Whether sending the request twice has the effect of sending it once (RFC 9110 §9.2.2),
    /// so that it may be repeated when the client cannot tell whether the server got it.
    pub fn idempotent(&self) -> bool {
        matches!(self.method, "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS")
    }
}

/// Why a request failed.
#[derive(Debug)]
pub enum ClientError {
    /// The pooled connection was stale and the request is not idempotent: it may or may not
    /// have been processed, so it was not sent again.
    NotRetried(io::Error),
    /// Any other failure.
    Io(io::Error),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::NotRetried(e) => write!(
                f,
                "the pooled connection was stale ({e}); the request is not idempotent, so it was not retried"
            ),
            ClientError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// A client that keeps its last connection for the next request.
pub struct Client {
    addr: SocketAddr,
    idle: Option<BufReader<TcpStream>>,
    /// How many connections it has opened.
    pub connects: usize,
}

/// Every call waits at most this long, so a silent server cannot hang the client.
const TIMEOUT: Duration = Duration::from_secs(5);

impl Client {
    /// A client for the server at `addr`; it connects on the first request.
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            idle: None,
            connects: 0,
        }
    }

    /// Sends `request` and returns the response line (without its newline).
    pub fn send(&mut self, request: &Request<'_>) -> Result<String, ClientError> {
        if let Some(conn) = self.idle.take() {
            match exchange(conn, request) {
                Ok((response, conn)) => {
                    self.idle = Some(conn);
                    return Ok(response);
                }
                // Stale: the server closed or reset the connection before any response.
                Err(e) if is_stale(&e) => {
                    if !request.idempotent() {
                        return Err(ClientError::NotRetried(e));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        let conn = TcpStream::connect_timeout(&self.addr, TIMEOUT)?;
        self.connects += 1;
        conn.set_read_timeout(Some(TIMEOUT))?;
        conn.set_write_timeout(Some(TIMEOUT))?;
        let (response, conn) = exchange(BufReader::new(conn), request)?;
        self.idle = Some(conn);
        Ok(response)
    }
}

/// What a request on a connection the server has closed or reset ends with, before any byte of
/// a response: EOF on the read (the server's FIN), or ECONNRESET / EPIPE.
fn is_stale(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
    )
}

/// One request and its response on `conn`; gives the connection back for the pool.
fn exchange(
    mut conn: BufReader<TcpStream>,
    request: &Request<'_>,
) -> io::Result<(String, BufReader<TcpStream>)> {
    conn.get_mut()
        .write_all(format!("{} {}\n", request.method, request.path).as_bytes())?;
    let mut line = String::new();
    let n = conn.read_line(&mut line)?;
    if n == 0 {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "the server closed the connection without responding",
        ));
    }
    let Some(response) = line.strip_suffix('\n') else {
        // Part of a response: the server did see the request. Not stale, never retried.
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            format!("incomplete response {line:?}"),
        ));
    };
    Ok((response.to_string(), conn))
}

/// `pooled_client ADDR [METHOD]`: `GET /a`, then `METHOD /a` (GET by default) 200 ms later on
/// the pooled connection.
fn main() {
    let mut args = std::env::args().skip(1);
    let Some(addr) = args.next().and_then(|a| a.parse::<SocketAddr>().ok()) else {
        eprintln!("usage: pooled_client HOST:PORT [METHOD]");
        std::process::exit(2);
    };
    let method = args.next().unwrap_or_else(|| "GET".to_string());
    let mut client = Client::new(addr);
    let mut status = 0;
    for n in 1..=2 {
        let request = Request {
            method: if n == 1 { "GET" } else { &method },
            path: "/a",
        };
        match client.send(&request) {
            Ok(response) => println!("request {n}: {response}"),
            Err(e) => {
                println!("request {n}: error: {e}");
                status = 1;
            }
        }
        // The connection waits in the pool between requests, as a real client's does.
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("connections opened: {}", client.connects);
    std::process::exit(status);
}
