//! `rstlab kernels [5.10] [6.1] [6.12] [host]`: the survey on other kernels, in VMs, and on
//! this one; a summary table at the end. The logic is in [`rstlab::kernels::vm`] and
//! [`rstlab::kernels::survey`].

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use rstlab::kernels::survey::{self, Survey, SurveyOptions};
use rstlab::kernels::vm::{self, Acceleration, BootOptions, SERIES};

use super::Status;
use super::output::stdout;

#[derive(Debug, clap::Args)]
#[command(after_help = super::exit_statuses(&[0, 1, 2, 130]))]
pub struct Args {
    /// The kernels: Debian's 5.10, 6.1 and 6.12 (fetched and booted in a VM), and `host` (this
    /// machine's, no VM) [default: all four].
    #[arg(value_name = "KERNEL")]
    kernels: Vec<String>,
    /// Random cases per backend and network on each kernel.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
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
    /// How long one kernel may take, boot included.
    #[arg(long, default_value = "60m", value_parser = super::durations::positive, allow_hyphen_values = true)]
    timeout: Duration,
}

/// One kernel to check.
enum Target {
    Host,
    Vm(&'static vm::Series),
}

fn default_cache() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("rstlab"));
    }
    let home =
        std::env::var_os("HOME").context("neither XDG_CACHE_HOME nor HOME is set: give --cache")?;
    Ok(PathBuf::from(home).join(".cache").join("rstlab"))
}

pub fn main(args: Args) -> anyhow::Result<Status> {
    let mut targets = Vec::new();
    let names: Vec<String> = if args.kernels.is_empty() {
        SERIES
            .iter()
            .map(|s| s.name.to_string())
            .chain(["host".to_string()])
            .collect()
    } else {
        args.kernels.clone()
    };
    for name in &names {
        match (name.as_str(), vm::series(name)) {
            ("host", _) => targets.push(Target::Host),
            (_, Some(s)) => targets.push(Target::Vm(s)),
            _ => {
                let known: Vec<&str> = SERIES.iter().map(|s| s.name).collect();
                bail!("unknown kernel {name:?}: give {} or host", known.join(", "));
            }
        }
    }
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
        let missing = vm::missing_tools();
        if !missing.is_empty() {
            let list: Vec<String> = missing
                .iter()
                .map(|(t, how)| format!("{t} ({how})"))
                .collect();
            bail!("booting other kernels needs: {}", list.join(", "));
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing the Ctrl-C handler")?;
    }
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
    if targets.iter().any(|t| matches!(t, Target::Host)) {
        super::enter_link_namespace();
        let start = Instant::now();
        eprintln!("host: running the survey on this machine's kernel");
        let options = SurveyOptions {
            cases: args.cases,
            seed,
            jobs,
        };
        let s = survey::survey(&options, |line| eprintln!("host: {line}"));
        let seconds = start.elapsed().as_secs_f64();
        save(&out, &s)?;
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
            let result = loop {
                eprintln!(
                    "{name}: booting {} ({})",
                    kernel.package,
                    acceleration.machine()
                );
                let result = vm::boot(kernel, acceleration, &options, &work, &stop, |line| {
                    eprintln!("{name}: {line}")
                });
                if result.is_err() && acceleration == Acceleration::Kvm && vm::kvm_failed(&work) {
                    eprintln!(
                        "{name}: KVM failed on this machine (see {}); using emulation from now on",
                        work.join("console.log").display()
                    );
                    acceleration = Acceleration::Emulated;
                    continue;
                }
                break result;
            };
            match result {
                Ok(booted) => {
                    save(&out, &booted.survey)?;
                    done.push((name.to_string(), booted.survey, booted.seconds));
                }
                Err(vm::VmError::Interrupted) => {
                    print_summary(&done, &failed)?;
                    return Ok(Status::Interrupted);
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
    if !failed.is_empty() || done.iter().any(|(_, s, _)| s.totals().errors > 0) {
        bail!(
            "{} kernel(s) could not be checked completely",
            failed.len()
                + done
                    .iter()
                    .filter(|(_, s, _)| s.totals().errors > 0)
                    .count()
        );
    }
    Ok(Status::Agreement)
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
