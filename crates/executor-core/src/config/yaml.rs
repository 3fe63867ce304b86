//! From YAML text to the raw config, keeping lines.
//!
//! serde's own tagged enums (`#[serde(tag = "type")]`) and `flatten` buffer
//! values, which loses the parser's positions (`Spanned` then says line 0).
//! So the tag is read in a first, lenient pass over the text, and the second
//! pass deserializes each executor with its type already known: the common
//! keys and the type's own section come straight from the parser.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::backend::{Backends, SectionError};
use super::defaults::RawDefaults;
use super::executor::{ExecutorSeed, RawExecutor};

/// An error found in the config: its line and what is wrong, in our words.
pub(super) type Invalid = SectionError;

pub(super) struct RawConfig {
    pub executors: Vec<RawExecutor>,
    pub defaults: Option<RawDefaults>,
    pub prices: std::collections::BTreeMap<String, crate::model::Price>,
}

const TOP_KEYS: &[&str] = &["executors", "defaults", "prices"];

pub(super) fn parse<B: Backends>(text: &str) -> Result<RawConfig, Invalid> {
    if text.trim().is_empty() {
        return Ok(RawConfig {
            executors: Vec::new(),
            defaults: None,
            prices: Default::default(),
        });
    }
    // A text the first pass cannot read fails the second pass too, which says why.
    let kinds = serde_saphyr::from_str::<Probe>(text)
        .map(|probe| probe.executors.into_iter().map(|e| e.0).collect())
        .unwrap_or_default();
    serde_saphyr::with_deserializer_from_str(text, |d| {
        ConfigSeed::<B> {
            kinds,
            backends: PhantomData,
        }
        .deserialize(d)
    })
    .map_err(|err| {
        let line = err.location().map(|l| l.line()).unwrap_or(1).max(1);
        (line, describe_parse_error(&err, text, line))
    })
}

/// First pass: only each executor's `type`, ignoring everything else.
#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    executors: Vec<ProbeExecutor>,
}

struct ProbeExecutor(Option<String>);

impl<'de> Deserialize<'de> for ProbeExecutor {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ProbeExecutor;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an executor mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ProbeExecutor, A::Error> {
                let mut kind = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "type" {
                        kind = map.next_value::<ProbeKind>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(ProbeExecutor(kind))
            }
        }
        d.deserialize_map(V)
    }
}

/// A `type` value if it names a known type; anything else is left to the second pass.
struct ProbeKind(Option<String>);

impl<'de> Deserialize<'de> for ProbeKind {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ProbeKind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("anything")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ProbeKind, E> {
                Ok(ProbeKind(Some(v.to_owned())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<ProbeKind, E> {
                Ok(ProbeKind(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<ProbeKind, E> {
                Ok(ProbeKind(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<ProbeKind, E> {
                Ok(ProbeKind(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<ProbeKind, E> {
                Ok(ProbeKind(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<ProbeKind, E> {
                Ok(ProbeKind(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<ProbeKind, E> {
                Ok(ProbeKind(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ProbeKind, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ProbeKind(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ProbeKind, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ProbeKind(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// Second pass: the whole config, each executor with the type the first pass found.
struct ConfigSeed<B> {
    kinds: Vec<Option<String>>,
    backends: PhantomData<B>,
}

impl<'de, B: Backends> DeserializeSeed<'de> for ConfigSeed<B> {
    type Value = RawConfig;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<RawConfig, D::Error> {
        d.deserialize_struct("RawConfig", TOP_KEYS, self)
    }
}

impl<'de, B: Backends> Visitor<'de> for ConfigSeed<B> {
    type Value = RawConfig;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping with `executors` and `defaults`")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawConfig, A::Error> {
        let mut config = RawConfig {
            executors: Vec::new(),
            defaults: None,
            prices: Default::default(),
        };
        let mut kinds = Some(self.kinds);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "executors" => {
                    let kinds = kinds.take().unwrap_or_default();
                    config.executors = map.next_value_seed(ExecutorsSeed::<B> {
                        kinds,
                        backends: PhantomData,
                    })?;
                }
                "defaults" => config.defaults = map.next_value()?,
                "prices" => {
                    config.prices = map
                        .next_value::<Option<std::collections::BTreeMap<_, _>>>()?
                        .unwrap_or_default();
                }
                _ => return Err(de::Error::unknown_field(&key, TOP_KEYS)),
            }
        }
        Ok(config)
    }
}

struct ExecutorsSeed<B> {
    kinds: Vec<Option<String>>,
    backends: PhantomData<B>,
}

impl<'de, B: Backends> DeserializeSeed<'de> for ExecutorsSeed<B> {
    type Value = Vec<RawExecutor>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, B: Backends> Visitor<'de> for ExecutorsSeed<B> {
    type Value = Vec<RawExecutor>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of executors")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut executors = Vec::new();
        loop {
            let kind = self.kinds.get(executors.len()).cloned().flatten();
            let seed = ExecutorSeed::<B> {
                kind,
                backends: PhantomData,
            };
            match seq.next_element_seed(seed)? {
                Some(executor) => executors.push(executor),
                None => return Ok(executors),
            }
        }
    }
}

/// Turns a parser error into one line: the message, in our words, plus the key it concerns.
fn describe_parse_error(err: &serde_saphyr::Error, text: &str, line: u64) -> String {
    let full = err.to_string();
    let first = full.lines().next().unwrap_or("invalid YAML");
    // The parser prefixes "error: line L column C: "; the caller prints the line itself.
    let message = first
        .trim_start_matches("error: ")
        .split_once(": ")
        .filter(|(position, _)| position.starts_with("line "))
        .map_or(first, |(_, rest)| rest);
    let message = in_our_words(message);
    let key = text
        .lines()
        .nth(line.saturating_sub(1) as usize)
        .and_then(|source_line| {
            let trimmed = source_line.trim_start().trim_start_matches("- ");
            let (key, _) = trimmed.split_once(':')?;
            let key = key.trim();
            (!key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_'))
                .then(|| key.to_owned())
        });
    match key {
        Some(key) if !message.contains(&format!("`{key}`")) => format!("key `{key}`: {message}"),
        _ => message,
    }
}

/// Rewords the parser's and serde's messages that name their own internals.
fn in_our_words(message: &str) -> String {
    if message.contains("DuplicateKeyPolicy") {
        return match message
            .strip_prefix("duplicate mapping key: ")
            .and_then(|rest| rest.split_once(", set DuplicateKeyPolicy"))
        {
            Some((key, _)) => format!("key `{}` is given twice", key.trim()),
            None => "a key is given twice".into(),
        };
    }
    if message.contains("untagged enum RawDuration") {
        return "not a duration such as 600, 90s, 10m or 2h".into();
    }
    if message.starts_with("cannot deserialize null") {
        return "no value given".into();
    }
    if message.contains("untagged enum") {
        return "the value does not have the expected shape".into();
    }
    let replacements = [
        (
            "externally tagged enum expected scalar or mapping",
            "expected a single word",
        ),
        ("expected sequence start", "expected a list"),
        ("expected mapping start", "expected a mapping of keys"),
        ("expected string scalar", "expected a single value"),
    ];
    for (theirs, ours) in replacements {
        if message.contains(theirs) {
            return message.replace(theirs, ours);
        }
    }
    message.to_owned()
}
