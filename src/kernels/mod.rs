//! Other kernels: Debian's kernel packages booted in a VM ([`vm`]), and the survey of a kernel
//! that runs every check there ([`survey`]); `rstlab kernels` drives both.

pub mod survey;
pub mod vm;
