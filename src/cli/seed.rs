//! `rstlab seed`: the seed article's program, on real sockets, beside the oracle.
//!
//! The article's Go program: a server accepts, reads one byte and closes; a client writes "a",
//! "b" and "c" one second apart and logs each failure. Here both ends are driven in one thread,
//! step by step, with the same pauses (`--no-pause` drops them).

use std::time::Duration;

use anyhow::Context;

use rstlab::oracle;
use rstlab::run::{Backend, Runner};
use rstlab::scenario::{Actor, Op, Scenario, Step};
use rstlab::{Errno, Outcome, check};

use super::{BackendArg, Status};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Drop the one-second pauses between the client's writes.
    #[arg(long)]
    no_pause: bool,
    /// The socket API that runs it.
    #[arg(long, value_enum, default_value_t)]
    backend: BackendArg,
}

/// The article's program as a scenario, and the index of each client write in it.
fn program(pause: bool) -> (Scenario, [usize; 3]) {
    let mut steps = vec![
        Step::new(Actor::Client, Op::Write(1)),
        Step::new(Actor::Server, Op::Read(1)),
        Step::new(Actor::Server, Op::Close),
    ];
    let mut writes = [0, 0, 0];
    for (i, w) in writes.iter_mut().enumerate() {
        if i > 0 {
            if pause {
                steps.push(Step::new(Actor::Client, Op::Sleep(Duration::from_secs(1))));
            }
            steps.push(Step::new(Actor::Client, Op::Write(1)));
        }
        *w = if i == 0 { 0 } else { steps.len() - 1 };
    }
    (
        Scenario::new(steps).expect("the seed program is a valid scenario"),
        writes,
    )
}

/// Go's text for an errno, as its `syscall.Errno.Error()` prints it.
fn go_text(e: Errno) -> String {
    match e {
        Errno::EPIPE => "broken pipe".into(),
        Errno::ECONNRESET => "connection reset by peer".into(),
        other => std::io::Error::from_raw_os_error(other.0)
            .to_string()
            .split(" (os error")
            .next()
            .unwrap_or_default()
            .to_lowercase(),
    }
}

/// Exit status 1 when the oracle disagrees with the kernel, 3 when both agree but the kernel did
/// not do what the article shows (ok, ok, EPIPE).
pub fn main(args: Args) -> anyhow::Result<Status> {
    let (scenario, writes) = program(!args.no_pause);
    let backend = Backend::from(args.backend);
    let prediction = oracle::predict_for(&scenario, backend);
    let mut runner = Runner::new(backend).context("starting the runner")?;
    println!("The seed article's program, as a scenario:\n");
    for line in scenario.to_string().lines() {
        println!("    {line}");
    }
    println!();
    let trace = runner.run(&scenario)?;
    let stamp = || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let (h, m, s) = ((now / 3600) % 24, (now / 60) % 60, now % 60);
        format!("{h:02}:{m:02}:{s:02}")
    };
    let mut all_as_article = true;
    for (letter, &index) in ["a", "b", "c"].iter().zip(&writes) {
        let observed = trace.steps.get(index).map(|s| &s.outcome);
        let predicted = &prediction.steps[index];
        let rules: Vec<&str> = predicted.rules.iter().map(|r| r.id()).collect();
        let shown = observed.map_or("(not run)".to_string(), ToString::to_string);
        println!(
            "write {letter:?}: kernel {shown:<6} oracle {:<6} [{}]",
            predicted.outcome.to_string(),
            rules.join(", ")
        );
        if let Some(Outcome::Err(e)) = observed {
            println!(
                "  {} client: write tcp {}->{}: write: {}",
                stamp(),
                trace.client,
                trace.server,
                go_text(*e)
            );
            if *e == Errno::EPIPE {
                println!("  {} This is broken pipe error", stamp());
            }
        }
    }
    let observed: Vec<Option<&Outcome>> = writes
        .iter()
        .map(|&i| trace.steps.get(i).map(|s| &s.outcome))
        .collect();
    let article = [
        Outcome::Bytes(1),
        Outcome::Bytes(1),
        Outcome::Err(Errno::EPIPE),
    ];
    all_as_article &= observed.iter().zip(&article).all(|(o, a)| *o == Some(a));
    let disagreement = check::check(&scenario, &prediction, &trace);
    println!();
    match &disagreement {
        None => println!("the oracle agrees with the kernel on every step"),
        Some(d) => println!("DISAGREEMENT: {d}"),
    }
    println!(
        "{}",
        if all_as_article {
            "as in the article: ok, ok, EPIPE"
        } else {
            "NOT as in the article (ok, ok, EPIPE)"
        }
    );
    Ok(match (&disagreement, all_as_article) {
        (Some(_), _) => Status::OracleDisagrees,
        (None, false) => Status::ExpectationContradicted,
        (None, true) => Status::Agreement,
    })
}
