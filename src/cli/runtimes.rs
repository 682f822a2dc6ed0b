//! `rstlab runtimes [--only API/SITUATION]... [--out FILE]`: what each runtime prints in the
//! book's situations, measured against the peer (the one `rstlab serve` runs), for the chapter
//! "Your runtime's words".
//!
//! Exit status 0 when every cell asked for was measured (a runtime that is not installed is
//! said so, and its cells left out), 2 when the peer or a client failed, or the results could
//! not be written.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};

use rstlab::runtimes::{self, APIS, Api, Results, SITUATIONS, Situation, Version};

use super::{Status, exit_statuses};

#[derive(Debug, clap::Args)]
#[command(after_help = exit_statuses(&[0, 2]))]
pub struct Args {
    /// One cell, as the chapter names it (`python-socket/write-after-close`): its client's
    /// lines and the peer's report. Repeatable; without it, every client in every situation.
    #[arg(long, value_name = "API/SITUATION")]
    only: Vec<String>,
    /// Write the results as JSON (the chapter's `docs/runtimes/results.json`), all or nothing.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The repository: the clients are `examples/runtimes/` there, the server's answer
    /// `examples/serve/response.http`.
    #[arg(long, value_name = "DIR", default_value = ".")]
    repo: PathBuf,
}

pub fn main(args: Args) -> anyhow::Result<Status> {
    let cells: Vec<(&Api, &Situation)> = if args.only.is_empty() {
        APIS.iter()
            .flat_map(|a| SITUATIONS.iter().map(move |s| (a, s)))
            .collect()
    } else {
        args.only
            .iter()
            .map(|o| cell_named(o))
            .collect::<anyhow::Result<_>>()?
    };
    if let Some(out) = &args.out {
        super::paths::check_output("--out", out, super::paths::Kind::File)?;
    }
    let respond_path = args.repo.join("examples/serve/response.http");
    let respond = std::fs::read(&respond_path)
        .with_context(|| format!("reading {} (--repo)", respond_path.display()))?;
    let mut versions: Vec<Version> = Vec::new();
    let mut measured = Vec::new();
    let mut out = super::output::stdout();
    let single = !args.only.is_empty();
    for (api, situation) in cells {
        if !versions.iter().any(|v| v.api == api.id) {
            let version = runtimes::version(api, &args.repo);
            if version.is_none() {
                eprintln!(
                    "SKIPPED {}: not installed here ({:?} does not run)",
                    api.id,
                    api.version.join(" ")
                );
            }
            versions.push(Version {
                api: api.id.to_string(),
                version,
            });
        }
        if versions.last().is_some_and(|v| v.version.is_none()) {
            continue;
        }
        eprintln!("rstlab runtimes: {}", runtimes::command(api, situation));
        let m = runtimes::measure(api, situation, &args.repo, &respond)
            .with_context(|| format!("measuring {}/{}", api.id, situation.id))?;
        if single {
            let plan = api.plan(situation);
            writeln!(
                out,
                "{} in \"{}\": {} {} {}",
                api.id,
                situation.title,
                api.command.join(" "),
                shell_quoted(plan.steps),
                m.report.addr
            )?;
            for line in &m.cell.printed {
                writeln!(out, "  {line}")?;
            }
            writeln!(out, "decisive: {} ({:?})", m.cell.decisive, m.cell.said)?;
            let rules: Vec<&str> = situation
                .rules_for(m.cell.said)
                .iter()
                .map(|r| r.id())
                .collect();
            writeln!(
                out,
                "rules: {}\n\nthe peer's report:\n{}",
                rules.join(", "),
                m.report
            )?;
        } else {
            writeln!(
                out,
                "{:<20} {:<24} {}",
                api.id, situation.id, m.cell.decisive
            )?;
        }
        measured.push(m.cell);
    }
    if measured.is_empty() && !single {
        bail!("no runtime could be measured");
    }
    if let Some(path) = &args.out {
        let results = Results::now(versions, measured);
        let text = serde_json::to_string_pretty(&results)? + "\n";
        let temp = path.with_extension("json.rstlab-tmp");
        std::fs::write(&temp, text).with_context(|| format!("writing {}", temp.display()))?;
        std::fs::rename(&temp, path).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(Status::Agreement)
}

/// The client and situation of `API/SITUATION`.
fn cell_named(name: &str) -> anyhow::Result<(&'static Api, &'static Situation)> {
    let Some((api, situation)) = name.split_once('/') else {
        bail!("--only {name}: give API/SITUATION, such as python-socket/write-after-close");
    };
    let apis: Vec<&str> = APIS.iter().map(|a| a.id).collect();
    let situations: Vec<&str> = SITUATIONS.iter().map(|s| s.id).collect();
    let api = Api::by_id(api).with_context(|| {
        format!(
            "--only {name}: no client {api} (one of {})",
            apis.join(", ")
        )
    })?;
    let situation = Situation::by_id(situation).with_context(|| {
        format!(
            "--only {name}: no situation {situation} (one of {})",
            situations.join(", ")
        )
    })?;
    Ok((api, situation))
}

fn shell_quoted(s: &str) -> String {
    format!("'{s}'")
}
