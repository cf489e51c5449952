use super::*;

#[test]
fn the_automatic_decommit_batch_holds_at_most_256_mib_of_instances() {
    assert_eq!(auto_decommit_batch(64), 4, "the default 64 MiB instances");
    assert_eq!(auto_decommit_batch(4), 64);
    assert_eq!(auto_decommit_batch(1), 64, "at most 64");
    assert_eq!(
        auto_decommit_batch(0),
        64,
        "a zero limit is not a division by zero"
    );
    assert_eq!(auto_decommit_batch(1024), 1, "at least 1");
}

#[test]
fn switches_read_1_yes_and_on_from_the_environment_as_true() {
    use clap::CommandFactory as _;
    use clap::builder::TypedValueParser as _;
    let values = [
        ("1", true),
        ("yes", true),
        ("on", true),
        ("true", true),
        ("0", false),
        ("off", false),
    ];
    for (value, expected) in values {
        let parsed = boolish().parse_ref(&Cli::command(), None, std::ffi::OsStr::new(value));
        assert_eq!(parsed.ok(), Some(expected), "{value}");
    }
}
