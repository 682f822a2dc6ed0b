//! The rings that record the kernel's RSTs end with what holds them: a runner, a peer, a log,
//! also when a panic unwinds through them. Nothing else of the recording lives in the kernel,
//! so a process that ends (Ctrl-C, SIGTERM, SIGKILL) leaves nothing behind.
//!
//! One test in its own file: it counts this process's perf events, which the tests of another
//! file, run in parallel threads of the same process, would change.

mod common;

use std::net::TcpStream;

use rstlab::peer::Peer;
use rstlab::reasons::ResetLog;
use rstlab::run::{Backend, Runner};

#[test]
fn no_ring_outlives_its_runner_peer_or_log_even_through_a_panic() {
    let Some(rings) = common::reset_log().map(|log| log.rings()) else {
        return;
    };
    let open = || common::perf_events_of(std::process::id());
    assert_eq!(open(), 0, "the log above is dropped");
    assert!(rings >= 1);

    let log = ResetLog::open().unwrap();
    assert_eq!(open(), rings, "one ring a CPU");
    drop(log);
    assert_eq!(open(), 0);

    let panicked = std::thread::spawn(move || {
        let runner = Runner::new(Backend::Std).unwrap();
        assert!(runner.records_reasons());
        assert_eq!(open(), rings);
        panic!("on purpose, with a runner alive");
    })
    .join();
    assert!(panicked.is_err());
    assert_eq!(open(), 0, "the runner's rings outlived the panic");
    let runner = Runner::new(Backend::Std).unwrap();
    assert_eq!(open(), rings);
    drop(runner);
    assert_eq!(open(), 0, "the runner's rings outlived it");

    let panicked = std::thread::spawn(move || {
        let peer = Peer::serve("client write 1; server close").unwrap();
        // A connection being played holds the log too.
        let _client = TcpStream::connect(peer.addr()).unwrap();
        assert!(peer.records_reasons());
        panic!("on purpose, with a peer alive");
    })
    .join();
    assert!(panicked.is_err());
    // The peer's threads end on their own once its owner is gone: wait for them (10 s at most).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while open() != 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(open(), 0, "the peer's rings outlived the panic");
}
