//! The `rstlab` command line; see `rstlab --help`.

#![deny(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    // Without root, a user namespace of our own gives the emulated link the CAP_NET_ADMIN it
    // needs, where the kernel allows unprivileged user namespaces. It must happen while the
    // process has one thread. Where it is refused, the link says in one line what it needs.
    if !rstlab::sys::net::effective_root() {
        let _ = rstlab::sys::net::enter_user_namespace();
    }
    cli::main()
}
