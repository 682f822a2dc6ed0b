//! The real-time link as a library: the peer on it, a `link drop` at the scripted moment. (How
//! late the relay delivers is a measurement, not a test: `cargo bench --bench speed -- --only
//! jitter`.)

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use rstlab::net::link::Link;
use rstlab::net::relay::Relay;
use rstlab::net::wire::Fate;
use rstlab::peer::{Peer, PeerOptions};
use rstlab::scenario::End;

fn relay(delay: Duration) -> Option<Relay> {
    common::link_available().then(|| Relay::start(delay).expect("the relay starts"))
}

/// A listener in the server's namespace, and a client connected to it from the client's.
fn listener(relay: &Relay) -> TcpListener {
    let _inside = relay.enter(End::Server).unwrap();
    TcpListener::bind((Link::address(End::Server), 0)).unwrap()
}

fn connect(relay: &Relay, listener: &TcpListener) -> TcpStream {
    let _inside = relay.enter(End::Client).unwrap();
    TcpStream::connect(listener.local_addr().unwrap()).unwrap()
}

#[test]
fn the_peer_drops_its_own_write_on_cue_and_the_kernel_sends_it_again() {
    let Some(relay) = relay(Duration::from_millis(20)) else {
        return;
    };
    let listener = listener(&relay);
    let options = PeerOptions {
        timeout: Duration::from_secs(5),
        ..PeerOptions::default()
    };
    let mut client = connect(&relay, &listener);
    let peer = Peer::builder()
        .scenario("client write 1; server read 1; server write 3; link drop; server close")
        .options(options)
        .on_link(listener, relay.control())
        .start()
        .unwrap();
    client.write_all(b"a").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // The 3 bytes are lost on the wire, the FIN is not: the client's kernel holds the FIN
    // until the server's kernel sends the bytes again, then the read sees them, then EOF.
    let mut all = Vec::new();
    client.read_to_end(&mut all).unwrap();
    assert_eq!(all, b"xxx");
    let report = peer.finish().unwrap();
    assert!(report.as_scripted(), "{report}");
    let drop_step = &report.connections[0].steps[3];
    assert_eq!(drop_step.text, "link drop");
    let trace = relay.stop();
    let fates: Vec<Fate> = trace
        .segments
        .iter()
        .filter(|s| s.segment.from == End::Server && s.segment.len == 3)
        .map(|s| s.segment.fate)
        .collect();
    assert!(matches!(fates[0], Fate::Dropped(_)), "{fates:?}");
    assert!(
        matches!(fates.last(), Some(Fate::Delivered(_))),
        "sent again and delivered: {fates:?}"
    );
    assert_eq!(trace.ops.len(), 1, "{:?}", trace.ops);
}
