//! How close the harness runs to the kernel's own speed, on loopback and on the emulated link.
//!
//! `cargo bench --bench speed` measures, in one run, on each network:
//!
//! - (a) the seed scenario as a bare loop, no harness. On loopback: std syscalls on a socket set
//!   up like the runner's (1 MiB buffers asked for, a rotating 127.1.x.y source address with
//!   `IP_BIND_ADDRESS_NO_PORT`, `TCP_NODELAY`, `O_NONBLOCK`): connect, accept, the client writes
//!   one byte, the server reads it and closes, the client writes twice (`ok(1)`, then `EPIPE`).
//!   On the link: the same syscalls with the link's forwarding after each (`Link::settle`), the
//!   client bound as the runner binds it (its own source address and port, `Link::client_port`),
//!   the physical reference for link scenarios;
//! - (b) the harness on the same scenario: oracle, runner with its quiescence checks, check;
//! - (e) `explore` with one job and with one job per core (cases/s);
//! - (f) the figure users see: the `rstlab` binary's `explore --time 3s --jobs 1 --json` on that
//!   network, its `cases_per_second` (process start and the link's setup are outside it);
//! - (g) `explore` with one job as (e), without the kernel's RST reasons: what reading them costs.
//!
//! (a) and (b) run on one thread (one core). Each measurement takes `--time` seconds (default
//! 2) and is repeated `--rounds` times (default 3), all interleaved so that a change in the
//! machine's load hits them alike; the median of the rounds is reported, and the ratios are
//! computed from those medians. Targets: explore with one job at least half the bare loop
//! (cases/s against scenarios/s), both in the library (e1) and from the command (f), two jobs at
//! least 1.8 times one, on both networks; and (g) explore with one job without the kernel's RST
//! reasons (`--no-reasons`), against which e1, which reads them, must keep 0.9.
//!
//! Options (after `--`): `--time SECONDS` (not (f)'s, which is always 3 s), `--rounds N`, `--json`,
//! and `--only NAME` to run one measurement alone (for a profiler): `a`, `b`, `e1`, `e`, `f`, `g` on
//! loopback, `link-a`, `link-b`, `link-e1`, `link-e`, `link-f`, `link-g` on the link.
//!
//! `--only lane` measures the lane (needs QEMU and the cached 6.12 kernel; about 2 minutes):
//! (L1) the real seconds of `rstlab run scenarios/keepalive-times-out-a-silent-peer.scenario`
//! (it goes to the lane's 6.12: boot plus one timer scenario; target at most 25 s); (L2) the
//! real seconds of the vanished peer's scenario (`silent-peer-times-out`, 960 s of the kernel's
//! time) once the VM is booted (target at most 2 s); (L3) timer cases per real second of
//! `explore --kernel 6.12 --timers --cases 2000 --seed 1` once booted (target at least 100),
//! each with its ratio of the kernel's time to real time.
//!
//! `--only jitter` measures something else, by hand (about 10 s, needs CAP_NET_ADMIN): how late
//! the real-time link's relay delivers. One byte crosses a 20 ms link 250 times each way; it
//! prints the percentiles of the time from a `write` to the `read` that returns it, less the
//! delay, and of the relay's own lateness (from each segment's due time to its delivery). Run it
//! idle and with the other cores busy (`yes > /dev/null`).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use rstlab::explore::{self, ExploreOptions, Progress};
use rstlab::net::link::Link;
use rstlab::net::relay::Relay;
use rstlab::net::wire::Fate;
use rstlab::run::{Backend, Net, RunOptions, Runner, SOCKET_BUFFER};
use rstlab::scenario::{End, Scenario};

const SEED: &str =
    "client write 1; server read 1; server close; client write 1; client write 1 => EPIPE";

struct Options {
    time: Duration,
    rounds: usize,
    json: bool,
    only: Option<String>,
}

