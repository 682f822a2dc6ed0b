//! `rstlab decode FILE | - [--target oracle|oracle_vs_kernel|scenario_text] [--inline]`

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Context;
use clap::ValueEnum;

use rstlab::fuzz::{self, DecodeError, Target};

#[derive(Debug, clap::Args)]
#[command(after_help = super::exit_statuses(&[0, 2]))]
pub struct Args {
    /// A fuzz input: a crash artifact (`fuzz/artifacts/<target>/crash-…`), a corpus or
    /// regression file, or `-` for standard input.
    input: String,
    /// The target the input is for. By default, the target whose folder holds the file
    /// (`fuzz/artifacts/oracle/…` is an `oracle` input), else oracle_vs_kernel.
    #[arg(long, value_enum)]
    target: Option<TargetArg>,
    /// Print the steps on one line, separated by `;`, for a command line.
    #[arg(long)]
    inline: bool,
}

/// The `--target` flag: the names `cargo fuzz list` shows.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum TargetArg {
    /// Arbitrary bytes decoded to a scenario; the model alone.
    #[value(name = "oracle")]
    Oracle,
    /// Arbitrary bytes decoded to a scenario; real sockets against the oracle.
    #[value(name = "oracle_vs_kernel")]
    OracleVsKernel,
    /// Scenario text.
    #[value(name = "scenario_text")]
    ScenarioText,
}

impl From<TargetArg> for Target {
    fn from(t: TargetArg) -> Target {
        match t {
            TargetArg::Oracle => Target::Oracle,
            TargetArg::OracleVsKernel => Target::OracleVsKernel,
            TargetArg::ScenarioText => Target::ScenarioText,
        }
    }
}

/// The longest piece of an undecodable text input shown in the error.
const SHOWN: usize = 400;

pub fn main(args: Args) -> anyhow::Result<super::Status> {
    let data = if args.input == "-" {
        let mut data = Vec::new();
        std::io::stdin()
            .read_to_end(&mut data)
            .context("reading the fuzz input from standard input")?;
        data
    } else {
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input))?
    };
    let target = args
        .target
        .map(Target::from)
        .or_else(|| Target::of_path(Path::new(&args.input)))
        .unwrap_or(Target::OracleVsKernel);
    let scenario = fuzz::decode(target, &data).map_err(|e| match e {
        DecodeError::Text(_) => {
            let text = String::from_utf8_lossy(&data);
            let shown: String = text.chars().take(SHOWN).collect();
            anyhow::anyhow!("{}: {e}\nthe input, as text: {shown:?}", args.input)
        }
        DecodeError::Arbitrary(_) => anyhow::anyhow!("{}: {e}", args.input),
    })?;
    let mut out = super::output::stdout();
    if args.inline {
        writeln!(out, "{}", scenario.to_inline())?;
    } else {
        writeln!(
            out,
            "# `rstlab decode {}`: {} bytes of {target} input, {} steps",
            args.input,
            data.len(),
            scenario.steps().len()
        )?;
        write!(out, "{scenario}")?;
    }
    Ok(super::Status::Agreement)
}
