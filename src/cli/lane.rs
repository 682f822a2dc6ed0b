//! The lane on the command line: [`run_in_lane`] runs one rstlab command line inside a Debian
//! kernel in QEMU's virtual time (for `run --kernel SERIES` and `lane-probe --kernel SERIES`),
//! and the hidden commands the guest runs, `lane-guest` (the batch) and `lane-probe` (the timer
//! experiments the scenario language cannot state yet). The logic is in
//! [`rstlab::kernels::lane`].

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use rstlab::kernels::lane::{self, Batch, Job, JobResult, LaneError, LaneOptions, Progress};
use rstlab::kernels::vm;

use super::Status;
use super::output::stdout;
use super::signals::{Signal, Stop};

/// What a command run in the lane did, and where.
pub struct Ran {
    /// The job's result in the guest.
    pub result: JobResult,
    /// The batch around it.
    pub batch: Batch,
    /// The series, as the user named it.
    pub series: &'static str,
}

impl Ran {
    /// The line on standard error that says where it ran and how long it took.
    pub fn summary(&self, command: &str) -> String {
        format!(
            "rstlab {command}: ran in Debian's {} kernel ({}) in QEMU's virtual time: {:.6} s of \
             guest time, {:.1} s real ({:.1} s of it booting)",
            self.series,
            self.batch.release,
            self.result.guest_seconds(),
            self.batch.real.as_secs_f64(),
            self.batch.boot_real.as_secs_f64(),
        )
    }

    /// Prints what the command printed in the guest, its standard output and error as they
    /// were, then [`Ran::summary`]; the status to exit with. A guest's error (status 2) becomes
    /// this command's error, with the same message.
    pub fn replay(&self, command: &str) -> anyhow::Result<Status> {
        let status = match self.result.status {
            0 => Status::Agreement,
            1 => Status::OracleDisagrees,
            3 => Status::ExpectationContradicted,
            4 => Status::SimulatorDiverges,
            2 => {
                let message = self.result.stderr.trim();
                let message = message.strip_prefix("rstlab: ").unwrap_or(message);
                eprintln!("{}", self.summary(command));
                bail!("{message}");
            }
            other => {
                eprint!("{}", self.result.stderr);
                bail!(
                    "rstlab {command} ended with status {other} in the VM ({})",
                    self.batch.release
                );
            }
        };
        let mut out = stdout();
        out.write_all(self.result.stdout.as_bytes())?;
        out.flush()?;
        eprint!("{}", self.result.stderr);
        eprintln!("{}", self.summary(command));
        Ok(status)
    }
}

/// Runs `job` (one rstlab command line) in `series`' kernel in the lane, fetching the kernel
/// first when it is not in the cache, with progress on standard error; `deadline` bounds the
/// boot and the job. A signal stops the VM and comes back as `Ok(Err(signal))`.
pub fn run_in_lane(
    command: &str,
    series: &str,
    job: Job,
    deadline: Duration,
) -> anyhow::Result<Result<Ran, Signal>> {
    let target = rstlab::kernels::targets(&[series.to_string()])?;
    let series = match target[..] {
        [rstlab::kernels::Target::Vm(s)] => s,
        _ => bail!("--kernel host runs here, not in the lane"),
    };
    super::kernels::require_tools(&lane::missing_tools(), "running in another kernel")?;
    // Before the first line: whoever sees it may send a signal.
    let stop = Stop::new()?;
    let cache = super::kernels::default_cache()?;
    let kernel = match vm::cached(series, &cache) {
        Some(kernel) => kernel,
        None => {
            eprintln!(
                "rstlab {command}: fetching Debian's {} kernel into {}",
                series.name,
                cache.display()
            );
            vm::fetch(&[series], &cache)?.remove(0)
        }
    };
    let options = LaneOptions {
        exe: std::env::current_exe().context("finding this binary to run inside the VM")?,
        deadline,
        cpus: 1,
    };
    let result = lane::run(
        &kernel,
        std::slice::from_ref(&job),
        &options,
        stop.flag(),
        |p| match p {
            Progress::Booting { package } => {
                eprintln!("rstlab {command}: booting {package} in QEMU (emulated, virtual time)")
            }
            Progress::Booted { real, guest } => eprintln!(
                "rstlab {command}: booted in {:.1} s ({:.2} s of guest time); running",
                real.as_secs_f64(),
                guest.as_secs_f64()
            ),
            Progress::Done { .. } => {}
        },
    );
    match result {
        Ok(mut batch) => {
            let result = batch.results.remove(0);
            Ok(Ok(Ran {
                result,
                batch,
                series: series.name,
            }))
        }
        Err(LaneError::Interrupted) => Ok(Err(stop.signal().unwrap_or(Signal::Int))),
        Err(e) => Err(e.into()),
    }
}

/// The `--kernel` flag every command that runs scenarios shares.
#[derive(Debug, clap::Args)]
pub struct KernelArg {
    /// The kernel to run on: `host` (this machine's), or Debian's 5.10, 6.1, 6.12 or 7.3 booted
    /// in QEMU on its virtual clock (the lane: fetched as `rstlab kernels` does; minutes of kernel
    /// time pass in seconds, and two runs give the same results, times to the microsecond)
    /// [default: host; for `run`, a scenario that needs the kernel's own timers goes to the
    /// lane's 6.12].
    #[arg(long, value_name = "SERIES")]
    pub kernel: Option<String>,
}