fn options() -> Options {
    let mut options = Options {
        time: Duration::from_secs(2),
        rounds: 3,
        json: false,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--time" => {
                let s: f64 = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--time SECONDS");
                options.time = Duration::from_secs_f64(s);
            }
            "--rounds" => {
                options.rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--rounds N");
            }
            "--json" => options.json = true,
            "--only" => options.only = args.next(),
            // cargo bench passes --bench; a filter or other harness flags mean nothing here.
            _ => {}
        }
    }
    options
}

/// A client or listening socket set up as the runner sets up its own.
fn new_socket() -> Socket {
    let socket = Socket::new(Domain::IPV4, Type::STREAM.cloexec(), Some(Protocol::TCP)).unwrap();
    socket.set_recv_buffer_size(SOCKET_BUFFER).unwrap();
    socket.set_send_buffer_size(SOCKET_BUFFER).unwrap();
    socket
}

/// (a): the seed scenario as bare syscalls. Returns (scenarios, seconds, surprises): a surprise
/// is a run whose last write did not fail with EPIPE.
fn bare(time: Duration) -> (u64, f64, u64) {
    let listener = {
        let s = new_socket();
        s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        s.listen(128).unwrap();
        TcpListener::from(s)
    };
    let target = listener.local_addr().unwrap();
    let mut buffer = [0u8; 1];
    let (mut n, mut surprises) = (0u64, 0u64);
    let start = Instant::now();
    while start.elapsed() < time {
        for _ in 0..64 {
            let socket = new_socket();
            rstlab::sys::set_bind_address_no_port(&socket).expect("IP_BIND_ADDRESS_NO_PORT");
            let k = n % (254 * 254);
            let source = Ipv4Addr::new(127, 1, (k / 254) as u8 + 1, (k % 254) as u8 + 1);
            socket
                .bind(&SocketAddr::V4(SocketAddrV4::new(source, 0)).into())
                .unwrap();
            socket.connect(&target.into()).unwrap();
            let mut client = TcpStream::from(socket);
            let (mut server, _) = listener.accept().unwrap();
            for s in [&client, &server] {
                s.set_nodelay(true).unwrap();
                s.set_nonblocking(true).unwrap();
            }
            let ok = client.write(b"a").is_ok_and(|n| n == 1)
                && server.read(&mut buffer).is_ok_and(|n| n == 1);
            drop(server);
            let ok = ok
                && client.write(b"b").is_ok_and(|n| n == 1)
                && client
                    .write(b"c")
                    .is_err_and(|e| e.raw_os_error() == Some(libc::EPIPE));
            drop(client);
            surprises += u64::from(!ok);
            n += 1;
        }
    }
    (n, start.elapsed().as_secs_f64(), surprises)
}

/// (a) on the link: the seed scenario as bare syscalls, the link settling after each (no
/// oracle, no TCP_INFO, no check). Returns (scenarios, seconds, surprises).
fn bare_link(time: Duration) -> (u64, f64, u64) {
    let mut link = Link::new().expect("the emulated link (needs CAP_NET_ADMIN)");
    let server_addr = Link::address(End::Server);
    let listener = {
        let _in = link.enter(End::Server).unwrap();
        let s = new_socket();
        s.bind(&SocketAddr::from((server_addr, 0)).into()).unwrap();
        s.listen(128).unwrap();
        s.set_nonblocking(true).unwrap();
        TcpListener::from(s)
    };
    let target = match listener.local_addr().unwrap() {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => unreachable!(),
    };
    let mut buffer = [0u8; 1];
    let (mut n, mut surprises) = (0u64, 0u64);
    let start = Instant::now();
    while start.elapsed() < time {
        for _ in 0..64 {
            let socket = {
                let _in = link.enter(End::Client).unwrap();
                new_socket()
            };
            // Bound as the runner binds it: its own source address and port, no port search.
            let local = SocketAddrV4::new(Link::client_source(n), Link::client_port(n));
            socket.bind(&SocketAddr::V4(local).into()).unwrap();
            socket.set_nonblocking(true).unwrap();
            let _ = socket.connect(&SocketAddr::V4(target).into());
            link.watch(local, target);
            // After each call only the caller's side can have sent: the link reads that side's
            // device alone, as the runner's does.
            link.settle_from(End::Client).unwrap();
            let mut client = TcpStream::from(socket);
            let (mut server, _) = listener.accept().unwrap();
            for s in [&client, &server] {
                s.set_nodelay(true).unwrap();
                s.set_nonblocking(true).unwrap();
            }
            let mut ok = client.write(b"a").is_ok_and(|n| n == 1);
            link.settle_from(End::Client).unwrap();
            ok &= server.read(&mut buffer).is_ok_and(|n| n == 1);
            drop(server);
            link.settle_from(End::Server).unwrap();
            ok &= client.write(b"b").is_ok_and(|n| n == 1);
            link.settle_from(End::Client).unwrap();
            ok &= client
                .write(b"c")
                .is_err_and(|e| e.raw_os_error() == Some(libc::EPIPE));
            drop(client);
            link.reset().unwrap();
            surprises += u64::from(!ok);
            n += 1;
        }
    }
    (n, start.elapsed().as_secs_f64(), surprises)
}

