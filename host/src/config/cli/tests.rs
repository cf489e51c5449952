use super::*;

fn batch(args: &[&str]) -> usize {
    Cli::parse_from(std::iter::once("strata").chain(args.iter().copied())).decommit_batch()
}

#[test]
fn the_decommit_batch_holds_at_most_256_mib_of_instances_unless_set() {
    assert_eq!(batch(&[]), 4, "64 MiB instances");
    assert_eq!(batch(&["--instance-memory-mib", "4"]), 64);
    assert_eq!(batch(&["--instance-memory-mib", "1"]), 64, "at most 64");
    assert_eq!(batch(&["--instance-memory-mib", "1024"]), 1, "at least 1");
    assert_eq!(
        batch(&["--decommit-batch-size", "32"]),
        32,
        "the operator's"
    );
}
