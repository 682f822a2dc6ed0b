//! `rstlab survey`: the checks `rstlab kernels` runs inside each kernel it boots (hidden: a
//! user runs `rstlab kernels`, or `explore` and `run` on the kernel they have).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use rstlab::kernels::survey::{self, SurveyOptions};

use super::Status;

#[derive(Debug, clap::Args)]
#[command(after_help = super::exit_statuses(&[0, 1, 2]))]
pub struct Args {
    /// Random cases per backend and network.
    #[arg(long, default_value_t = 20_000)]
    cases: u64,
    /// The exploration's seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// How the kernel runs, as the survey records it.
    #[arg(long, default_value = "host")]
    machine: String,
    /// Where to write the survey (JSON).
    #[arg(long)]
    out: PathBuf,
    /// A file to append one line to as each part starts.
    #[arg(long)]
    progress: Option<PathBuf>,
}

pub fn main(args: Args) -> anyhow::Result<Status> {
    super::enter_link_namespace();
    let options = SurveyOptions {
        cases: args.cases,
        seed: args.seed,
        jobs: args.jobs.clamp(1, rstlab::explore::MAX_JOBS),
        // Inside a VM nobody sends it a signal: `kernels` stops the VM itself.
        stop: Default::default(),
    };
    let mut log = match &args.progress {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?,
        ),
        None => None,
    };
    let mut result = survey::survey(&options, |line| match &mut log {
        Some(file) => {
            let _ = writeln!(file, "{line}");
        }
        None => eprintln!("{line}"),
    });
    result.machine = args.machine;
    survey::save(&result, &args.out).with_context(|| format!("writing {}", args.out.display()))?;
    let totals = result.totals();
    Ok(Status::of_agreement(
        totals.disagreements == 0 && totals.errors == 0,
    ))
}

/// `rstlab survey-silence` (hidden): the silent peer's part of a survey, run by `rstlab kernels
/// --timers` in the lane; the JSON on standard output.
#[derive(Debug, clap::Args)]
pub struct SilenceArgs {
    /// Random stories of a silent peer per backend.
    #[arg(long, default_value_t = 20_000)]
    cases: u64,
    /// Their seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn silence(args: SilenceArgs) -> anyhow::Result<Status> {
    if !rstlab::kernels::lane::guest::in_lane() {
        anyhow::bail!("the silent peer's part runs in the lane only: `rstlab kernels --timers`");
    }
    super::enter_link_namespace();
    let s = rstlab::kernels::silence::survey(args.cases, args.seed, |line| eprintln!("{line}"));
    let mut out = super::output::stdout();
    writeln!(out, "{}", serde_json::to_string(&s)?)?;
    let failed = s.scenarios.iter().any(|r| r.disagreement.is_some())
        || s.explorations
            .iter()
            .any(|e| e.disagreements > 0 || e.errors > 0);
    Ok(Status::of_agreement(!failed))
}