/// (b): the harness (oracle, runner, check) on `scenarios`, round and round, on `net`.
/// Returns (scenarios, steps, seconds, disagreements).
fn harness(scenarios: &[Scenario], net: Net, time: Duration) -> (u64, u64, f64, u64) {
    let options = RunOptions {
        net,
        ..RunOptions::default()
    };
    let mut runner = Runner::with_options(Backend::Std, options).unwrap();
    let (mut n, mut steps, mut disagreements) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    'outer: loop {
        for scenario in scenarios {
            if start.elapsed() >= time {
                break 'outer;
            }
            match explore::run_and_check(&mut runner, scenario) {
                Ok(None) => {}
                Ok(Some(d)) => {
                    eprintln!("harness on {net}: DISAGREEMENT {d}");
                    disagreements += 1;
                }
                Err(e) => {
                    eprintln!("harness on {net}: ERROR {e}");
                    disagreements += 1;
                }
            }
            n += 1;
            steps += scenario.steps().len() as u64;
        }
    }
    (n, steps, start.elapsed().as_secs_f64(), disagreements)
}

/// (e): `explore` on `net` with `jobs` jobs: (cases/s, disagreements).
fn explore_rate(net: Net, jobs: usize, time: Duration, seed: u64, reasons: bool) -> (f64, u64) {
    let summary = explore::explore(
        &ExploreOptions {
            cases: None,
            time: Some(time),
            seed,
            jobs,
            nets: vec![net],
            reasons,
            ..ExploreOptions::default()
        },
        &Progress::default(),
    );
    for f in &summary.findings {
        eprintln!(
            "explore on {net}: DISAGREEMENT case {}: {} ({}; original: {})",
            f.case, f.inline, f.disagreement, f.original
        );
    }
    if let Some(e) = &summary.first_error {
        eprintln!(
            "explore on {net}: {} ERRORS, the first: {e}",
            summary.errors
        );
    }
    (
        summary.cases_per_second,
        summary.disagreement_count + summary.errors,
    )
}

/// (f): `rstlab explore --time 3s --jobs 1 --json --net NET --seed SEED`, as a user runs it:
/// (cases/s, disagreements and errors).
fn command_rate(net: Net, seed: u64) -> (f64, u64) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .args(["explore", "--time", "3s", "--jobs", "1", "--json", "--net"])
        .arg(net.to_string())
        .args(["--seed", &seed.to_string()])
        .stderr(std::process::Stdio::null())
        .output()
        .expect("running rstlab explore");
    let summary: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("explore --json prints one JSON object");
    let count = |key: &str| summary[key].as_u64().unwrap_or(0);
    let problems = summary["disagreements"]
        .as_array()
        .map_or(0, |d| d.len() as u64)
        + count("errors");
    if problems > 0 || !output.status.success() {
        eprintln!("explore command on {net}: {summary}");
    }
    (
        summary["cases_per_second"].as_f64().unwrap_or(0.0),
        problems + u64::from(!output.status.success()),
    )
}

