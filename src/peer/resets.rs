//! Why the peer's kernel (or your program's) reset a connection: the kernel's own reasons
//! (`tcp/tcp_send_reset`, [`crate::reasons`]) for the RSTs of each connection the peer plays,
//! beside the oracle's.
//!
//! One [`ResetLog`] per peer, whatever the number of connections: each connection is watched
//! from its accept to the end of its play, by its four addresses, as `rstlab run` watches its
//! own. The accept loop reads the log every slice, so that its rings never hold more than a
//! slice's RSTs of the host; each connection reads it once more when its play ends. The log
//! goes with the peer (its last thread's end, a panic included).

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::check::report::ResetRow;
use crate::check::resets::{PredictedReset, pair};
use crate::oracle::Prediction;
use crate::reasons::ResetLog;
use crate::reasons::{Missing, Resets, StatedReset};
use crate::scenario::End;

/// The peer's [`ResetLog`] and the connections it watches.
#[derive(Debug)]
pub(super) struct ResetWatch(Mutex<Watch>);

#[derive(Debug)]
struct Watch {
    /// Where the reasons come from, or why they do not.
    log: Result<ResetLog, Missing>,
    /// The connections being played: number, your program's address, the peer's, since when,
    /// and what has been read for each so far.
    watched: Vec<Watched>,
}

#[derive(Debug)]
struct Watched {
    number: usize,
    addresses: (SocketAddr, SocketAddr, Duration),
    resets: Resets,
}

