//! `rstlab run FILE | - | "step; step; …"`
//!
//! Exit status 0 when the kernel did what the oracle predicted and what every `=>` line expects,
//! 1 when the kernel disagrees with the oracle, 3 when the oracle was right but a `=>` line is
//! not, 2 on bad input.

use std::io::Write;

use rstlab::check::report::{ResetRow, RunReport, States, Verdict};
use rstlab::check::verify::{Verified, VerifyError, verify};
use rstlab::oracle::TcpSettings;
use rstlab::run::{Backend, RunOptions, Runner};
use rstlab::scenario::source::Source;
use rstlab::{Scenario, TcpState};

use super::signals::Stop;
use super::{BackendArg, NetArg, Status, exit_statuses, output};
use rstlab::net::segment_log::{WireLine, wire_table};
use rstlab::table;

#[derive(Debug, clap::Args)]
#[command(after_help = exit_statuses(&[0, 1, 2, 3, 130]))]
pub struct Args {
    /// A scenario file, `-` for standard input, or the steps themselves separated by `;`.
    scenario: String,
    /// The socket API that runs it.
    #[arg(long, value_enum, default_value_t)]
    backend: BackendArg,
    /// The network: loopback, or the emulated link (needs CAP_NET_ADMIN). A scenario with
    /// `link` steps runs on the link whatever this says.
    #[arg(long, value_enum)]
    net: Option<NetArg>,
    /// Print one JSON object instead of a table (format: docs/json.md); with --diagram, the
    /// diagram is its `diagram` field.
    #[arg(long)]
    json: bool,
    /// Also print a sequence diagram: both lanes, the segments between them, every result.
    #[arg(long)]
    diagram: bool,
    #[command(flatten)]
    pcap: super::capture::Pcap,
    #[command(flatten)]
    kernel: super::lane::KernelArg,
}

/// Reads the scenario named by `arg` (a file, `-`, or inline steps) with the reader every
/// command shares, for the oracle: `client write request` is refused.
pub fn load(arg: &str) -> anyhow::Result<(String, Scenario)> {
    Ok(Source::read(arg)?.into_scenario()?)
}

/// The status `rstlab run` exits with after `verdict`.
fn status(verdict: Verdict) -> Status {
    match verdict {
        Verdict::Agreement => Status::Agreement,
        Verdict::OracleDisagrees => Status::OracleDisagrees,
        Verdict::ExpectationContradicted => Status::ExpectationContradicted,
    }
}

