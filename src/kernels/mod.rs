//! Other kernels: Debian's kernel packages booted in a VM ([`vm`]), and the survey of a kernel
//! that runs every check there ([`survey`]); `rstlab kernels` drives both, and [`targets`]
//! decides which kernels a command line names.

pub mod lane;
pub mod silence;
pub mod survey;
pub mod vm;

/// One kernel to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// This machine's kernel, no VM.
    Host,
    /// A Debian series booted in a VM.
    Vm(&'static vm::Series),
}

/// A kernel name that is neither a known series nor `host`.
#[derive(Debug, thiserror::Error)]
#[error("unknown kernel {name:?}: give {known} or host", known = known_names())]
pub struct UnknownKernel {
    /// The name given.
    pub name: String,
}

fn known_names() -> String {
    vm::SERIES
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The kernels `names` stand for, in their order: every series and then `host` when `names` is
/// empty.
pub fn targets(names: &[String]) -> Result<Vec<Target>, UnknownKernel> {
    if names.is_empty() {
        return Ok(vm::SERIES
            .iter()
            .map(Target::Vm)
            .chain([Target::Host])
            .collect());
    }
    names
        .iter()
        .map(|name| match (name.as_str(), vm::series(name)) {
            ("host", _) => Ok(Target::Host),
            (_, Some(s)) => Ok(Target::Vm(s)),
            _ => Err(UnknownKernel { name: name.clone() }),
        })
        .collect()
}

impl Target {
    /// Its name on the command line and in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Target::Host => "host",
            Target::Vm(s) => s.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_name_is_every_series_then_the_host_and_an_unknown_one_is_refused() {
        let all = targets(&[]).unwrap();
        assert_eq!(all.len(), vm::SERIES.len() + 1);
        assert_eq!(all.last(), Some(&Target::Host));
        let some = targets(&["host".into(), "6.1".into()]).unwrap();
        assert_eq!(
            some.iter().map(|t| t.name()).collect::<Vec<_>>(),
            ["host", "6.1"]
        );
        let e = targets(&["4.4".into()]).unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown kernel \"4.4\": give 5.10, 6.1, 6.12, 7.3 or host"
        );
    }
}
