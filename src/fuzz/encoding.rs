//! The byte format of the scenario fuzz targets (`oracle`, `oracle_vs_kernel`): how libFuzzer's
//! bytes become steps ([`Scenario`]'s [`Arbitrary`] decoding) and back ([`encode`]).
//!
//! Committed corpora and regression inputs (`fuzz/corpus`, `fuzz/regressions`) are bytes in
//! this format, so it is defined once here and frozen: the table of op codes ([`OP_CODES`]) and
//! the ranges of the arguments are numbers of their own, not the generation weights of the ops
//! table or the language's bounds, which may change without changing what an old input means.
//!
//! One step is: a byte whose low bit says who (`client` 0, `server` 1); one byte modulo the sum
//! of the codes' shares, each op taking its share in table order; then the op's argument, read
//! by [`Unstructured`] (a count: `ratio(6, 7)` then `1..=16` in one byte or `1..=65536` in two;
//! a `shutdown` direction: `0..=2`; a sleep: `0..=500` µs in two bytes). Steps are read until
//! the bytes run out, then normalized ([`Scenario::normalize`]).
//!
//! A who byte with its high bit set ([`TIMER_STEP`]) starts a timer step instead: one byte
//! modulo 4 for the op ([`TIMER_OPS`]: `reboot`, `set`, `link cut`, `link restore`), then for
//! `set` a byte whose low bit picks `keepalive` (IDLE `1..=10` s, INTERVAL `1..=5` s, COUNT
//! `1..=9`, a byte each) over `user-timeout` (`0..=5000` ms in two bytes). No committed input has
//! that bit in a who byte (the encoder wrote 0 and 1, the libFuzzer-made regression 0x22, 0x00
//! and 0x3b), so each decodes as it did before timer steps were added. An input libFuzzer grew
//! has that bit in about half its who bytes, and decodes to another scenario since: regenerate
//! such corpora, as for a new op code.

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use thiserror::Error;

use crate::scenario::bounds::{MAX_IO, MAX_SLEEP, MAX_STEPS};
use crate::scenario::{Arg, End, How, LinkOp, Op, OpKind, Param, Scenario, Setting, Step};

/// Each op a fuzz input can name, with its share of the op byte, in the order the shares are
/// laid out: `write` is 0 to 3, `read` 4 to 6, `close` 7, `abort` 8, `shutdown` 9, `sleep` 10,
/// `poll` 11 to 15, `error` 16 and 17. The first six were the whole table (summing to 11) when
/// the first inputs were committed; `poll` and `error` were added with shares summing to 7, so
/// that every committed input still decodes to the scenario it decoded to then (the encoder's
/// bytes are below 11, and the one libFuzzer-made regression input picks its `read` with the
/// byte 59: 59 mod 11 = 4 and 59 mod 18 = 5, both `read`). Never change a row. A new row at
/// the end keeps the meaning of every op byte below 18 (the committed seeds' and the encoder's),
/// but it changes the modulus, and with it what a byte of 18 or more names: inputs libFuzzer
/// grew would decode to other scenarios, so regenerate such corpora when adding an op.
pub const OP_CODES: &[(OpKind, u8)] = &[
    (OpKind::Write, 4),
    (OpKind::Read, 3),
    (OpKind::Close, 1),
    (OpKind::Abort, 1),
    (OpKind::Shutdown, 1),
    (OpKind::Sleep, 1),
    (OpKind::Poll, 5),
    (OpKind::Error, 2),
];

/// A small count: `1..=SMALL_COUNT` in one byte, six times in seven.
pub const SMALL_COUNT: usize = 16;
/// A large count: `1..=LARGE_COUNT` in two bytes.
pub const LARGE_COUNT: usize = 65_536;
/// The longest sleep a fuzz input can name.
pub const MAX_FUZZ_SLEEP: Duration = Duration::from_micros(500);

/// The bit of a who byte that starts a timer step.
pub const TIMER_STEP: u8 = 0x80;

