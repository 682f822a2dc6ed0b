//! A kernel tracepoint recorded into a perf ring buffer on one CPU, read without a syscall.
//!
//! `perf_event_open(2)` with `PERF_TYPE_TRACEPOINT` records each firing of the tracepoint as a
//! sample (its raw fields and the time) into a ring that the kernel shares with the process
//! through `mmap`: reading it is two loads and a store, where `trace_pipe` costs a `read` that
//! takes locks and formats each event as text. The event exists only while its descriptor is
//! open, so nothing outlives the process, however it ends. The types and constants come from
//! `perf-event-open-sys` (bindgen of `<linux/perf_event.h>`).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use perf_event_open_sys as perf;

/// One tracepoint's samples on one CPU, in a ring of its own; see the [module](self).
#[derive(Debug)]
pub struct TraceRing {
    /// The event: it records as long as its descriptor is open, and ends with it.
    _event: OwnedFd,
    /// The mapping: one page of control (`perf_event_mmap_page`), then the data.
    map: NonNull<u8>,
    len: usize,
    /// Where the data starts in the mapping, and its size (a power of two).
    data_offset: usize,
    data_size: usize,
}

// SAFETY: the mapping belongs to this value alone (nothing else holds its address), and the
// kernel's side of it is synchronized through `data_head` and `data_tail` as the ABI says.
unsafe impl Send for TraceRing {}

impl TraceRing {
    /// Records tracepoint `id` (`events/SYSTEM/NAME/id` in tracefs) on `cpu`, with the time of
    /// each sample by `CLOCK_MONOTONIC`, into a ring of `pages` pages (a power of two).
    /// Needs root: `CAP_PERFMON` (or a low `perf_event_paranoid`) to record a tracepoint on a
    /// whole CPU, and `CAP_IPC_LOCK` to map rings past the per-user `perf_event_mlock_kb`.
    pub fn open(id: u64, cpu: u32, pages: usize) -> io::Result<TraceRing> {
        if !pages.is_power_of_two() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a perf ring's pages must be a power of two",
            ));
        }
        let mut attr = perf::bindings::perf_event_attr {
            type_: perf::bindings::PERF_TYPE_TRACEPOINT,
            size: std::mem::size_of::<perf::bindings::perf_event_attr>() as u32,
            config: id,
            sample_type: u64::from(perf::bindings::PERF_SAMPLE_TIME)
                | u64::from(perf::bindings::PERF_SAMPLE_RAW),
            clockid: libc::CLOCK_MONOTONIC,
            ..Default::default()
        };
        attr.__bindgen_anon_1.sample_period = 1;
        attr.set_use_clockid(1);
        // Nobody waits on the descriptor: wake no one until the ring is half full.
        attr.set_watermark(1);
        attr.__bindgen_anon_2.wakeup_watermark = (pages * page_size() / 2) as u32;
        // SAFETY: `attr` is a whole, zero-initialized `perf_event_attr` of the size it states;
        // the call reads it (and may write the size back) and returns a new descriptor, which
        // nothing else owns, or -1.
        let fd = unsafe {
            let fd = perf::perf_event_open(
                &mut attr,
                -1,
                cpu as libc::c_int,
                -1,
                u64::from(perf::bindings::PERF_FLAG_FD_CLOEXEC) as libc::c_ulong,
            );
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(fd)
        };
        let len = (pages + 1) * page_size();
        // SAFETY: a new shared mapping of the descriptor, at an address the kernel picks; it
        // is unmapped only by the drop, and its length is what the kernel expects (one control
        // page and a power of two of data pages).
        let map = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
                &fd,
                0,
            )
        }
        .map_err(io::Error::from)?;
        let map =
            NonNull::new(map.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(TraceRing {
            _event: fd,
            map,
            len,
            data_offset: page_size(),
            data_size: pages * page_size(),
        })
    }

    /// Appends to `out` the records the kernel wrote since the last call (each a
    /// `perf_event_header` and its body, in the order written), and gives their room back.
    /// Returns how full the ring was, in bytes, out of [`TraceRing::size`]: a ring that was too
    /// full for the next record lost it, and the kernel says so (`PERF_RECORD_LOST`) only once
    /// a record fits again, after this reading.
    pub fn drain(&mut self, out: &mut Vec<u8>) -> usize {
        let page = self
            .map
            .as_ptr()
            .cast::<perf::bindings::perf_event_mmap_page>();
        // SAFETY: both pages and the data area stay mapped for the life of `self`. The kernel
        // writes `data_head` and reads `data_tail` (aligned u64s) concurrently: atomics, acquire
        // before reading the data and release after (perf_event_open(2)). Bytes between tail and
        // head are finished records the kernel leaves alone until the tail passes them, and
        // `start + first` and `new - first` stay within the `data_size` bytes of the data area.
        unsafe {
            let head = AtomicU64::from_ptr(&raw mut (*page).data_head).load(Ordering::Acquire);
            let tail = AtomicU64::from_ptr(&raw mut (*page).data_tail).load(Ordering::Relaxed);
            let new = head.wrapping_sub(tail) as usize;
            if new == 0 {
                return 0;
            }
            if new > self.data_size {
                // Never by the ABI (the kernel keeps head - tail within the ring); should it
                // happen, nothing between them can be trusted: give it all back, and say the
                // ring was full, which its reader counts as a loss.
                AtomicU64::from_ptr(&raw mut (*page).data_tail).store(head, Ordering::Release);
                return self.data_size;
            }
            let start = tail as usize & (self.data_size - 1);
            let first = new.min(self.data_size - start);
            let data = self.map.as_ptr().add(self.data_offset);
            out.extend_from_slice(std::slice::from_raw_parts(data.add(start), first));
            out.extend_from_slice(std::slice::from_raw_parts(data, new - first));
            AtomicU64::from_ptr(&raw mut (*page).data_tail).store(head, Ordering::Release);
            new
        }
    }

    /// The size of the ring's data area, in bytes.
    pub fn size(&self) -> usize {
        self.data_size
    }
}

impl Drop for TraceRing {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `open` with this length and is not used after this.
        let _ = unsafe { rustix::mm::munmap(self.map.as_ptr().cast(), self.len) };
        // The descriptor closes after this, with the event.
    }
}

/// The size of a page, which the ring's mapping counts in.
fn page_size() -> usize {
    rustix::param::page_size()
}
