//! Defaults the command line derives rather than states.

/// Memory a batch of freed instances may hold before it is returned, when
/// the operator sets no batch size: an 18 MB Python component dirties a
/// few MiB past what each slot keeps resident, so at batches of 64 a host
/// serving it at 50 req/s sat at 4x the memory of one returning each
/// instance at once.
pub const DECOMMIT_HELD_MIB: u64 = 256;
/// How switches read their environment variable: `1`, `yes`, `on` and
/// `true` (and `0`, `no`, `off`, `false`), as operators write them, not
/// only clap's default `true`/`false`.
pub(super) fn boolish() -> clap::builder::BoolishValueParser {
    clap::builder::BoolishValueParser::new()
}

/// Largest batch chosen automatically: where small components stop
/// gaining from larger ones.
const MAX_AUTO_DECOMMIT_BATCH: u64 = 64;

/// The batch whose instances at `instance_memory_mib` hold at most
/// [`DECOMMIT_HELD_MIB`] together; at least 1 (an instance limit above
/// 256 MiB holds more) and at most [`MAX_AUTO_DECOMMIT_BATCH`].
pub(super) fn auto_decommit_batch(instance_memory_mib: u64) -> usize {
    let batch = DECOMMIT_HELD_MIB / instance_memory_mib.max(1);
    usize::try_from(batch.clamp(1, MAX_AUTO_DECOMMIT_BATCH)).unwrap_or(1)
}
