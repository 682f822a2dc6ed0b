//! Peers release every thread and socket they made, whether finished, stopped or dropped in
//! the middle of a wait. Alone in its binary, so the counts are this test's own.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use rstlab::peer::{Peer, PeerOptions};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn finished_stopped_and_dropped_peers_leave_no_thread_or_descriptor_behind() {
    let (fds, tasks) = (open_fds(), threads());
    let options = PeerOptions {
        timeout: Duration::from_secs(30),
        ..PeerOptions::default()
    };
    for round in 0..5 {
        let scenario = "client write 2; server read 2; server write 1; client write 1";
        let peers: Vec<Peer> = (0..3)
            .map(|_| {
                Peer::builder()
                    .scenario(scenario)
                    .options(options.clone())
                    .start()
                    .unwrap()
            })
            .collect();
        let mut clients = Vec::new();
        for peer in &peers {
            let mut c = TcpStream::connect(peer.addr()).unwrap();
            c.write_all(b"ab").unwrap();
            peer.wait_for_step(1, 3).unwrap();
            clients.push(c);
        }
        // Each peer is waiting (30 s) for the last write: one finishes after it, one is
        // stopped, one is dropped.
        let mut peers = peers.into_iter();
        let finished = peers.next().unwrap();
        clients[0].write_all(b"c").unwrap();
        assert!(finished.finish().unwrap().as_scripted(), "round {round}");
        let stopped = peers.next().unwrap().stop().unwrap();
        assert!(!stopped.as_scripted());
        drop(peers);
        drop(clients);
    }
    assert_eq!(threads(), tasks, "threads leaked");
    assert_eq!(open_fds(), fds, "file descriptors leaked");
}
