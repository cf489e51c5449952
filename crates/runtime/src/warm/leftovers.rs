//! What a call may leave in the store's resource table and still have its
//! instance reused.
//!
//! A guest's libc keeps the stdin, stdout and stderr streams it opened (and
//! pollables on them) for the life of the instance, so a table that must be
//! empty would retire every component that ever printed. Those streams
//! carry nothing of a request: what a request writes to them is logged
//! under its own id, and the next request starts a fresh account
//! (`crate::output`). Everything that does is another type: the
//! incoming request, its fields, the outparam, response, bodies, trailers,
//! cache leases. A body's stream is a *child* of its body, and the table
//! refuses to delete a resource that still has children, so a kept body
//! stream keeps its body in the table too, where it is seen. Any entry of
//! another type retires the instance.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable};

/// Most instance-level streams a parked instance may keep: a libc keeps
/// three; a guest hoarding more is holding host memory.
const MAX_KEPT: usize = 16;

/// Whether everything left in `table` is instance-level stdio state, few
/// enough to keep.
pub(super) fn only_instance_state(table: &mut ResourceTable) -> bool {
    let mut kept = 0;
    for entry in table.iter_mut() {
        let stdio = entry.is::<DynOutputStream>()
            || entry.is::<DynInputStream>()
            || entry.is::<DynPollable>();
        if !stdio {
            return false;
        }
        kept += 1;
        if kept > MAX_KEPT {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_is_reusable() {
        assert!(only_instance_state(&mut ResourceTable::new()));
    }

    #[test]
    fn a_kept_stdout_stream_is_reusable() {
        let mut table = ResourceTable::new();
        let stdout: DynOutputStream = Box::new(wasmtime_wasi::p2::pipe::SinkOutputStream);
        table.push(stdout).expect("push");
        assert!(only_instance_state(&mut table));
    }

    #[test]
    fn the_hosts_captured_stdout_and_stderr_are_reusable() {
        use crate::output::{GuestOutput, Source, Stream};
        use wasmtime_wasi::cli::StdoutStream;
        let output = GuestOutput::new(Source {
            component: "c".into(),
            version: "v".into(),
            request_id: None,
        });
        let mut table = ResourceTable::new();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let stream: DynOutputStream = output.stream(stream).p2_stream();
            table.push(stream).expect("push");
        }
        assert!(only_instance_state(&mut table));
    }

    #[test]
    fn anything_else_retires_the_instance() {
        let mut table = ResourceTable::new();
        table.push(String::from("request state")).expect("push");
        assert!(!only_instance_state(&mut table));
    }

    #[test]
    fn a_hoard_of_streams_retires_the_instance() {
        let mut table = ResourceTable::new();
        for _ in 0..=MAX_KEPT {
            let stream: DynOutputStream = Box::new(wasmtime_wasi::p2::pipe::SinkOutputStream);
            table.push(stream).expect("push");
        }
        assert!(!only_instance_state(&mut table));
    }
}
