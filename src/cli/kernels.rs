//! `rstlab kernels [5.10] [6.1] [6.12] [7.3] [host]`: the survey on other kernels, in VMs, and on
//! this one; a summary table at the end. The logic is in [`rstlab::kernels::vm`] and
//! [`rstlab::kernels::survey`].

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use rstlab::kernels::Target;
use rstlab::kernels::survey::{self, Survey, SurveyOptions};
use rstlab::kernels::vm::{self, Acceleration, BootOptions};

use super::Status;
use super::output::stdout;
use super::signals::{Signal, Stop};

#[derive(Debug, clap::Args)]
#[command(after_help = super::exit_statuses(&[0, 1, 2, 130]))]
pub struct Args {
    /// The kernels: Debian's 5.10, 6.1, 6.12 and 7.3 (fetched and booted in a VM), and `host`
    /// (this machine's, no VM) [default: all five].
    #[arg(value_name = "KERNEL")]
    kernels: Vec<String>,
    /// Random cases per backend and network on each kernel.
    #[arg(long, default_value_t = 20_000, value_parser = super::counts::cases, allow_hyphen_values = true)]
    cases: u64,
    /// The seed of the random cases (the same on every kernel) [default: random, printed].
    #[arg(long)]
    seed: Option<u64>,
    /// Where the kernel packages are kept [default: $XDG_CACHE_HOME/rstlab, or ~/.cache/rstlab].
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Where each kernel's survey is written, as <major.minor>.json; `--out docs/kernels`
    /// refreshes the evidence of the rules book's "Kernels" chapter [default: <cache>/results].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Never use KVM, even where /dev/kvm opens (KVM is tried first, and emulation used where
    /// it fails).
    #[arg(long)]
    emulate: bool,
    /// Also the silent peer's part, in each kernel's own time (booted again in the lane): the
    /// scenarios that need the kernel's timers, --cases random stories of a silent peer per
    /// backend, and when the first error shows (the host's clock is real: not there); the lane
    /// gets its own --timeout.
    #[arg(long)]
    timers: bool,
    /// How long one kernel may take, boot included.
    #[arg(long, default_value = "60m", value_parser = super::durations::positive, allow_hyphen_values = true)]
    timeout: Duration,
}

/// Where kernel packages are kept unless `--cache` says otherwise.
pub(super) fn default_cache() -> anyhow::Result<PathBuf> {
    vm::default_cache().context("neither XDG_CACHE_HOME nor HOME is set: give --cache")
}