/// The ops of timer steps, in the order their byte (modulo 4) names them. Frozen like
/// [`OP_CODES`].
pub const TIMER_OPS: [OpKind; 4] = [OpKind::Reboot, OpKind::Set, OpKind::Cut, OpKind::Restore];

/// The user timeouts a fuzz input can name: `0..=5000` ms (0 turns it off).
pub const MAX_FUZZ_USER_TIMEOUT_MS: u16 = 5_000;

// The frozen ranges stay within the language's bounds.
const _: () = assert!(LARGE_COUNT <= MAX_IO && SMALL_COUNT <= LARGE_COUNT);
const _: () = assert!(MAX_FUZZ_SLEEP.as_micros() <= MAX_SLEEP.as_micros());

/// The sum of the shares: an op byte is read modulo it.
fn op_modulus() -> u8 {
    OP_CODES.iter().map(|(_, share)| share).sum()
}

/// The op a code (already reduced modulo the shares' sum) names.
fn op_of(mut code: u8) -> OpKind {
    for &(kind, share) in OP_CODES {
        if code < share {
            return kind;
        }
        code -= share;
    }
    OpKind::Write
}

/// The first code of `kind`'s share; `None` for an op no fuzz input names (the link's).
///
/// ```
/// use rstlab::fuzz::encoding::op_code;
/// use rstlab::scenario::OpKind;
/// assert_eq!(op_code(OpKind::Write), Some(0));
/// assert_eq!(op_code(OpKind::Read), Some(4));
/// assert_eq!(op_code(OpKind::Delay), None);
/// ```
pub fn op_code(kind: OpKind) -> Option<u8> {
    let mut code = 0;
    for &(k, share) in OP_CODES {
        if k == kind {
            return Some(code);
        }
        code += share;
    }
    None
}

impl<'a> Arbitrary<'a> for Scenario {
    /// Decodes steps until the input runs out (or [`MAX_STEPS`]), then normalizes them; see
    /// the [module](self) for the format.
    ///
    /// ```
    /// use arbitrary::{Arbitrary, Unstructured};
    /// let bytes = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    /// let s = rstlab::Scenario::arbitrary_take_rest(Unstructured::new(&bytes)).unwrap();
    /// assert_eq!(s, s.to_string().parse().unwrap());
    /// ```
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Scenario> {
        let mut steps = Vec::new();
        while steps.len() < MAX_STEPS && !u.is_empty() {
            steps.push(step(u)?);
        }
        Ok(Scenario::normalize(steps))
    }

    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (0, None)
    }
}

fn step(u: &mut Unstructured<'_>) -> arbitrary::Result<Step> {
    // `bool::arbitrary` is this byte's low bit: the committed inputs decode as they did.
    let who = u8::arbitrary(u)?;
    let actor = if who & 1 == 1 {
        End::Server
    } else {
        End::Client
    };
    if who & TIMER_STEP != 0 {
        return timer_step(u, actor);
    }
    let kind = op_of(u.int_in_range(0..=op_modulus() - 1)?);
    let arg = match kind.param() {
        Param::None => Arg::None,
        Param::Count => Arg::Count(if u.ratio(6u8, 7u8)? {
            u.int_in_range(1..=SMALL_COUNT)?
        } else {
            u.int_in_range(1..=LARGE_COUNT)?
        }),
        Param::How => Arg::How(How::ALL[usize::from(u.int_in_range(0..=2u8)?)]),
        Param::Duration(_) => Arg::Duration(Duration::from_micros(
            u.int_in_range(0..=MAX_FUZZ_SLEEP.as_micros() as u64)?,
        )),
        // `set` comes as a timer step ([`timer_step`]), never by an op code.
        Param::Setting => unreachable!("`set` has no op code"),
    };
    let op = kind.with(arg).unwrap_or(Op::Write(1));
    Ok(Step::new(actor, op))
}

