//! The signals that end a long command, one way for every command: Ctrl-C (SIGINT), SIGTERM (a
//! service manager's, `kill`'s, CI's `timeout`) and SIGHUP (the terminal closed) alike. The first
//! sets a stop flag that the command's work looks at; the command then prints what it did (its
//! JSON too) and exits as a shell reports that signal: 130, 143, 129. A second signal, once the
//! flag is set, ends the process at once with that status: the way out of a command that takes
//! long to wind down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::Context;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// A signal that stops a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C.
    Int,
    /// SIGTERM.
    Term,
    /// SIGHUP.
    Hup,
}

impl Signal {
    /// Every signal that stops a command.
    const ALL: [Signal; 3] = [Signal::Int, Signal::Term, Signal::Hup];

    fn number(self) -> i32 {
        match self {
            Signal::Int => SIGINT,
            Signal::Term => SIGTERM,
            Signal::Hup => SIGHUP,
        }
    }

    fn from_number(number: usize) -> Option<Signal> {
        Signal::ALL
            .into_iter()
            .find(|s| usize::try_from(s.number()) == Ok(number))
    }

    /// The exit status after it: 128 + its number, as a shell reports a process it ended.
    pub fn code(self) -> u8 {
        // SIGINT, SIGTERM and SIGHUP are 2, 15 and 1 on every Linux architecture.
        128 + self.number() as u8
    }

    /// How the summary names it.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "Ctrl-C",
            Signal::Term => "SIGTERM",
            Signal::Hup => "SIGHUP",
        }
    }
}

/// The stop flag of a command and the signal that set it.
#[derive(Clone, Debug)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    which: Arc<AtomicUsize>,
}

impl Stop {
    /// Makes SIGINT, SIGTERM and SIGHUP set `flag` (and record which one arrived), and a
    /// second one end the process at once. Call it before the command prints its first line:
    /// whoever sees that line may send a signal.
    pub fn install(flag: Arc<AtomicBool>) -> anyhow::Result<Stop> {
        let which = Arc::new(AtomicUsize::new(0));
        for signal in Signal::ALL {
            let number = signal.number();
            // signal-hook runs a signal's actions in the order they were registered: the first
            // signal finds the flag unset and only sets it.
            signal_hook::flag::register_conditional_shutdown(
                number,
                i32::from(signal.code()),
                Arc::clone(&flag),
            )
            // Which signal before the flag: whoever sees the flag set finds the signal too.
            .and_then(|_| {
                signal_hook::flag::register_usize(number, Arc::clone(&which), number as usize)
            })
            .and_then(|_| signal_hook::flag::register(number, Arc::clone(&flag)))
            .with_context(|| format!("installing the handler of {}", signal.name()))?;
        }
        Ok(Stop { flag, which })
    }

    /// A new flag, installed as [`Stop::install`] does.
    pub fn new() -> anyhow::Result<Stop> {
        Stop::install(Arc::new(AtomicBool::new(false)))
    }

    /// The flag, for the library's work to look at.
    pub fn flag(&self) -> &Arc<AtomicBool> {
        &self.flag
    }

    /// The signal that stopped the command, if one did.
    pub fn signal(&self) -> Option<Signal> {
        if !self.flag.load(Ordering::SeqCst) {
            return None;
        }
        // The flag set by someone else than a handler (a library's own stop) counts as Ctrl-C.
        Some(Signal::from_number(self.which.load(Ordering::SeqCst)).unwrap_or(Signal::Int))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signal_exits_as_a_shell_reports_it() {
        assert_eq!(Signal::Int.code(), 130);
        assert_eq!(Signal::Term.code(), 143);
        assert_eq!(Signal::Hup.code(), 129);
        assert_eq!(Signal::from_number(15), Some(Signal::Term));
        assert_eq!(Signal::from_number(0), None);
    }
}
