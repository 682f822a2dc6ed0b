//! The limits of the language, shared by the parser, the proptest strategies and the
//! `arbitrary` implementation: one source of truth.

use std::time::Duration;

/// At most this many steps in a scenario.
pub const MAX_STEPS: usize = 64;
/// At most this many bytes in one `write N` or `read N`.
pub const MAX_IO: usize = 64 * 1024;
/// At most this many bytes written in all, per direction. With the runner's socket buffers
/// (see [`crate::run`]) this is far below what either buffer or the receive window holds,
/// so every write is accepted whole and every byte reaches the peer before the next step.
pub const MAX_BYTES_PER_DIRECTION: usize = 64 * 1024;
/// The longest `sleep`: three hours, past every timer of a connection at the kernel's defaults
/// (the vanished peer's 15.5 minutes, keepalive's 2 hours and 11 minutes). Past 5 s the
/// kernel's own timers decide, so the oracle follows such a sleep only in the kernel's own time
/// (the lane: [`crate::oracle::LAB_MAX_SLEEP`]); generators keep to their own, shorter bound.
pub const MAX_SLEEP: Duration = Duration::from_secs(3 * 3600);
/// The longest one-way delay of `link delay D`.
pub const MAX_DELAY: Duration = Duration::from_millis(100);
