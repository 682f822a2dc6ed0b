//! `rstlab sigpipe-probe` (hidden): one SIGPIPE experiment, run by `rstlab rules` in a child
//! process, since the experiment may kill the process that runs it.

use rstlab::sigpipe::{self, Api, Disposition, Ending, Probe};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ApiArg {
    /// write(2): no MSG_NOSIGNAL.
    Plain,
    /// std's TcpStream::write: send(2) with MSG_NOSIGNAL.
    Std,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum SigpipeArg {
    /// Leave SIGPIPE as Rust's runtime set it (ignored).
    Rust,
    /// Reset SIGPIPE to SIG_DFL.
    Default,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum PeerArg {
    /// The peer closes (FIN).
    Close,
    /// The peer aborts (RST).
    Abort,
}

#[derive(Debug, clap::Args)]
#[command(after_help = super::exit_statuses(&[0, 2]))]
pub struct Args {
    /// The call that writes.
    #[arg(long, value_enum)]
    api: ApiArg,
    /// SIGPIPE's disposition while writing.
    #[arg(long, value_enum)]
    sigpipe: SigpipeArg,
    /// How the peer ends the connection.
    #[arg(long, value_enum)]
    peer: PeerArg,
}

pub fn main(args: Args) -> anyhow::Result<super::Status> {
    let probe = Probe {
        api: match args.api {
            ApiArg::Plain => Api::Plain,
            ApiArg::Std => Api::Std,
        },
        disposition: match args.sigpipe {
            SigpipeArg::Rust => Disposition::AsRustLeavesIt,
            SigpipeArg::Default => Disposition::Default,
        },
        peer: match args.peer {
            PeerArg::Close => Ending::Close,
            PeerArg::Abort => Ending::Abort,
        },
    };
    sigpipe::run_probe(&probe, &mut super::output::stdout())?;
    Ok(super::Status::Agreement)
}