pub fn main(args: Args) -> anyhow::Result<Status> {
    let targets = rstlab::kernels::targets(&args.kernels)?;
    let names: Vec<&str> = targets.iter().map(|t| t.name()).collect();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let cache = match &args.cache {
        Some(c) => c.clone(),
        None => default_cache()?,
    };
    let out = args.out.clone().unwrap_or_else(|| cache.join("results"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let vms: Vec<&'static vm::Series> = targets
        .iter()
        .filter_map(|t| match t {
            Target::Vm(s) => Some(*s),
            Target::Host => None,
        })
        .collect();
    if !vms.is_empty() {
        require_tools(&vm::missing_tools(), "booting other kernels")?;
    }
    // Before the first line: whoever sees it may send a signal.
    let stop = Stop::new()?;
    let jobs = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    eprintln!(
        "checking {} with {} random cases per backend and network, seed {seed} (`--seed {seed}` repeats it)",
        names.join(", "),
        args.cases
    );
    let mut done: Vec<(String, Survey, f64)> = Vec::new();
    let mut failed: Vec<(String, String)> = Vec::new();
    // This machine's kernel first, in this process: no VM starts while its scenarios run.
    if targets.contains(&Target::Host) {
        super::enter_link_namespace();
        let start = Instant::now();
        eprintln!("host: running the survey on this machine's kernel");
        let options = SurveyOptions {
            cases: args.cases,
            seed,
            jobs,
            stop: Arc::clone(stop.flag()),
        };
        let s = survey::survey(&options, |line| eprintln!("host: {line}"));
        let seconds = start.elapsed().as_secs_f64();
        if let Some(signal) = stop.signal() {
            // What ran is shown, but a survey cut short is no evidence to keep.
            done.push(("host (interrupted, not saved)".to_string(), s, seconds));
            return interrupted(signal, &done, &failed);
        }
        save(&out, &s)?;
        if let Some(why) = s.first_error() {
            eprintln!("host: {why}");
        }
        done.push(("host".to_string(), s, seconds));
    }
    if !vms.is_empty() {
        eprintln!("fetching Debian's kernel packages into {}", cache.display());
        let fetched = vm::fetch(&vms, &cache)?;
        let exe = std::env::current_exe().context("finding this binary to run inside the VMs")?;
        let mut acceleration = if args.emulate {
            Acceleration::Emulated
        } else {
            Acceleration::available()
        };
        let options = BootOptions {
            exe,
            cases: args.cases,
            seed,
            cpus: jobs.min(2),
            deadline: args.timeout,
        };
        for kernel in &fetched {
            let name = kernel.series.name;
            let work = cache.join("vm").join(name);
            eprintln!(
                "{name}: booting {} ({})",
                kernel.package,
                acceleration.machine()
            );
            let result = vm::boot_or_emulate(
                kernel,
                &mut acceleration,
                &options,
                &work,
                stop.flag(),
                |line| eprintln!("{name}: {line}"),
                |log| {
                    eprintln!(
                        "{name}: KVM failed on this machine (see {}); using emulation from now on",
                        log.display()
                    )
                },
            );
            let result = match result {
                Ok(mut booted) if args.timers => {
                    let lane =
                        silence_in_lane(kernel, args.cases, seed, args.timeout, stop.flag(), name);
                    match lane {
                        Ok(silence) => {
                            booted.seconds += silence.real_seconds;
                            booted.survey.silence = Some(silence);
                        }
                        // The VM's survey stands: kept, with the lane's failure as one part
                        // that could not run (an error in its totals).
                        Err(e) => {
                            eprintln!("{name}: the silent peer's part: {e}");
                            booted.survey.scenarios.push(survey::ScenarioRun::not_run(
                                "the silent peer's part (the lane)".to_string(),
                                &e.to_string(),
                            ));
                            if matches!(e, vm::VmError::Interrupted) {
                                save(&out, &booted.survey)?;
                                return interrupted(
                                    stop.signal().unwrap_or(Signal::Int),
                                    &done,
                                    &failed,
                                );
                            }
                        }
                    }
                    Ok(booted)
                }
                other => other,
            };
            match result {
                Ok(booted) => {
                    save(&out, &booted.survey)?;
                    if let Some(why) = booted.survey.first_error() {
                        eprintln!("{name}: {why}");
                    }
                    done.push((name.to_string(), booted.survey, booted.seconds));
                }
                Err(vm::VmError::Interrupted) => {
                    return interrupted(stop.signal().unwrap_or(Signal::Int), &done, &failed);
                }
                Err(e) => {
                    eprintln!("{name}: {e}");
                    failed.push((name.to_string(), e.to_string()));
                }
            }
        }
    }
    print_summary(&done, &failed)?;
    eprintln!("surveys written to {}", out.display());
    let disagreements = done.iter().any(|(_, s, _)| s.totals().disagreements > 0);
    if disagreements {
        return Ok(Status::OracleDisagrees);
    }
    let incomplete: Vec<String> = failed
        .iter()
        .map(|(name, why)| format!("{name}: {why}"))
        .chain(done.iter().filter_map(|(name, s, _)| {
            let why = s.first_error()?;
            Some(format!("{name}: {why}"))
        }))
        .collect();
    if let Some(first) = incomplete.first() {
        bail!(
            "{} kernel(s) could not be checked completely; the first, {first}",
            incomplete.len()
        );
    }
    Ok(Status::Agreement)
}

/// Boots `kernel` in the lane and runs the silent peer's part of its survey there
/// ([`rstlab::kernels::silence`]).
fn silence_in_lane(
    kernel: &vm::Fetched,
    cases: u64,
    seed: u64,
    deadline: Duration,
    stop: &Arc<std::sync::atomic::AtomicBool>,
    name: &str,
) -> Result<rstlab::kernels::silence::Silence, vm::VmError> {
    use rstlab::kernels::lane::{self, Job, LaneOptions, Progress};
    eprintln!(
        "{name}: booting {} in the lane for the silent peer's part",
        kernel.package
    );
    let job = Job {
        args: vec![
            "survey-silence".into(),
            "--cases".into(),
            cases.to_string(),
            "--seed".into(),
            seed.to_string(),
        ],
        files: Vec::new(),
    };
    let options = LaneOptions {
        exe: std::env::current_exe()
            .map_err(|e| vm::VmError::Io("finding this binary".into(), e))?,
        deadline,
        cpus: 1,
    };
    let batch = lane::run(kernel, &[job], &options, stop, |p| {
        if let Progress::Booted { real, .. } = p {
            eprintln!("{name}: booted in the lane in {:.1} s", real.as_secs_f64());
        }
    })
    .map_err(|e| match e {
        lane::LaneError::Interrupted => vm::VmError::Interrupted,
        e => vm::VmError::Io(format!("the lane: {e}"), std::io::Error::other("")),
    })?;
    let result = batch
        .results
        .first()
        .ok_or_else(|| vm::VmError::Io("the lane ran no job".into(), std::io::Error::other("")))?;
    let mut silence: rstlab::kernels::silence::Silence = serde_json::from_str(&result.stdout)
        .map_err(|e| {
            vm::VmError::Io(
                format!("reading the silent peer's part: {}", result.stderr.trim()),
                std::io::Error::other(e),
            )
        })?;
    silence.real_seconds = batch.real.as_secs_f64();
    Ok(silence)
}

/// The summary of what ran before `signal`, and its status.
fn interrupted(
    signal: Signal,
    done: &[(String, Survey, f64)],
    failed: &[(String, String)],
) -> anyhow::Result<Status> {
    eprintln!("interrupted by {}", signal.name());
    print_summary(done, failed)?;
    Ok(Status::Interrupted(signal))
}

fn save(out: &std::path::Path, s: &Survey) -> anyhow::Result<()> {
    let path = out.join(format!("{}.json", survey::series_of(&s.version)));
    survey::save(s, &path).with_context(|| format!("writing {}", path.display()))
}

fn print_summary(
    done: &[(String, Survey, f64)],
    failed: &[(String, String)],
) -> anyhow::Result<()> {
    let mut rows: Vec<Vec<String>> = done
        .iter()
        .map(|(name, s, seconds)| {
            let t = s.totals();
            vec![
                name.clone(),
                s.version.clone(),
                s.machine.clone(),
                t.random.to_string(),
                t.agreements.to_string(),
                t.disagreements.to_string(),
                t.errors.to_string(),
                format!("{seconds:.0} s"),
            ]
        })
        .collect();
    for (name, why) in failed {
        rows.push(vec![
            name.clone(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            format!("failed: {why}"),
            "-".into(),
        ]);
    }
    let table = rstlab::table::render(
        &[
            "kernel",
            "version",
            "machine",
            "random cases",
            "agreements",
            "disagreements",
            "errors",
            "time",
        ],
        &rows,
    );
    write!(stdout(), "\n{table}")?;
    Ok(())
}

/// Refuses, naming each missing tool with how to install it, when `missing` is not empty.
pub(super) fn require_tools(
    missing: &[(&'static str, &'static str)],
    doing: &str,
) -> anyhow::Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing
        .iter()
        .map(|(t, how)| format!("{t} ({how})"))
        .collect();
    bail!("{doing} needs: {}", list.join(", "))
}
