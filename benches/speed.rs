//! How close the harness runs to the kernel's own speed.
//!
//! `cargo bench --bench speed` measures, in one run and on loopback:
//!
//! - (a) the seed scenario as a bare loop of std syscalls, no harness: a socket set up like the
//!   runner's (1 MiB buffers asked for, a rotating 127.1.x.y source address with
//!   `IP_BIND_ADDRESS_NO_PORT`, `TCP_NODELAY`, `O_NONBLOCK`), connect, accept, the client writes
//!   one byte, the server reads it and closes, the client writes twice (`ok(1)`, then `EPIPE`);
//! - (b) the harness on the same scenario: oracle, runner with its quiescence checks, check;
//! - (c) the harness on random scenarios (those of `rstlab explore`), per step, as generated
//!   and with the `sleep` steps taken out;
//! - (d) `explore` with one job and with one job per core.
//!
//! (a), (b) and (c) run on one thread (one core). Each measurement takes `--time` seconds
//! (default 2) and is repeated `--rounds` times (default 3), the four interleaved so that a
//! change in the machine's load hits them alike; the median of the rounds is reported, and the
//! ratios are computed from those medians.
//!
//! Options (after `--`): `--time SECONDS`, `--rounds N`, `--json`, and `--only
//! a|b|c|c-no-sleep|d1|d` to run one measurement alone (for a profiler).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use proptest::strategy::ValueTree;
use socket2::{Domain, Protocol, Socket, Type};

use rstlab::explore::{self, ExploreOptions, Progress};
use rstlab::run::{Backend, Runner, SOCKET_BUFFER};
use rstlab::scenario::{Op, Scenario};

const SEED: &str =
    "client write 1; server read 1; server close; client write 1; client write 1 => EPIPE";

/// Steps in the seed scenario (connection setup not counted).
const SEED_STEPS: f64 = 5.0;

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

/// (b) and (c): the harness (oracle, runner, check) on `scenarios`, round and round.
/// Returns (scenarios, steps, seconds, disagreements).
fn harness(scenarios: &[Scenario], time: Duration) -> (u64, u64, f64, u64) {
    let mut runner = Runner::new(Backend::Std).unwrap();
    let (mut n, mut steps, mut disagreements) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    'outer: loop {
        for scenario in scenarios {
            if start.elapsed() >= time {
                break 'outer;
            }
            match explore::run_and_check(&mut runner, scenario) {
                Ok(None) => {}
                _ => disagreements += 1,
            }
            n += 1;
            steps += scenario.steps().len() as u64;
        }
    }
    (n, steps, start.elapsed().as_secs_f64(), disagreements)
}

fn explore_rate(jobs: usize, time: Duration, seed: u64) -> (f64, u64) {
    let summary = explore::explore(
        &ExploreOptions {
            cases: u64::MAX,
            time: Some(time),
            seed,
            jobs,
            ..ExploreOptions::default()
        },
        &Progress::default(),
    );
    (summary.cases_per_second, summary.disagreement_count)
}

/// What the rest of the machine did during a measurement: CPU time used by all processes
/// (`/proc/stat`) minus this process's own (`getrusage`), as a share of the CPUs' time.
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

