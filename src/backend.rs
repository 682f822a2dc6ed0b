//! The socket API that drives a scenario's steps: std or tokio.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which socket API drives the scenario.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `std::net::TcpStream`, non-blocking.
    #[default]
    Std,
    /// `tokio::net::TcpStream` on a current-thread runtime.
    Tokio,
}

impl Backend {
    /// Both backends.
    pub const ALL: [Backend; 2] = [Backend::Std, Backend::Tokio];
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Std => "std",
            Backend::Tokio => "tokio",
        })
    }
}
