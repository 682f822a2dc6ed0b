//! The `rstlab` command line; see `rstlab --help`.

#![deny(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
