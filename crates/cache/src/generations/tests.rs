//! Pins which patterns take the one-command path and how generations
//! appear in Redis names, since every instance (of any version) must name
//! a key the same way, and checks that a resync reports exactly the
//! families whose changes were missed.

use super::*;

fn fields(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn only_a_whole_literal_family_is_a_family_clear() {
    assert_eq!(family_clear("market:*"), Some("market"));
    for finer in [
        "market:b*",
        "market*",
        "*",
        "mark?t:*",
        "a:b:*",
        ":*",
        "m*:*",
    ] {
        assert_eq!(family_clear(finer), None, "{finer}");
    }
}

#[test]
fn a_pattern_is_confined_to_a_family_only_when_its_family_part_is_literal() {
    assert_eq!(pattern_family("market:b*"), Some("market"));
    assert_eq!(pattern_family("market*"), None);
    assert_eq!(pattern_family("mar?et:btc"), None);
}

#[test]
fn generation_zero_keeps_the_plain_name_and_others_embed_it_in_the_family() {
    assert_eq!(generational_key("market:btc", 0), "market:btc");
    assert_eq!(generational_key("market:btc:1d", 3), "market@3:btc:1d");
    assert_eq!(generational_key("solo", 2), "solo@2");
}

#[test]
fn a_generational_name_reads_back_as_its_key_and_generation() {
    assert_eq!(
        parse_generational("market@3:btc:1d"),
        Some(("market:btc:1d".into(), 3))
    );
    assert_eq!(
        parse_generational("market:btc"),
        Some(("market:btc".into(), 0))
    );
    assert_eq!(parse_generational("solo@2"), Some(("solo".into(), 2)));
    assert_eq!(parse_generational("x@0:y"), None);
    assert_eq!(parse_generational("x@no:y"), None);
}

#[test]
fn a_resync_reports_only_families_that_changed() {
    let table = Generations::default();
    let first = table.resync(&fields(&[("epoch", "e"), ("g:a", "1"), ("c:b", "4")]));
    assert!(!first.everything);
    assert_eq!(table.current("a"), 1);
    table.saw(&Mark {
        family: Some("b".into()),
        value: 5,
    });
    let again = table.resync(&fields(&[
        ("epoch", "e"),
        ("g:a", "2"),
        ("c:b", "5"),
        ("g:c", "1"),
    ]));
    let mut changed = again.families;
    changed.sort();
    assert_eq!(changed, ["a", "c"]);
    assert!(!again.everything);
}

#[test]
fn a_mark_missed_between_two_seen_ones_is_noticed() {
    let table = Generations::default();
    table.resync(&fields(&[("epoch", "e"), ("c:a", "1")]));
    // Mark 3 arrived, mark 2 (another publisher's) was lost.
    table.saw(&Mark {
        family: Some("a".into()),
        value: 3,
    });
    let resync = table.resync(&fields(&[("epoch", "e"), ("c:a", "3")]));
    assert_eq!(resync.families, ["a"]);
}

#[test]
fn the_shared_mark_or_a_new_epoch_drops_everything() {
    let table = Generations::default();
    table.resync(&fields(&[("epoch", "e"), ("g:a", "4")]));
    assert!(
        table
            .resync(&fields(&[("epoch", "e"), ("c:*", "1")]))
            .everything
    );
    let replaced = table.resync(&fields(&[("epoch", "f"), ("g:a", "1")]));
    assert!(replaced.everything);
    assert_eq!(table.current("a"), 1, "a replaced hash is adopted as is");
}

#[test]
fn a_generation_never_goes_back_within_one_epoch() {
    let table = Generations::default();
    table.resync(&fields(&[("epoch", "e")]));
    assert!(table.adopt("a", 5));
    table.resync(&fields(&[("epoch", "e"), ("g:a", "4")]));
    assert_eq!(table.current("a"), 5);
}
