//! `rstlab merge SHARD.json…`: the summaries of `explore --shard K/N --json` added up into the
//! summary of the whole exploration (one JSON object, the shape of `explore --json`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use rstlab::explore::Summary;
use rstlab::explore::merge;

use super::{Status, exit_statuses, output};

#[derive(Debug, clap::Args)]
#[command(after_help = exit_statuses(&[0, 1, 2]))]
pub struct Args {
    /// The shards' `explore --json` outputs, every shard 1/N to N/N once, in any order.
    #[arg(required = true, value_name = "SHARD.json")]
    parts: Vec<PathBuf>,
}

pub fn main(args: Args) -> anyhow::Result<Status> {
    let mut parts = Vec::new();
    for path in &args.parts {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let part: Summary = serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not the JSON summary of `rstlab explore --json`",
                path.display()
            )
        })?;
        parts.push(part);
    }
    let merged = merge::merge(&parts).map_err(|e| {
        let named: Vec<String> = args
            .parts
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{} = {}", i + 1, p.display()))
            .collect();
        anyhow::anyhow!("{e} (summaries: {})", named.join(", "))
    })?;
    let mut out = output::stdout();
    writeln!(out, "{}", serde_json::to_string_pretty(&merged)?)?;
    Ok(if merged.disagreement_count > 0 {
        Status::OracleDisagrees
    } else {
        Status::Agreement
    })
}
