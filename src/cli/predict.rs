//! `rstlab predict SCENARIO [--kernel V]`: the oracle's prediction alone, for any kernel
//! profile: what Linux 5.10 would answer, asked on a machine that runs another kernel. Nothing
//! runs; `rstlab run` checks a prediction against the kernel here.

use std::io::Write;

use rstlab::oracle;
use rstlab::oracle::kernel::Kernel;
use rstlab::run::Net;

use super::output::stdout;
use super::{BackendArg, NetArg, Status};

#[derive(Debug, clap::Args)]
#[command(after_help = super::exit_statuses(&[0, 2]))]
pub struct Args {
    /// A scenario file, `-` for standard input, or the steps themselves separated by `;`.
    scenario: String,
    /// The kernel whose behaviour to predict: a version (`5.10`, `6.1.192`) or `newest`
    /// [default: the running kernel].
    #[arg(long, value_parser = parse_kernel)]
    kernel: Option<Kernel>,
    /// The socket API.
    #[arg(long, value_enum, default_value_t)]
    backend: BackendArg,
    /// The network; a scenario with `link` steps is on the link whatever this says.
    #[arg(long, value_enum)]
    net: Option<NetArg>,
}

/// A kernel the oracle has been checked on: none older than the oldest series `rstlab
/// kernels` boots, since below it the profile is a guess nothing has tested.
fn parse_kernel(text: &str) -> Result<Kernel, String> {
    let kernel: Kernel = text.parse().map_err(|e| format!("{e}"))?;
    let series = rstlab::kernels::vm::SERIES;
    let oldest = series
        .iter()
        .filter_map(|s| s.name.parse::<Kernel>().ok())
        .map(|k| k.version)
        .min();
    if oldest.is_some_and(|oldest| kernel.version < oldest) {
        let names: Vec<&str> = series.iter().map(|s| s.name).collect();
        return Err(format!(
            "{text} is older than any kernel the oracle is checked on ({}, and this machine's): \
             its prediction would be a guess",
            names.join(", ")
        ));
    }
    Ok(kernel)
}

pub fn main(args: Args) -> anyhow::Result<Status> {
    let (_, scenario) = super::run::load(&args.scenario)?;
    let kernel = args.kernel.unwrap_or_else(Kernel::running);
    let net = match args.net.map(Net::from) {
        Some(n) if n.can_run(&scenario) => n,
        _ => Net::for_scenario(&scenario),
    };
    // As `run` would run it: in the kernel's own time (the lane) where the kernel's timers
    // decide.
    let settings = |tcp| oracle::Settings {
        kernel,
        backend: args.backend.into(),
        net: Some(net),
        tcp,
    };
    let lab = oracle::predict(&scenario, &settings(oracle::TcpSettings::Lab));
    let timed = lab
        .beyond
        .as_ref()
        .is_some_and(|b| b.reason.needs_kernel_time());
    let p = if timed {
        oracle::predict(&scenario, &settings(oracle::TcpSettings::KernelTime))
    } else {
        lab
    };
    let mut rows = Vec::new();
    for (i, (step, predicted)) in scenario.steps().iter().zip(&p.steps).enumerate() {
        let rules: Vec<&str> = predicted.rules.iter().map(|r| r.id()).collect();
        rows.push(vec![
            (i + 1).to_string(),
            step.to_string(),
            predicted.outcome.to_string(),
            rules.join(", "),
        ]);
    }
    let mut out = stdout();
    let lacks: Vec<String> = kernel
        .lacks()
        .map(|c| format!("{} ({}.{})", c.commit, c.since.major, c.since.minor))
        .collect();
    let differs = if lacks.is_empty() {
        "every change the oracle knows".to_string()
    } else {
        format!("without {}", lacks.join(", "))
    };
    let backend = rstlab::run::Backend::from(args.backend);
    writeln!(
        out,
        "predicted for Linux {kernel} ({differs}), {backend} backend, {net}{}; nothing ran\n",
        if timed {
            ", in the kernel's own time at its default settings (the lane: `run --kernel`)"
        } else {
            ""
        }
    )?;
    write!(
        out,
        "{}",
        rstlab::table::render(&["#", "step", "predicted", "rule"], &rows)
    )?;
    if let Some(beyond) = &p.beyond {
        writeln!(out, "\n{beyond}")?;
    }
    Ok(Status::Agreement)
}