/// Percentile `p` (0 to 100) of sorted `values`.
/// From the lane's last line on standard error (`... G s of guest time, R s real (B s of it
/// booting)`): the guest's seconds, the real seconds and the boot's.
fn lane_times(stderr: &str) -> (f64, f64, f64) {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("s of guest time"))
        .unwrap_or_else(|| panic!("no lane summary in:\n{stderr}"));
    let number_before = |marker: &str| -> f64 {
        let head = &line[..line
            .find(marker)
            .unwrap_or_else(|| panic!("{marker}: {line}"))];
        head.rsplit([' ', '('])
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{marker}: {line}"))
    };
    (
        number_before(" s of guest time"),
        number_before(" s real"),
        number_before(" s of it booting"),
    )
}

/// `--only lane`: boot plus a timer scenario, the vanished peer once booted, and timer cases
/// per real second, each from the command as users run it.
fn lane_speed() {
    let exe = env!("CARGO_BIN_EXE_rstlab");
    let root = env!("CARGO_MANIFEST_DIR");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(exe).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args:?}:\n{stderr}");
        lane_times(&stderr)
    };
    let keepalive = format!("{root}/scenarios/keepalive-times-out-a-silent-peer.scenario");
    let (g1, r1, _) = run(&["run", &keepalive]);
    println!(
        "(L1) boot + a timer scenario (keepalive): {r1:.1} s real, {g1:.1} s of the kernel's time (target <= 25 s)"
    );
    let vanished = format!("{root}/scenarios/silent-peer-times-out.scenario");
    let (g2, r2, b2) = run(&["run", "--kernel", "6.12", &vanished]);
    println!(
        "(L2) the vanished peer once booted: {:.2} s real for {g2:.0} s of the kernel's time, {:.0} times faster (target <= 2 s)",
        r2 - b2,
        g2 / (r2 - b2)
    );
    let cases = 2000.0;
    let (g3, r3, b3) = run(&[
        "explore", "--kernel", "6.12", "--timers", "--cases", "2000", "--seed", "1", "--json",
    ]);
    println!(
        "(L3) explore --kernel 6.12 --timers once booted: {:.0} timer cases per real second ({cases} in {:.1} s), {:.0} times faster than the kernel's time (target >= 100)",
        cases / (r3 - b3),
        r3 - b3,
        g3 / (r3 - b3)
    );
}

fn percentile(values: &[Duration], p: usize) -> Duration {
    values[(values.len() - 1) * p / 100]
}

/// `--only jitter`: how late the relay delivers on a 20 ms link (see the module documentation).
fn relay_jitter() {
    let delay = Duration::from_millis(20);
    let relay = Relay::start(delay).expect("the relay (needs CAP_NET_ADMIN)");
    let listener = {
        let _inside = relay.enter(End::Server).unwrap();
        TcpListener::bind((Link::address(End::Server), 0)).unwrap()
    };
    let mut client = {
        let _inside = relay.enter(End::Client).unwrap();
        TcpStream::connect(listener.local_addr().unwrap()).unwrap()
    };
    let (mut server, _) = listener.accept().unwrap();
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    let mut late = Vec::new();
    let mut byte = [0u8; 1];
    for _ in 0..250 {
        let sent = Instant::now();
        client.write_all(b"p").unwrap();
        server.read_exact(&mut byte).unwrap();
        late.push(sent.elapsed().saturating_sub(delay));
        let sent = Instant::now();
        server.write_all(b"q").unwrap();
        client.read_exact(&mut byte).unwrap();
        late.push(sent.elapsed().saturating_sub(delay));
    }
    late.sort();
    let trace = relay.stop();
    let mut own: Vec<Duration> = trace
        .segments
        .iter()
        .filter_map(|s| match s.segment.fate {
            Fate::Delivered(at) => Some(at.saturating_sub(s.segment.sent + delay)),
            _ => None,
        })
        .collect();
    own.sort();
    for (what, values) in [
        ("write to read, less the delay", &late),
        ("relay: due to delivered", &own),
    ] {
        println!(
            "{what}: n {} p50 {:?} p90 {:?} p99 {:?} max {:?}",
            values.len(),
            percentile(values, 50),
            percentile(values, 90),
            percentile(values, 99),
            values.last().unwrap()
        );
    }
}