impl ResetWatch {
    /// A log of the peer's own when `wanted` (root, tracefs, Linux 6.10 on), else
    /// why not.
    pub(super) fn open(wanted: bool) -> ResetWatch {
        let log = if wanted {
            ResetLog::open()
        } else {
            Err(Missing::Off)
        };
        ResetWatch(Mutex::new(Watch {
            log,
            watched: Vec::new(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Watch> {
        // Every update is one assignment or push: a panic elsewhere leaves it usable.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Why the peer records no reasons (`None`: it does).
    pub(super) fn missing(&self) -> Option<Missing> {
        self.lock().log.as_ref().err().cloned()
    }

    /// Whether the peer records the reasons.
    pub(super) fn recording(&self) -> bool {
        self.lock().log.is_ok()
    }

    /// Watches connection `number`, just accepted, between `client` (your program) and
    /// `server` (the peer's socket).
    pub(super) fn watch(&self, number: usize, client: SocketAddr, server: SocketAddr) {
        let mut watch = self.lock();
        let Ok(log) = &watch.log else {
            return;
        };
        let since = log.now();
        watch.watched.push(Watched {
            number,
            addresses: (client, server, since),
            resets: Resets::Stated(Vec::new()),
        });
    }

    /// Reads what the kernel recorded since the last reading, for every connection watched.
    pub(super) fn poll(&self) {
        let mut watch = self.lock();
        let Watch { log, watched } = &mut *watch;
        let (Ok(log), false) = (log, watched.is_empty()) else {
            return;
        };
        let addresses: Vec<_> = watched.iter().map(|w| w.addresses).collect();
        for (w, read) in watched.iter_mut().zip(log.take_each(&addresses)) {
            w.resets = merge(
                std::mem::replace(&mut w.resets, Resets::Stated(Vec::new())),
                read,
            );
        }
    }

    /// The RSTs of connection `number`, whose play has ended, and the end of its watch.
    pub(super) fn finish(&self, number: usize) -> Resets {
        self.poll();
        let mut watch = self.lock();
        if let Err(missing) = &watch.log {
            return Resets::Missing(missing.clone());
        }
        match watch.watched.iter().position(|w| w.number == number) {
            Some(i) => watch.watched.swap_remove(i).resets,
            // Not watched: its address could not be read.
            None => Resets::Missing(Missing::Read(
                "the connection's addresses are not known".to_string(),
            )),
        }
    }
}

/// What two readings hold together: a reading that lost events or failed spoils the
/// connection's, and an old kernel's reasons stay not checked.
fn merge(before: Resets, read: Resets) -> Resets {
    let (mut a, b, complete) = match (before, read) {
        (Resets::Stated(a), Resets::Stated(b)) => (a, b, true),
        (
            Resets::Stated(a) | Resets::Missing(Missing::Incomplete(a)),
            Resets::Missing(Missing::Incomplete(b)),
        )
        | (Resets::Missing(Missing::Incomplete(a)), Resets::Stated(b)) => (a, b, false),
        (before @ Resets::Missing(_), _) => return before,
        (Resets::Stated(_), read) => return read,
    };
    a.extend(b);
    if complete {
        Resets::Stated(a)
    } else {
        Resets::Missing(Missing::Incomplete(a))
    }
}

/// The rows of a connection's "why each RST": the RSTs the kernel stated paired in order with
/// those the oracle predicted for the `played` steps (as `rstlab run` pairs them, each sender's
/// apart), or the oracle's alone where the kernel's were not recorded, and why not.
///
/// The oracle's RSTs from your program assume it read nothing (the peer cannot see reads): one
/// that your program's kernel did not send is left out where the kernel's reasons were
/// recorded (your program read what the peer sent, and closed with a FIN).
pub(super) fn rows(
    prediction: &Prediction,
    played: usize,
    resets: &Resets,
) -> (Vec<ResetRow>, Option<String>) {
    let predicted: Vec<(usize, PredictedReset)> =
        crate::check::resets::predicted(prediction, played);
    let stated: &[StatedReset] = match resets {
        Resets::Stated(s) | Resets::Missing(Missing::Incomplete(s)) => s,
        Resets::Missing(_) => &[],
    };
    let recorded = !matches!(resets, Resets::Missing(m) if !matches!(m, Missing::Incomplete(_)));
    let last = played.saturating_sub(1);
    let mut pairs = Vec::new();
    for from in [End::Server, End::Client] {
        let predicted: Vec<_> = predicted
            .iter()
            .filter(|(_, p)| p.from == from)
            .copied()
            .collect();
        let stated: Vec<_> = stated.iter().filter(|s| s.from == from).cloned().collect();
        pairs.extend(
            pair(&predicted, &stated, last)
                .into_iter()
                .filter(|p| !(from == End::Client && recorded && p.stated.is_none())),
        );
    }
    // Stable: each sender's in order, the steps in order.
    pairs.sort_by_key(|p| p.step);
    let rows = pairs.into_iter().filter_map(ResetRow::of).collect();
    (rows, resets.missing())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rst(reason: &str) -> StatedReset {
        StatedReset {
            from: End::Server,
            reason: reason.to_string(),
            state: "TCP_CLOSE".to_string(),
        }
    }

    #[test]
    fn readings_add_up_and_a_loss_spoils_the_whole_connection() {
        let stated = |r: Vec<StatedReset>| Resets::Stated(r);
        let both = merge(stated(vec![rst("A")]), stated(vec![rst("B")]));
        assert_eq!(both, stated(vec![rst("A"), rst("B")]));
        let lost = merge(both, Resets::Missing(Missing::Lost(3)));
        assert_eq!(lost, Resets::Missing(Missing::Lost(3)));
        assert_eq!(
            merge(lost, stated(vec![rst("C")])),
            Resets::Missing(Missing::Lost(3))
        );
        let old = merge(
            stated(Vec::new()),
            Resets::Missing(Missing::Incomplete(vec![rst("NOT_SPECIFIED")])),
        );
        assert_eq!(
            old,
            Resets::Missing(Missing::Incomplete(vec![rst("NOT_SPECIFIED")]))
        );
    }

    #[test]
    fn the_rows_pair_the_kernels_rsts_with_the_oracles() {
        let s: crate::Scenario = "client write 3; server read 1; server close; client write 1"
            .parse()
            .unwrap();
        let p = crate::oracle::predict(&s, &crate::oracle::Settings::default());
        let (rows, missing) = super::rows(&p, 4, &Resets::Stated(vec![rst("TCP_ABORT_ON_CLOSE")]));
        assert_eq!(missing, None);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!((rows[0].step, rows[0].agree), (3, true));
        assert_eq!(rows[0].stated.as_deref(), Some("TCP_ABORT_ON_CLOSE"));
        // Not recorded: the oracle's alone, and why.
        let (rows, missing) = super::rows(&p, 4, &Resets::Missing(Missing::NoEvent));
        assert_eq!((rows.len(), rows[0].stated.clone()), (1, None));
        assert!(missing.unwrap().contains("no tcp/tcp_send_reset"));
        // Your program's close sends RST only if it did not read: without one, no row.
        let s: crate::Scenario = "server write 3; client close".parse().unwrap();
        let p = crate::oracle::predict(&s, &crate::oracle::Settings::default());
        assert_eq!(
            p.steps[1].segments[0].reason.map(|r| r.reason.name()),
            Some("TCP_ABORT_ON_CLOSE")
        );
        let (rows, _) = super::rows(&p, 2, &Resets::Stated(Vec::new()));
        assert!(rows.is_empty(), "{rows:?}");
        let (rows, _) = super::rows(&p, 2, &Resets::Missing(Missing::NoEvent));
        assert_eq!(rows.len(), 1, "{rows:?}");
        let p = crate::oracle::predict(
            &"client write 3; server read 1; server close"
                .parse()
                .unwrap(),
            &crate::oracle::Settings::default(),
        );
        // A step not played sends nothing.
        let (rows, _) = super::rows(&p, 2, &Resets::Stated(Vec::new()));
        assert!(rows.is_empty(), "{rows:?}");
    }
}
