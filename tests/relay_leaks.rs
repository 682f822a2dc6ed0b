//! Relays, and peers on them, release every thread and descriptor they made (the namespaces go
//! with their descriptors), whether stopped or dropped with packets held. Alone in its binary,
//! so the counts are this test's own.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use rstlab::net::link::Link;
use rstlab::net::relay::Relay;
use rstlab::peer::{Peer, PeerOptions};
use rstlab::scenario::{End, LinkOp};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn pair(relay: &Relay) -> (TcpStream, TcpListener) {
    let listener = {
        let _inside = relay.enter(End::Server).unwrap();
        TcpListener::bind((Link::address(End::Server), 0)).unwrap()
    };
    let client = {
        let _inside = relay.enter(End::Client).unwrap();
        TcpStream::connect(listener.local_addr().unwrap()).unwrap()
    };
    (client, listener)
}

#[test]
fn stopped_and_dropped_relays_leave_no_thread_or_descriptor_behind() {
    if !common::link_available() {
        return;
    }
    let (fds, tasks) = (open_fds(), threads());
    for round in 0..3 {
        // A relay with a peer on it, played to the end, then stopped.
        let relay = Relay::start(Duration::from_millis(5)).unwrap();
        let (mut client, listener) = pair(&relay);
        let options = PeerOptions {
            timeout: Duration::from_secs(5),
            ..PeerOptions::default()
        };
        let peer = Peer::builder()
            .scenario("client write 2; server read 2; server close")
            .options(options)
            .on_link(listener, relay.control())
            .start()
            .unwrap();
        client.write_all(b"ab").unwrap();
        let mut eof = Vec::new();
        client.read_to_end(&mut eof).unwrap();
        assert!(peer.finish().unwrap().as_scripted(), "round {round}");
        assert!(relay.stop().problems.is_empty());
        drop(client);

        // A relay dropped with a segment held and both sockets still open.
        let relay = Relay::start(Duration::ZERO).unwrap();
        let (mut client, listener) = pair(&relay);
        let (server, _) = listener.accept().unwrap();
        relay.control().apply(LinkOp::Hold);
        client.write_all(b"held").unwrap();
        drop(relay);
        drop((client, server, listener));
    }
    assert_eq!(threads(), tasks, "threads leaked");
    assert_eq!(open_fds(), fds, "file descriptors leaked");
}
