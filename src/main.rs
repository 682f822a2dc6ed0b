//! The `rstlab` command line; see `rstlab --help`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
