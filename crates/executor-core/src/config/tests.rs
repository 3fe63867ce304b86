//! The config parser with `local` and a fake backend; the real backends'
//! sections are tested with the binary that lists them (executor-cli).

use std::path::Path;

use serde::Deserialize;

use super::*;

/// A backend with a required key and a typed one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FakeSection {
    image: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
}

#[derive(Debug, PartialEq)]
struct FakeSettings {
    image: String,
    port: Option<u16>,
}

impl Settings for FakeSettings {
    const TYPE: &'static str = "fake";
    fn target(&self) -> String {
        format!("fake {}", self.image)
    }
}

impl Section for FakeSection {
    type Settings = FakeSettings;
    fn settings(self, executor: &Named<'_>) -> Result<FakeSettings, SectionError> {
        let image = self.image.ok_or_else(|| executor.needs("image"))?;
        Ok(FakeSettings {
            image: image.value,
            port: self.port.map(|p| p.value),
        })
    }
}

/// The fake backend builds no executor: these tests only parse.
struct FakeBackend;

impl crate::backend::Backend for FakeBackend {
    type Section = FakeSection;
    fn executor(
        config: &ExecutorConfig,
        _: &FakeSettings,
        _: &crate::Paths,
        _: &str,
    ) -> Result<Box<dyn crate::Executor>, crate::ExecutorError> {
        Err(crate::ExecutorError::failed(&config.name, "a fake backend"))
    }
}

crate::backends!(Fake: FakeBackend);

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse::<Fake>(text, Path::new("c.yaml"))
}

fn error_of(text: &str) -> String {
    parse(text).expect_err("an invalid config").to_string()
}

#[test]
fn sections_are_typed_by_type() {
    let config = parse(
        "executors:\n  - name: f\n    type: fake\n    image: i\n    port: 8\n    labels: [x]\n  - name: l\n    type: local\n",
    )
    .expect("valid");
    assert_eq!(config.executor_names(), ["f", "l", "local"]);
    let f = config.executor("f").expect("f");
    assert_eq!(
        f.settings.get::<FakeSettings>(),
        Some(&FakeSettings {
            image: "i".into(),
            port: Some(8)
        })
    );
    assert_eq!(
        f.settings,
        ExecutorSettings::new(FakeSettings {
            image: "i".into(),
            port: Some(8)
        })
    );
    assert_ne!(f.settings, ExecutorSettings::LOCAL);
    assert_eq!(
        (f.executor_type().as_str(), f.target()),
        ("fake", "fake i".into())
    );
    assert_eq!(f.labels, ["x"]);
    let l = config.executor("l").expect("l");
    assert_eq!(l.settings, ExecutorSettings::LOCAL);
    assert_eq!(l.target(), "this machine");
    assert!(config.executor("local").expect("builtin").builtin);
}

#[test]
fn sample_parses_and_has_local() {
    let config = Config::parse::<LocalOnly>(SAMPLE_CONFIG, Path::new("c.yaml")).expect("sample");
    assert_eq!(config.executor_names(), ["local"]);
    assert!(!config.executor("local").expect("local").builtin);
    let empty = Config::parse::<LocalOnly>("", Path::new("c.yaml")).expect("empty");
    assert_eq!(empty.executor_names(), ["local"]);
}

#[test]
fn unknown_key_names_key_line_and_the_keys_of_the_type() {
    let err = error_of("executors:\n  - name: a\n    type: local\n    labelz: [x]\n");
    assert!(err.starts_with("c.yaml: line 4: "), "{err}");
    assert!(
        err.contains("`labelz`") && err.contains("max_concurrent"),
        "{err}"
    );
    assert!(!err.contains("image"), "{err}");
    let err = error_of("executors:\n  - name: a\n    type: fake\n    image: i\n    bogus: 1\n");
    assert!(err.starts_with("c.yaml: line 5: "), "{err}");
    assert!(
        err.contains("`bogus`") && err.contains("image, port"),
        "{err}"
    );
}

#[test]
fn keys_of_other_types_are_rejected() {
    let err = error_of("executors:\n  - name: a\n    type: local\n    image: x\n");
    assert_eq!(
        err,
        "c.yaml: line 4: key `image` is not valid for an executor of type local"
    );
    let err = error_of("executors:\n  - name: a\n    type: fake\n");
    assert_eq!(
        err,
        "c.yaml: line 2: executor `a` of type fake needs key `image`"
    );
}

#[test]
fn type_may_follow_its_keys() {
    let config = parse("executors:\n  - image: i\n    port: 2\n    name: a\n    type: fake\n")
        .expect("type after the keys");
    let fake = config
        .executor("a")
        .expect("a")
        .settings
        .get::<FakeSettings>();
    assert_eq!(fake.map(|f| f.port), Some(Some(2)));
    let err = error_of("executors:\n  - name: a\n    image: i\n    type: local\n");
    assert_eq!(
        err,
        "c.yaml: line 3: key `image` is not valid for an executor of type local"
    );
}

