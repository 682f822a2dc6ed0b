//! Nothing leaks across scenarios: file descriptors and threads come back to where they were,
//! on loopback and on the emulated link (whose namespaces are anonymous: held only by file
//! descriptors, so a leaked namespace would show as a leaked descriptor).

mod common;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use rstlab::generate;
use rstlab::run::{Backend, LINK_CLIENT_BATCH, Net, RunOptions, Runner};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

// One test, not two: the counts are of the whole process, so nothing else may run meanwhile.
#[test]
fn many_scenarios_leave_no_file_descriptor_or_thread_behind() {
    let nets: &[Net] = if common::link_available_for("the runs on the link") {
        &Net::ALL
    } else {
        &[Net::Loopback]
    };
    // tokio makes some things once per process, on first use, and keeps them: with the
    // features turmoil brings in (`rstlab sim`), its signal driver's pipe (two descriptors). A
    // runtime made and dropped first makes them before anything is counted.
    drop(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    );
    for &net in nets {
        let before = (open_fds(), threads());
        for backend in Backend::ALL {
            let options = RunOptions {
                net,
                ..RunOptions::default()
            };
            let mut runner = Runner::with_options(backend, options).unwrap();
            let mut proptest = TestRunner::deterministic();
            let mut run_some = |n| {
                for _ in 0..n {
                    let s = generate::scenario_on(net)
                        .new_tree(&mut proptest)
                        .unwrap()
                        .current();
                    runner.run(&s).unwrap();
                }
            };
            // In whole batches of the client sockets the link makes ahead, so that it holds as
            // many spare ones at both counts (on loopback the numbers do not matter).
            run_some(2 * LINK_CLIENT_BATCH);
            let (fds, tasks) = (open_fds(), threads());
            run_some(50 * LINK_CLIENT_BATCH);
            // This binary holds only this test, so the counts must come back exactly.
            assert_eq!(
                open_fds(),
                fds,
                "{backend} on {net}: file descriptors leaked"
            );
            assert_eq!(threads(), tasks, "{backend} on {net}: threads leaked");
        }
        // Dropping the runners released everything: sockets, devices, namespaces, runtimes.
        assert_eq!(
            (open_fds(), threads()),
            before,
            "{net}: a dropped runner leaked"
        );
    }
}