/// A timer step ([`TIMER_STEP`]) by `actor`.
fn timer_step(u: &mut Unstructured<'_>, actor: End) -> arbitrary::Result<Step> {
    let op = match TIMER_OPS[usize::from(u.int_in_range(0..=3u8)?)] {
        OpKind::Reboot => Op::Reboot,
        OpKind::Cut => return Ok(Step::link(LinkOp::Cut)),
        OpKind::Restore => return Ok(Step::link(LinkOp::Restore)),
        _ if bool::arbitrary(u)? => Op::Set(Setting::Keepalive {
            idle: Duration::from_secs(u64::from(u.int_in_range(1..=10u8)?)),
            interval: Duration::from_secs(u64::from(u.int_in_range(1..=5u8)?)),
            count: u32::from(u.int_in_range(1..=9u8)?),
        }),
        _ => Op::Set(Setting::UserTimeout(Duration::from_millis(u64::from(
            u.int_in_range(0..=MAX_FUZZ_USER_TIMEOUT_MS)?,
        )))),
    };
    Ok(Step::new(actor, op))
}

/// A scenario that [`encode`] cannot express: the decoder never produces it.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error(
    "step {step} `{text}`: the fuzz decoder produces no link steps but `link cut` and `link restore`, only sleeps of whole microseconds up to {MAX_FUZZ_SLEEP:?}, and only the timer options of its ranges"
)]
pub struct NotEncodable {
    /// The 1-based step.
    pub step: usize,
    /// The step, in the language.
    pub text: String,
}