/// The kernel a scenario that needs the kernel's own timers runs on when no `--kernel` is given.
pub const DEFAULT_LANE_KERNEL: &str = "6.12";

impl KernelArg {
    /// Whether the command runs here rather than in the lane.
    pub fn is_host(&self) -> bool {
        self.kernel.as_deref().is_none_or(|k| k == "host")
    }

    /// The series asked for (`host` when none was).
    pub fn series(&self) -> &str {
        self.kernel.as_deref().unwrap_or("host")
    }
}

/// Runs this very command line in the lane, `--kernel` left out, and prints what it printed:
/// for commands whose arguments name no file of the host (`explore`, `seed`).
pub fn forward(command: &str, kernel: &KernelArg, deadline: Duration) -> anyhow::Result<Status> {
    let mut args = Vec::new();
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        if arg == "--kernel" {
            given.next();
        } else if !arg.starts_with("--kernel=") {
            args.push(arg);
        }
    }
    let job = Job {
        args,
        files: Vec::new(),
    };
    match run_in_lane(command, kernel.series(), job, deadline)? {
        Ok(ran) => ran.replay(command),
        Err(signal) => {
            eprintln!(
                "rstlab {command}: interrupted by {}: the VM was stopped",
                signal.name()
            );
            Ok(Status::Interrupted(signal))
        }
    }
}

/// `rstlab lane-guest MANIFEST` (hidden): the batch inside the lane's VM.
#[derive(Debug, clap::Args)]
pub struct GuestArgs {
    /// The batch's manifest: a JSON list of command lines.
    manifest: PathBuf,
}

pub fn guest(args: GuestArgs) -> anyhow::Result<Status> {
    let exe = std::env::current_exe().context("finding this binary")?;
    lane::guest::run_batch(
        &args.manifest,
        &exe,
        lane::guest::Drained(std::io::stdout()),
    )
    .context("running the batch")?;
    Ok(Status::Agreement)
}

/// `rstlab lane-probe EXPERIMENT` (hidden): a timer experiment the scenario language cannot
/// state yet, run in the lane (`--kernel SERIES`), its result as JSON.
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// The experiment: `vanished-peer` (lo goes down after one exchange; one write; poll until
    /// POLLERR; SO_ERROR; one more write), `cut-peer` (the same across the relay's link, every
    /// segment lost from the cut on), `user-timeout` (`cut-peer` with `TCP_USER_TIMEOUT`),
    /// `keepalive` (keepalive on, the cut, no data; poll until POLLERR; a read).
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(lane::probe::EXPERIMENTS))]
    experiment: String,
    /// The kernel to run it in, in the lane; it refuses to run anywhere else (it takes `lo`
    /// down).
    #[arg(long)]
    kernel: Option<String>,
    /// How much of the kernel's time it waits for POLLERR at most.
    #[arg(long, default_value = "1h", value_parser = super::durations::positive)]
    limit: Duration,
    /// `TCP_USER_TIMEOUT` for `cut-peer`, `user-timeout` (2 s without it) and `keepalive`.
    #[arg(long, value_parser = super::durations::positive)]
    user_timeout: Option<Duration>,
    /// Keepalive's `IDLE,INTERVAL,COUNT` for `keepalive` (`10s,2s,3` without it).
    #[arg(long)]
    keepalive: Option<lane::probe::Keepalive>,
}

pub fn probe(args: ProbeArgs) -> anyhow::Result<Status> {
    match args.kernel.as_deref() {
        Some(series) if series != "host" => {
            let mut job_args: Vec<String> = vec![
                "lane-probe".into(),
                args.experiment.clone(),
                "--limit".into(),
                format!("{}s", args.limit.as_secs()),
            ];
            if let Some(d) = args.user_timeout {
                job_args.extend(["--user-timeout".into(), format!("{}ms", d.as_millis())]);
            }
            if let Some(k) = args.keepalive {
                job_args.extend([
                    "--keepalive".into(),
                    format!("{},{},{}", k.idle_s, k.interval_s, k.count),
                ]);
            }
            let job = Job {
                args: job_args,
                files: Vec::new(),
            };
            match run_in_lane("lane-probe", series, job, Duration::from_secs(30 * 60))? {
                Ok(ran) => ran.replay("lane-probe"),
                Err(signal) => {
                    eprintln!("rstlab lane-probe: interrupted by {}", signal.name());
                    Ok(Status::Interrupted(signal))
                }
            }
        }
        _ => {
            if std::env::var_os(lane::guest::IN_LANE).is_none() {
                bail!(
                    "lane-probe {} takes lo down: it runs only in the lane (give --kernel 6.12)",
                    args.experiment
                );
            }
            let params = lane::probe::Params {
                user_timeout: args.user_timeout,
                keepalive: args.keepalive,
            };
            let report = lane::probe::run(&args.experiment, args.limit, params)?;
            writeln!(stdout(), "{report}")?;
            Ok(Status::Agreement)
        }
    }
}
