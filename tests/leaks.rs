//! Nothing leaks across scenarios: file descriptors and threads come back to where they were.

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use rstlab::generate;
use rstlab::run::{Backend, Runner};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn many_scenarios_leave_no_file_descriptor_or_thread_behind() {
    for backend in Backend::ALL {
        let mut runner = Runner::new(backend).unwrap();
        let mut proptest = TestRunner::deterministic();
        let mut run_some = |n| {
            for _ in 0..n {
                let s = generate::scenario()
                    .new_tree(&mut proptest)
                    .unwrap()
                    .current();
                runner.run(&s).unwrap();
            }
        };
        run_some(20);
        let (fds, tasks) = (open_fds(), threads());
        run_some(500);
        // This binary holds only this test, so the counts must come back exactly.
        assert_eq!(open_fds(), fds, "{backend}: file descriptors leaked");
        assert_eq!(threads(), tasks, "{backend}: threads leaked");
    }
}