/// The bytes that decode to `scenario`, without its `=>` expectations: the way to put a
/// scenario into a fuzz corpus or into `fuzz/regressions/`.
///
/// ```
/// use arbitrary::{Arbitrary, Unstructured};
/// use rstlab::fuzz::encoding::encode;
/// let s: rstlab::Scenario = "client write 300; server shutdown both; client sleep 20us".parse()?;
/// assert_eq!(rstlab::Scenario::arbitrary_take_rest(Unstructured::new(&encode(&s)?))?, s);
/// assert!(encode(&"client sleep 1s".parse()?).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode(scenario: &Scenario) -> Result<Vec<u8>, NotEncodable> {
    // The inverse of `step`, byte for byte: `bool` is the low bit of one byte, `int_in_range`
    // reads as many big-endian bytes as the range's width needs, modulo its size.
    let mut out = Vec::new();
    for (i, step) in scenario.steps().iter().enumerate() {
        let refuse = || NotEncodable {
            step: i + 1,
            text: step.to_string(),
        };
        let server = u8::from(step.who == End::Server);
        if let Some(code) = TIMER_OPS.iter().position(|&k| k == step.op.kind()) {
            out.extend([TIMER_STEP | server, code as u8]);
            match step.op {
                Op::Set(Setting::Keepalive {
                    idle,
                    interval,
                    count,
                }) => {
                    let (idle, interval) = (idle.as_secs(), interval.as_secs());
                    if !(1..=10).contains(&idle)
                        || !(1..=5).contains(&interval)
                        || !(1..=9).contains(&count)
                    {
                        return Err(refuse());
                    }
                    out.extend([1, (idle - 1) as u8, (interval - 1) as u8, (count - 1) as u8]);
                }
                Op::Set(Setting::UserTimeout(d)) => {
                    let ms = d.as_millis();
                    if ms > u128::from(MAX_FUZZ_USER_TIMEOUT_MS) {
                        return Err(refuse());
                    }
                    out.extend([0, (ms >> 8) as u8, ms as u8]);
                }
                _ => {}
            }
            continue;
        }
        let Some(code) = op_code(step.op.kind()) else {
            return Err(refuse());
        };
        out.extend([server, code]);
        match step.op.arg() {
            Arg::None => {}
            Arg::Count(n) if n <= SMALL_COUNT => {
                // ratio(6, 7) true, then 1..=SMALL_COUNT in one byte.
                out.extend([0, (n - 1) as u8]);
            }
            Arg::Count(n) if n <= LARGE_COUNT => {
                // ratio(6, 7) false, then 1..=LARGE_COUNT in two bytes.
                out.extend([6, ((n - 1) >> 8) as u8, (n - 1) as u8]);
            }
            Arg::Count(_) => return Err(refuse()),
            Arg::How(how) => {
                let index = How::ALL.iter().position(|&h| h == how).unwrap_or(0);
                out.push(index as u8);
            }
            Arg::Duration(d) => {
                let us = d.as_micros();
                if d.subsec_nanos() % 1000 != 0 || us > MAX_FUZZ_SLEEP.as_micros() {
                    return Err(refuse());
                }
                out.extend([(us >> 8) as u8, us as u8]);
            }
            // `set` is a timer step: written above.
            Arg::Setting(_) => unreachable!("a timer step"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Scenario {
        Scenario::arbitrary_take_rest(Unstructured::new(bytes)).unwrap()
    }

    #[test]
    fn timer_steps_come_with_the_who_bytes_high_bit_and_round_trip() {
        let s: Scenario =
            "client write 3; server set keepalive 10s 5s 9; client set user-timeout 5s; \
             client set user-timeout 0us; link cut; server write 2; link restore; server reboot"
                .parse()
                .unwrap();
        let bytes = encode(&s).unwrap();
        assert_eq!(decode(&bytes), s);
        // `server set keepalive …`: the high bit and the server's low bit, then `set` (1),
        // keepalive (1) and its three values less their least.
        assert_eq!(&bytes[4..10], &[TIMER_STEP | 1, 1, 1, 9, 4, 8]);
        // Past the fuzz ranges: refused, not written wrong.
        for text in [
            "client set keepalive 11s 1s 1",
            "client set user-timeout 5001ms",
            "link delay 1ms",
        ] {
            assert!(encode(&text.parse().unwrap()).is_err(), "{text}");
        }
        // A who byte without the high bit is a plain step, as in every committed input.
        assert_eq!(decode(&[0x22, 8]).to_inline(), "client abort");
    }

    proptest::proptest! {
        #[test]
        fn the_timer_cases_of_explore_encode_and_decode_back(
            s in crate::generate::timer_scenario_on(crate::run::Net::Loopback)
        ) {
            proptest::prop_assert_eq!(decode(&encode(&s).unwrap()), s);
        }
    }

    #[test]
    fn an_op_is_a_byte_modulo_18_and_the_old_codes_keep_their_meaning() {
        // The six ops before `poll` and `error` weighed 11, and committed fuzz inputs hold the
        // codes 0, 4, 7, 8, 9 and 10 (from `encode`) and 59 (from libFuzzer, a `read`).
        assert_eq!(op_modulus(), 18);
        for (code, kind) in [
            (0, OpKind::Write),
            (4, OpKind::Read),
            (7, OpKind::Close),
            (8, OpKind::Abort),
            (9, OpKind::Shutdown),
            (10, OpKind::Sleep),
            (59, OpKind::Read),
            (11, OpKind::Poll),
            (16, OpKind::Error),
            (17, OpKind::Error),
            (18, OpKind::Write),
        ] {
            assert_eq!(
                decode(&[0, code, 0, 0]).steps()[0].op.kind(),
                kind,
                "code {code}"
            );
        }
        for &(kind, _) in OP_CODES {
            let code = op_code(kind).unwrap();
            assert_eq!(decode(&[0, code, 0, 0]).steps()[0].op.kind(), kind);
        }
    }

    #[test]
    fn the_format_does_not_follow_the_generation_weights() {
        // Written out byte by byte: a change to the ops table's weights or to the language's
        // bounds must leave this input's meaning alone.
        let s = decode(&[1, 4, 0, 2, 0, 0, 6, 0x01, 0x2b, 1, 9, 2, 0, 10, 0x01, 0xf4]);
        assert_eq!(
            s.to_inline(),
            "server read 3; client write 300; server shutdown both; client sleep 500us"
        );
    }

    #[test]
    fn decoding_is_valid_even_from_long_inputs() {
        let bytes: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let s = decode(&bytes);
        assert!(s.steps().len() <= MAX_STEPS);
        assert_eq!(Scenario::new(s.steps().to_vec()).as_ref(), Ok(&s));
    }
}
