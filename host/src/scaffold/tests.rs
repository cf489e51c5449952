use super::*;

#[test]
fn names_that_are_not_kebab_case_words_are_refused() {
    for bad in [
        "",
        "-a",
        "a-",
        "a--b",
        "A",
        "1a",
        "a-1b",
        "a_b",
        "a.b",
        "../a",
        "a/b",
        "a b",
        "é",
        "world",
        "type",
        "async",
        "std",
        "test",
        "wit-bindgen",
    ] {
        assert!(
            matches!(validate_name(bad), Err(ScaffoldError::Name(_))),
            "{bad:?} accepted"
        );
    }
    assert!(validate_name(&"a".repeat(MAX_NAME + 1)).is_err());
    for good in [
        "a",
        "hello",
        "hello-world2",
        "my-world",
        &"a".repeat(MAX_NAME),
    ] {
        assert!(validate_name(good).is_ok(), "{good:?} refused");
    }
}

#[test]
fn a_project_is_written_with_the_hosts_wit_and_its_own_world() {
    let parent = tempfile::tempdir().expect("temp dir");
    let project = create(parent.path(), "greeter", Language::Python).expect("created");
    let dir = parent.path().join("greeter");
    assert_eq!(project.dir, dir);
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).expect(file);
    assert_eq!(read("wit/deps/strata-host.wit"), wit::HOST_WIT);
    for (file, text) in wit::WIT_DEPS {
        assert_eq!(read(&format!("wit/deps/{file}")), *text, "{file}");
    }
    assert!(read("wit/app.wit").contains("package local:greeter;"));
    assert!(read("strata.toml").contains("[components.greeter]"));
    assert!(read("app.py").contains("class IncomingHandler"));
    assert!(project.build.contains("-w local:greeter/app"));
}

#[test]
fn every_language_gets_its_sources_and_a_manifest_naming_its_artifact() {
    let cases = [
        (
            Language::Rust,
            "src/lib.rs",
            "target/wasm32-wasip2/release/my_app.wasm",
        ),
        (Language::Python, "app.py", "my-app.wasm"),
        (Language::Js, "app.js", "my-app.wasm"),
    ];
    for (language, source, artifact) in cases {
        let written = files("my-app", language);
        let find = |path: &str| {
            written
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, text)| text.clone())
                .unwrap_or_else(|| panic!("{language:?}: no {path}"))
        };
        assert!(!find(source).is_empty());
        let manifest: toml::Table = find("strata.toml").parse().expect("manifest is TOML");
        assert_eq!(
            manifest["components"]["my-app"]["source"].as_str(),
            Some(artifact),
            "{language:?}"
        );
    }
}

#[test]
fn an_existing_folder_is_never_overwritten() {
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("taken");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("keep.txt"), "mine").expect("write");
    let error = create(parent.path(), "taken", Language::Js).expect_err("refused");
    assert!(matches!(error, ScaffoldError::Exists(_)), "{error}");
    assert_eq!(
        std::fs::read_to_string(dir.join("keep.txt")).expect("kept"),
        "mine"
    );
    assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 1);
}

#[test]
fn the_pinned_versions_are_the_ones_this_repository_builds_with() {
    let host_wit = wit::HOST_WIT;
    assert!(
        host_wit.contains(&format!("package strata:host@{STRATA_HOST_VERSION};")),
        "STRATA_HOST_VERSION is not wit/host.wit's"
    );
    let workspace = include_str!("../../../Cargo.toml");
    assert!(
        workspace.contains(&format!("wit-bindgen = \"{WIT_BINDGEN_VERSION}\"")),
        "WIT_BINDGEN_VERSION is not the workspace's"
    );
    let package: serde_json::Value =
        serde_json::from_str(&package_json("x")).expect("package.json is JSON");
    let example: serde_json::Value =
        serde_json::from_str(include_str!("../../../examples/hello-js/package.json"))
            .expect("the example's package.json is JSON");
    assert_eq!(
        package["devDependencies"], example["devDependencies"],
        "the toolchain pinned as in the example"
    );
    assert!(package["devDependencies"]["@bytecodealliance/componentize-js"].is_string());
}