fn main() {
    let options = options();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let seed: Scenario = SEED.parse().unwrap();
    let random: Vec<Scenario> = (0..4096).map(|i| explore::case(1, i).current()).collect();
    let no_sleep: Vec<Scenario> = random
        .iter()
        .map(|s| {
            Scenario::normalize(
                s.steps()
                    .iter()
                    .filter(|step| !matches!(step.op, Op::Sleep(_)))
                    .cloned()
                    .collect(),
            )
        })
        .collect();

    let steps: usize = random.iter().map(|s| s.steps().len()).sum();
    let sleeps: Vec<Duration> = random
        .iter()
        .flat_map(|s| s.steps())
        .filter_map(|step| match step.op {
            Op::Sleep(d) => Some(d),
            _ => None,
        })
        .collect();
    let slept: Duration = sleeps.iter().sum();
    if let Some(only) = &options.only {
        // One measurement alone, for a profiler.
        let rate = match only.as_str() {
            "a" => {
                let (n, secs, _) = bare(options.time);
                n as f64 / secs
            }
            "b" => {
                let (n, _, secs, _) = harness(std::slice::from_ref(&seed), options.time);
                n as f64 / secs
            }
            "c" => {
                let (_, steps, secs, _) = harness(&random, options.time);
                steps as f64 / secs
            }
            "c-no-sleep" => {
                let (_, steps, secs, _) = harness(&no_sleep, options.time);
                steps as f64 / secs
            }
            "d1" => explore_rate(1, options.time, 0).0,
            "d" => explore_rate(cores, options.time, 0).0,
            other => panic!("--only a|b|c|c-no-sleep|d1|d, not {other}"),
        };
        println!("{only}: {rate:.0}/s");
        return;
    }
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut c = Vec::new();
    let mut c_no_sleep = Vec::new();
    let mut d1 = Vec::new();
    let mut dn = Vec::new();
    let (mut surprises, mut disagreements) = (0, 0);
    let mut others = Vec::new();
    for round in 0..options.rounds {
        let load = Load::start();
        let (n, secs, s) = bare(options.time);
        surprises += s;
        a.push(n as f64 / secs);
        let (n, _, secs, dis) = harness(std::slice::from_ref(&seed), options.time);
        disagreements += dis;
        b.push(n as f64 / secs);
        let (_, steps, secs, dis) = harness(&random, options.time);
        disagreements += dis;
        c.push(steps as f64 / secs);
        let (_, steps, secs, dis) = harness(&no_sleep, options.time);
        disagreements += dis;
        c_no_sleep.push(steps as f64 / secs);
        let (rate, dis) = explore_rate(1, options.time, round as u64);
        disagreements += dis;
        d1.push(rate);
        let (rate, dis) = explore_rate(cores, options.time, round as u64);
        disagreements += dis;
        dn.push(rate);
        others.push(load.others(cores));
        if !options.json {
            eprintln!(
                "round {}: a {:.0}/s  b {:.0}/s  c {:.0} steps/s  c(no sleep) {:.0} steps/s  d1 {:.0}/s  d{} {:.0}/s  (other processes: {:.0}% of the CPUs)",
                round + 1,
                a[round],
                b[round],
                c[round],
                c_no_sleep[round],
                d1[round],
                cores,
                dn[round],
                100.0 * others[round]
            );
        }
    }
    let (a, b, c, c_no_sleep, d1, dn) = (
        median(a),
        median(b),
        median(c),
        median(c_no_sleep),
        median(d1),
        median(dn),
    );
    let a_steps = a * SEED_STEPS;
    let ratios = (b / a, c / a_steps, c_no_sleep / a_steps, dn / d1);
    if options.json {
        println!(
            "{}",
            serde_json::json!({
                "cores": cores,
                "seconds_per_measurement": options.time.as_secs_f64(),
                "rounds": options.rounds,
                "a_bare_seed_per_second": a,
                "a_bare_steps_per_second": a_steps,
                "b_harness_seed_per_second": b,
                "c_harness_random_steps_per_second": c,
                "c_harness_random_no_sleep_steps_per_second": c_no_sleep,
                "d_explore_1_job_cases_per_second": d1,
                "d_explore_all_cores_cases_per_second": dn,
                "ratio_b_over_a": ratios.0,
                "ratio_c_over_a_per_step": ratios.1,
                "ratio_c_no_sleep_over_a_per_step": ratios.2,
                "ratio_d_all_cores_over_1_job": ratios.3,
                "random_steps_per_scenario": steps as f64 / random.len() as f64,
                "random_sleep_steps_fraction": sleeps.len() as f64 / steps as f64,
                "random_mean_sleep_us": slept.as_secs_f64() * 1e6 / sleeps.len().max(1) as f64,
                "other_processes_cpu_share_max": others.iter().copied().fold(0.0, f64::max),
                "bare_surprises": surprises,
                "disagreements": disagreements,
            })
        );
        return;
    }
    println!(
        "machine: {cores} cores; {} s per measurement, median of {} rounds",
        options.time.as_secs_f64(),
        options.rounds
    );
    println!("(a) bare syscalls, seed scenario     {a:>10.0} scenarios/s  ({a_steps:.0} steps/s)");
    println!("(b) harness, seed scenario           {b:>10.0} scenarios/s");
    println!("(c) harness, random scenarios        {c:>10.0} steps/s");
    println!("    the same without their sleeps    {c_no_sleep:>10.0} steps/s");
    println!("(d) explore, 1 job                   {d1:>10.0} cases/s");
    println!("    explore, {cores} jobs                  {dn:>10.0} cases/s");
    println!(
        "    random scenarios: {:.1} steps each, {:.1}% of them sleeps of {:.0} us on average",
        steps as f64 / random.len() as f64,
        100.0 * sleeps.len() as f64 / steps as f64,
        slept.as_secs_f64() * 1e6 / sleeps.len().max(1) as f64
    );
    println!("b/a               {:.3}   (target >= 0.6)", ratios.0);
    println!(
        "c/a per step      {:.3}   (without sleeps: {:.3})",
        ratios.1, ratios.2
    );
    println!(
        "d {cores} jobs / 1 job  {:.3}   (target >= 1.6 on two cores)",
        ratios.3
    );
    println!(
        "other processes used at most {:.0}% of the CPUs during a round",
        100.0 * others.iter().copied().fold(0.0, f64::max)
    );
    println!(
        "bare-loop runs whose last write was not EPIPE: {surprises}; harness disagreements: {disagreements}"
    );
}