pub fn main(args: Args) -> anyhow::Result<Status> {
    // Read once: standard input (`-`) cannot be read again for the lane.
    let (origin, text) = Source::read_text(&args.scenario)?;
    if !args.kernel.is_host() {
        return in_lane(&args, args.kernel.series(), origin, text);
    }
    let scenario = Source::parse(origin.clone(), &text)?.into_scenario()?.1;
    let backend = Backend::from(args.backend);
    let net = match args.net {
        Some(net) => net.into(),
        None => rstlab::net::Net::for_scenario(&scenario),
    };
    // A scenario that needs the kernel's own timers runs in the kernel's own time: in the
    // lane's guest here, else in the lane (unless the host was asked for by name).
    let tcp = match rstlab::check::verify::needs_kernel_time(backend, net, &scenario) {
        None => TcpSettings::Lab,
        Some(_) if rstlab::kernels::lane::guest::in_lane() => TcpSettings::KernelTime,
        Some(beyond) if args.kernel.kernel.is_some() => anyhow::bail!(
            "{beyond}\nwith --kernel host it cannot run: the host's clock is real, and the kernel's \
             timers would take their real time; run it in the lane (`--kernel {}`)",
            super::lane::DEFAULT_LANE_KERNEL
        ),
        Some(_) if args.pcap.wanted() => anyhow::bail!(
            "this scenario needs the kernel's own timers, which run in the lane, and the lane \
             has no --pcap yet (the capture would stay in the VM)"
        ),
        Some(beyond) => {
            eprintln!(
                "rstlab run: {beyond}\nrstlab run: it needs the kernel's own timers, so it runs in \
                 the lane's kernel {} in virtual time (`--kernel` chooses another)",
                super::lane::DEFAULT_LANE_KERNEL
            );
            return in_lane(&args, super::lane::DEFAULT_LANE_KERNEL, origin, text);
        }
    };
    args.pcap
        .needs_link(net == rstlab::run::Net::Link, "--net link")?;
    if net == rstlab::run::Net::Link {
        super::enter_link_namespace();
    }
    let options = RunOptions {
        net,
        tcp,
        capture: args.pcap.wanted(),
        ..RunOptions::default()
    };
    let stop = Stop::install(std::sync::Arc::clone(&options.stop))?;
    let mut runner = Runner::with_options(backend, options)?;
    // The pipeline refuses, before running, a scenario the oracle cannot follow to the end.
    let Verified {
        prediction,
        trace,
        disagreement,
    } = verify(&mut runner, &scenario).map_err(|e| match e {
        VerifyError::Beyond(b) => anyhow::anyhow!(
            "{b}\nrstlab refuses to run what it cannot emulate faithfully: {}",
            b.reason.hint()
        ),
        VerifyError::Run(e) => e.into(),
    })?;
    let capture_title = format!(
        "rstlab run --backend {backend}: {}",
        scenario.to_string().trim().replace('\n', "; ")
    );
    let mut report = RunReport::new(&scenario, &prediction, &trace, disagreement.is_none());
    let diagram = args
        .diagram
        .then(|| rstlab::diagram::Diagram::new(&scenario, &prediction, Some(&trace)).text());
    let mut out = output::stdout();
    if args.json {
        report.diagram = diagram;
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        write!(out, "{}", render(&report))?;
        if let Some(diagram) = diagram {
            write!(out, "\n{diagram}")?;
        }
    }
    if let Some(signal) = stop.signal() {
        // On standard error: with --json, standard output holds the JSON alone.
        out.flush()?;
        eprintln!(
            "rstlab run: interrupted by {} after {} of {} steps{}",
            signal.name(),
            trace.steps.len(),
            scenario.steps().len(),
            if trace.interrupted {
                ": the steps not run have no verdict"
            } else {
                ""
            }
        );
        return Ok(Status::Interrupted(signal));
    }
    // The report first: a capture that cannot be written does not take it away.
    out.flush()?;
    args.pcap.save(&capture_title, &trace.packets)?;
    Ok(status(report.verdict))
}

/// How long `run --kernel` may take, boot included: a boot takes under a minute emulated, and
/// a scenario's hours of kernel time pass in seconds to minutes of virtual time.
const LANE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// `run --kernel SERIES`: the same command line in the lane's VM, the scenario's text handed in
/// as a file, what it printed printed here.
fn in_lane(args: &Args, series: &str, origin: String, text: String) -> anyhow::Result<Status> {
    // Refused here as on the host, before a VM boots.
    Source::parse(origin, &text)?.into_scenario()?;
    if args.pcap.wanted() {
        anyhow::bail!(
            "--pcap with --kernel: not yet (the capture would stay in the VM); run on the host \
             for a capture"
        );
    }
    let file = rstlab::kernels::lane::Job::path(0, "run.scenario");
    let mut job_args = vec![
        "run".to_string(),
        "--backend".to_string(),
        Backend::from(args.backend).to_string(),
    ];
    if let Some(net) = args.net {
        job_args.push("--net".to_string());
        job_args.push(
            clap::ValueEnum::to_possible_value(&net)
                .expect("no value is skipped")
                .get_name()
                .to_string(),
        );
    }
    if args.json {
        job_args.push("--json".to_string());
    }
    if args.diagram {
        job_args.push("--diagram".to_string());
    }
    job_args.push(file.clone());
    let job = rstlab::kernels::lane::Job {
        args: job_args,
        files: vec![(file, text.into_bytes())],
    };
    match super::lane::run_in_lane("run", series, job, LANE_DEADLINE)? {
        Ok(ran) => ran.replay("run"),
        Err(signal) => {
            eprintln!(
                "rstlab run: interrupted by {}: the VM was stopped",
                signal.name()
            );
            Ok(Status::Interrupted(signal))
        }
    }
}