#[test]
fn wrong_types_and_unknown_types_name_key_and_line() {
    let err = error_of("executors:\n  - name: a\n    type: fake\n    image: i\n    port: lots\n");
    assert!(err.starts_with("c.yaml: line 5: key `port`"), "{err}");
    let err = error_of("defaults:\n  max_turns: many\n");
    assert!(err.starts_with("c.yaml: line 2: key `max_turns`"), "{err}");
    let err = error_of("executors:\n  - name: a\n    type: kubernetes\n    image: i\n");
    assert_eq!(
        err,
        "c.yaml: line 3: key `type`: unknown executor type `kubernetes`, expected one of local, fake"
    );
    let err = error_of("executors:\n  - name: a\n    type:\n");
    assert_eq!(err, "c.yaml: line 3: key `type`: no value given");
    let err = error_of("executors:\n  - name: a\n");
    assert!(err.contains("missing field `type`"), "{err}");
}

#[test]
fn duplicate_and_bad_names_are_rejected() {
    let err = error_of(
        "executors:\n  - name: a\n    type: local\n  - name: a\n    type: fake\n    image: i\n",
    );
    assert_eq!(
        err,
        "c.yaml: line 4: key `name`: duplicate executor name `a` (first defined on line 2)"
    );
    for name in ["a/b", "..", "\"a\\u0007b\"", "\" \""] {
        let err = error_of(&format!("executors:\n  - name: {name}\n    type: local\n"));
        assert!(
            err.starts_with("c.yaml: line 2: key `name`: executor name"),
            "{err}"
        );
        assert!(!err.contains('\u{7}'), "{err:?}");
    }
}

#[test]
fn malformed_yaml_and_duplicate_keys_in_our_words() {
    let err = error_of("executors:\n  - name: a\n    type: [local\n");
    assert!(err.starts_with("c.yaml: line "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let err = error_of("executors:\n  - name: a\n    type: local\n    type: fake\n");
    assert_eq!(err, "c.yaml: line 4: key `type` is given twice");
    let err = error_of("defaults:\n  stall_timeout: [1]\n");
    assert_eq!(
        err,
        "c.yaml: line 2: key `stall_timeout`: not a duration such as 600, 90s, 10m or 2h"
    );
}

#[test]
fn defaults_are_checked() {
    let err = error_of("executors: []\ndefaults:\n  max_turns: 0\n");
    assert_eq!(err, "c.yaml: line 3: key `max_turns`: must be at least 1");
    let err = error_of("defaults:\n  claude_path: c\n  webhook_url: ftp://x\n");
    assert!(
        err.starts_with("c.yaml: line 3: key `webhook_url`"),
        "{err}"
    );
    let err = error_of("defaults:\n  stall_timeout: 99999999999999999h\n");
    assert!(
        err.starts_with("c.yaml: line 2: key `stall_timeout`"),
        "{err}"
    );
}

#[test]
fn env_allow_root_and_stall_settings() {
    let config = parse(
        "executors:\n  - name: a\n    type: local\n    allow_root: true\n    env: [ANTHROPIC_API_KEY, MODE=fast, EMPTY=]\ndefaults:\n  stall_timeout: 10m\n  kill_on_stall: true\n",
    )
    .expect("valid");
    let a = config.executor("a").expect("a");
    assert!(a.allow_root);
    assert_eq!(
        a.env,
        [
            EnvEntry::Forward("ANTHROPIC_API_KEY".into()),
            EnvEntry::Fixed("MODE".into(), "fast".into()),
            EnvEntry::Fixed("EMPTY".into(), String::new()),
        ]
    );
    assert_eq!(config.defaults.stall_timeout.as_secs(), 600);
    assert!(config.defaults.kill_on_stall);
    let seconds = parse("defaults:\n  stall_timeout: 45\n").expect("valid");
    assert_eq!(seconds.defaults.stall_timeout.as_secs(), 45);
    let err = error_of("defaults:\n  stall_timeout: soon\n");
    assert!(
        err.starts_with("c.yaml: line 2: key `stall_timeout`"),
        "{err}"
    );
    let err = error_of("executors:\n  - name: a\n    type: local\n    env: [\"BAD NAME\"]\n");
    assert!(err.starts_with("c.yaml: line 4: key `env`"), "{err}");
}

#[test]
fn section_keys_come_from_the_structs() {
    assert_eq!(section_keys::<FakeSection>(), ["image", "port"]);
    assert_eq!(Fake::types(), ["fake"]);
    assert_eq!(Fake::section_keys("fake"), ["image", "port"]);
    assert!(Fake::section_keys("local").is_empty());
}