/// What the rest of the machine did during a measurement: CPU time used by all processes
/// (`/proc/stat`) minus this process's own (`sys::own_cpu_time`), as a share of the CPUs' time.
struct Load {
    wall: Instant,
    busy: f64,
    own: f64,
}

impl Load {
    fn start() -> Load {
        Load {
            wall: Instant::now(),
            busy: machine_busy_seconds(),
            own: own_cpu_seconds(),
        }
    }

    fn others(&self, cores: usize) -> f64 {
        let busy = machine_busy_seconds() - self.busy;
        let own = own_cpu_seconds() - self.own;
        ((busy - own) / (self.wall.elapsed().as_secs_f64() * cores as f64)).max(0.0)
    }
}

/// Seconds of CPU time spent not idle, over all CPUs, since boot.
fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...: all but idle and iowait.
    let busy: f64 = fields
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4 && *i < 8)
        .map(|(_, v)| v)
        .sum();
    busy / rstlab::sys::clock_ticks_per_second() as f64
}

/// This process's CPU time, user and system.
fn own_cpu_seconds() -> f64 {
    rstlab::sys::own_cpu_time().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// The measurements of one network, median over the rounds.
#[derive(Default)]
struct Rates {
    bare: Vec<f64>,
    harness: Vec<f64>,
    one_job: Vec<f64>,
    all_jobs: Vec<f64>,
    command: Vec<f64>,
    no_reasons: Vec<f64>,
}

fn measure(net: Net, seed: &Scenario, time: Duration, cores: usize, round: u64) -> ([f64; 6], u64) {
    let (n, secs, surprises) = match net {
        Net::Loopback => bare(time),
        Net::Link => bare_link(time),
    };
    if surprises > 0 {
        eprintln!("bare loop on {net}: {surprises} runs without the expected EPIPE");
    }
    let a = n as f64 / secs;
    let (n, _, secs, dis_b) = harness(std::slice::from_ref(seed), net, time);
    let b = n as f64 / secs;
    let (e1, dis_1) = explore_rate(net, 1, time, round, true);
    let (en, dis_n) = explore_rate(net, cores, time, round, true);
    let (f, dis_f) = command_rate(net, round);
    let (g, dis_g) = explore_rate(net, 1, time, round, false);
    (
        [a, b, e1, en, f, g],
        surprises + dis_b + dis_1 + dis_n + dis_f + dis_g,
    )
}

fn main() {
    let options = options();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let seed: Scenario = SEED.parse().unwrap();
    if options.only.as_deref() == Some("jitter") {
        relay_jitter();
        return;
    }
    if options.only.as_deref() == Some("lane") {
        lane_speed();
        return;
    }
    if let Some(only) = &options.only {
        // One measurement alone, for a profiler.
        let (net, what) = match only.strip_prefix("link-") {
            Some(what) => (Net::Link, what),
            None => (Net::Loopback, only.as_str()),
        };
        let rate = match what {
            "a" if net == Net::Loopback => {
                let (n, secs, _) = bare(options.time);
                n as f64 / secs
            }
            "a" => {
                let (n, secs, _) = bare_link(options.time);
                n as f64 / secs
            }
            "b" => {
                let (n, _, secs, _) = harness(std::slice::from_ref(&seed), net, options.time);
                n as f64 / secs
            }
            "e1" => explore_rate(net, 1, options.time, 0, true).0,
            "e" => explore_rate(net, cores, options.time, 0, true).0,
            "g" => explore_rate(net, 1, options.time, 0, false).0,
            "f" => command_rate(net, 0).0,
            other => panic!("--only [link-]a|b|e1|e|f|g, not {other}"),
        };
        println!("{only}: {rate:.0}/s");
        return;
    }
    let mut rates = [Rates::default(), Rates::default()];
    let mut problems = 0;
    let mut others = Vec::new();
    for round in 0..options.rounds {
        let load = Load::start();
        for (i, net) in Net::ALL.into_iter().enumerate() {
            let ([a, b, e1, en, f, g], p) = measure(net, &seed, options.time, cores, round as u64);
            problems += p;
            rates[i].bare.push(a);
            rates[i].harness.push(b);
            rates[i].one_job.push(e1);
            rates[i].all_jobs.push(en);
            rates[i].command.push(f);
            rates[i].no_reasons.push(g);
            if !options.json {
                eprintln!(
                    "round {} {net}: a {a:.0}/s  b {b:.0}/s  e1 {e1:.0}/s  e{cores} {en:.0}/s  f {f:.0}/s  g {g:.0}/s",
                    round + 1
                );
            }
        }
        others.push(load.others(cores));
    }
    let table: Vec<(Net, [f64; 6])> = Net::ALL
        .into_iter()
        .zip(rates)
        .map(|(net, r)| {
            (
                net,
                [
                    median(r.bare),
                    median(r.harness),
                    median(r.one_job),
                    median(r.all_jobs),
                    median(r.command),
                    median(r.no_reasons),
                ],
            )
        })
        .collect();
    let busiest = others.iter().copied().fold(0.0, f64::max);
    if options.json {
        let nets: Vec<serde_json::Value> = table
            .iter()
            .map(|(net, [a, b, e1, en, f, g])| {
                serde_json::json!({
                    "net": net.to_string(),
                    "a_bare_seed_per_second": a,
                    "b_harness_seed_per_second": b,
                    "e_explore_1_job_cases_per_second": e1,
                    "e_explore_all_cores_cases_per_second": en,
                    "ratio_b_over_a": b / a,
                    "ratio_e1_over_a": e1 / a,
                    "ratio_all_jobs_over_1_job": en / e1,
                    "f_explore_command_1_job_cases_per_second": f,
                    "ratio_f_over_a": f / a,
                    "g_explore_1_job_no_reasons_cases_per_second": g,
                    "ratio_e1_over_g": e1 / g,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "cores": cores,
                "seconds_per_measurement": options.time.as_secs_f64(),
                "rounds": options.rounds,
                "networks": nets,
                "other_processes_cpu_share_max": busiest,
                "surprises_and_disagreements": problems,
            })
        );
        return;
    }
    println!(
        "machine: {cores} cores; {} s per measurement, median of {} rounds",
        options.time.as_secs_f64(),
        options.rounds
    );
    for (net, [a, b, e1, en, f, g]) in &table {
        println!("{net}:");
        println!("  (a) bare seed loop              {a:>10.0} scenarios/s");
        println!(
            "  (b) harness, seed scenario      {b:>10.0} scenarios/s   b/a {:.3}",
            b / a
        );
        println!(
            "  (e) explore, 1 job              {e1:>10.0} cases/s       e1/a {:.3}   (target >= 0.5)",
            e1 / a
        );
        println!(
            "      explore, {cores} jobs             {en:>10.0} cases/s       {cores} jobs / 1 job {:.3}   (target >= 1.8)",
            en / e1
        );
        println!(
            "  (f) explore --time 3s --jobs 1  {f:>10.0} cases/s       f/a {:.3}   (target >= 0.5)",
            f / a
        );
        println!(
            "  (g) explore, 1 job, no reasons  {g:>10.0} cases/s       e1/g {:.3}   (target >= 0.9)",
            e1 / g
        );
    }
    println!(
        "other processes used at most {:.0}% of the CPUs during a round",
        100.0 * busiest
    );
    println!("bare-loop surprises and harness disagreements: {problems}");
}