fn state_pair(s: &States) -> String {
    let one = |s: Option<TcpState>| s.map_or("-".to_string(), |s| s.to_string());
    format!("{}/{}", one(s.client), one(s.server))
}

fn render(report: &RunReport<'_>) -> String {
    let rows: Vec<Vec<String>> = report
        .steps
        .iter()
        .map(|r| {
            vec![
                r.step.to_string(),
                r.text.clone(),
                r.predicted.to_string(),
                r.observed
                    .map_or("(not run)".to_string(), ToString::to_string),
                r.observed_states
                    .as_ref()
                    .map_or("-".to_string(), state_pair),
                r.rules
                    .iter()
                    .map(|r| r.id())
                    .collect::<Vec<_>>()
                    .join(", "),
                if r.agree { "yes" } else { "NO" }.to_string(),
            ]
        })
        .collect();
    let mut out = format!(
        "{} backend, client {} -> server {}\n\n",
        report.backend, report.client, report.server
    );
    out += &table::render(
        &[
            "#",
            "step",
            "predicted",
            "observed",
            "client/server state",
            "rule",
            "agree",
        ],
        &rows,
    );
    out += LEGEND;
    out.push('\n');
    for r in &report.steps {
        for m in &r.mismatches {
            out += &format!("step {}: {m}\n", r.step);
        }
        if let Some(note) = r.note {
            out += &format!("step {}: note: {note}\n", r.step);
        }
    }
    if !report.wire.is_empty() {
        out += "\nthe wire (times are link time; seq and ack relative to each side's SYN):\n";
        let labels: Vec<String> = report.wire.iter().map(|w| w.step.to_string()).collect();
        let lines: Vec<WireLine<'_>> = report
            .wire
            .iter()
            .zip(&labels)
            .map(|(w, label)| WireLine::Segment(label, w.segment))
            .collect();
        out += &wire_table("step", ["client", "server"], &lines, &|d| format!("{d:?}"));
    }
    if !report.resets.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
    out += &resets_table(report);
    if let Some(t) = &report.timeout {
        out += &format!("timeout: {t}\n");
    }
    out += match report.verdict {
        Verdict::Agreement => {
            "agreement: the kernel did what the oracle predicted and what the scenario expects\n"
        }
        Verdict::OracleDisagrees => {
            "DISAGREEMENT: the kernel did not do what the oracle predicted (see above); the kernel \
             is the judge, so the oracle is wrong (exit status 1)\n"
        }
        Verdict::ExpectationContradicted => {
            "EXPECTATION CONTRADICTED: the kernel did what the oracle predicted, not what the \
             scenario's `=>` lines expect (see above): the scenario is wrong (exit status 3)\n"
        }
    };
    out
}

/// Why each RST: the reason the kernel stated (`tcp/tcp_send_reset`) beside the oracle's, or
/// why the kernel's is missing.
fn resets_table(report: &RunReport<'_>) -> String {
    if report.resets.is_empty() {
        return String::new();
    }
    let mut out =
        "why each RST (the kernel's own reason, from its tcp/tcp_send_reset event, and the oracle's):\n"
            .to_string();
    out += &ResetRow::table(&report.resets, report.reasons_missing.is_none());
    if let Some(why) = &report.reasons_missing {
        out += &format!("the kernel's reasons are not checked: {why}\n");
    }
    out
}

/// Printed under the table: what the state column shows (the README says the same).
const LEGEND: &str = "
client/server state: what the kernel reports for each socket the application still holds, once
the step has settled. `-`: that side has closed its socket (or the step did not run).
CLOSE: the connection is over, TIME_WAIT included (Linux hands TIME_WAIT to a stub and leaves
the socket you hold in CLOSE). FIN_WAIT1: our FIN arrived but the peer delays its ACK (up to
40 ms); the oracle counts it as FIN_WAIT2. On the link, FIN_WAIT1, CLOSING and LAST_ACK can also
mean that a segment is still on its way: the wire trace below the table shows which.
";
