//! `examples/pooled_client.rs` against `rstlab::peer`: it retries an idempotent request after
//! the server closed the pooled connection, and does not retry a non-idempotent one.

use std::io::ErrorKind;
use std::time::Duration;

use rstlab::Outcome;
use rstlab::peer::{Peer, PeerOptions, PeerSaw};

#[path = "../examples/pooled_client.rs"]
#[allow(dead_code)] // the example's `main` is for `cargo run --example`
mod pooled_client;

use pooled_client::{Client, ClientError, Request};

/// The server answers one request, then closes the connection while it sits in the client's
/// pool; the client's next request reaches a closed socket.
const STALE: &str = "
    client write 7     # GET /a
    server read 7
    server write 7     # 200 ok
    server close       # the idle pooled connection is closed: FIN
    client write 7     # the next request, on the stale connection
";

/// A fresh connection: one request, one response.
const FRESH: &str = "client write 7; server read 7; server write 7";

const GET: Request<'static> = Request {
    method: "GET",
    path: "/a",
};

fn options() -> PeerOptions {
    PeerOptions {
        respond: b"200 ok\n".to_vec(),
        timeout: Duration::from_secs(5),
        ..PeerOptions::default()
    }
}

#[test]
fn an_idempotent_request_on_a_stale_pooled_connection_is_retried_on_a_fresh_one() {
    let peer = Peer::builder()
        .scenario(STALE)
        .scenario(FRESH)
        .options(options())
        .start()
        .unwrap();
    let mut client = Client::new(peer.addr());
    assert_eq!(client.send(&GET).unwrap(), "200 ok");
    // While the connection is idle in the pool, the server closes it.
    peer.wait_for_step(1, 4).unwrap();
    assert_eq!(client.send(&GET).unwrap(), "200 ok");
    assert_eq!(client.connects, 2, "the retry opened a second connection");
    drop(client);
    let report = peer.finish().unwrap();
    assert!(report.as_scripted(), "{report}");
    assert_eq!(report.connections.len(), 2, "{report}");
    // The retried request reached the closed socket and was lost, as the oracle says (the
    // closed socket counts no bytes: the peer saw something come, and says it did not check).
    let stale = &report.connections[0];
    assert!(
        matches!(stale.steps[4].peer, PeerSaw::Uncounted { .. }),
        "{report}"
    );
    assert_eq!(stale.steps[4].predicted, Outcome::Bytes(7));
    assert!(stale.steps[4].oracle.contains("lost"), "{report}");
}

#[test]
fn a_non_idempotent_request_on_a_stale_pooled_connection_is_not_retried() {
    let peer = Peer::builder()
        .scenario(STALE)
        .options(options())
        .start()
        .unwrap();
    let mut client = Client::new(peer.addr());
    assert_eq!(client.send(&GET).unwrap(), "200 ok");
    peer.wait_for_step(1, 4).unwrap();
    let post = Request {
        method: "POST",
        path: "/a",
    };
    let error = client.send(&post).unwrap_err();
    let ClientError::NotRetried(io) = &error else {
        panic!("expected a stale connection, not retried: {error}")
    };
    // The write succeeded; the read found the server's FIN: EOF, as the oracle predicts for a
    // read after that write (once the response before the FIN has been read).
    assert_eq!(io.kind(), ErrorKind::UnexpectedEof, "{error}");
    assert_eq!(client.connects, 1, "no second connection: no retry");
    let report = peer.finish().unwrap();
    assert!(report.as_scripted(), "{report}");
    assert_eq!(report.connections.len(), 1, "{report}");
    let conn = &report.connections[0];
    assert_eq!(conn.steps[4].predicted, Outcome::Bytes(7));
    let after_the_lost_write: Vec<&Outcome> =
        conn.forecast.reads.iter().map(|c| &c.outcome).collect();
    assert_eq!(
        after_the_lost_write.last(),
        Some(&&Outcome::Eof),
        "{report}"
    );
}
