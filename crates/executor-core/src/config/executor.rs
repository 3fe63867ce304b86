//! One executor: the keys every type shares, and the typed section of its `type`.

use std::fmt;

use serde::Deserialize;
use serde::de::{
    self, DeserializeSeed, IgnoredAny, IntoDeserializer, MapAccess, Visitor,
    value::MapAccessDeserializer,
};
use serde_saphyr::Spanned;

use super::container::{ContainerSection, ContainerSettings};
use super::local::LocalSection;
use super::slurm::{SlurmSection, SlurmSettings};
use super::ssh::{SshSection, SshSettings};
use super::values::EnvEntry;
use super::yaml::{Invalid, keys_of};

/// Name of the executor that exists even without a config file.
pub const BUILTIN_LOCAL: &str = "local";

#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorConfig {
    pub name: String,
    pub labels: Vec<String>,
    /// Path of the `claude` binary on the executing side; falls back to the defaults.
    pub claude_path: Option<String>,
    /// Environment for payloads: variables forwarded by name, and fixed pairs.
    pub env: Vec<EnvEntry>,
    /// Tasks this executor runs at once; more wait as `queued`.
    pub max_concurrent: Option<u32>,
    /// Lets claude run as root by setting `IS_SANDBOX=1` (claude refuses
    /// `--dangerously-skip-permissions` as root otherwise).
    pub allow_root: bool,
    pub settings: ExecutorSettings,
    /// Whether this executor was synthesised because the config did not define it.
    pub builtin: bool,
}

/// The typed settings of one backend, tagged by the executor's `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutorSettings {
    Local,
    Ssh(SshSettings),
    Container(ContainerSettings),
    Slurm(SlurmSettings),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorType {
    Ssh,
    Container,
    Local,
    Slurm,
}

impl ExecutorType {
    const ALL: [Self; 4] = [Self::Ssh, Self::Container, Self::Local, Self::Slurm];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ssh => "ssh",
            Self::Container => "container",
            Self::Local => "local",
            Self::Slurm => "slurm",
        }
    }

    pub(super) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// Reads this type's section from the executor's mapping. Adding a backend
    /// means a section module and one arm here.
    fn section<'de, A: MapAccess<'de>>(
        self,
        keys: SectionKeys<'_, A>,
    ) -> Result<Box<dyn Section>, A::Error> {
        fn read<'de, S, A>(mut keys: SectionKeys<'_, A>) -> Result<Box<dyn Section>, A::Error>
        where
            S: Section + de::DeserializeOwned + 'static,
            A: MapAccess<'de>,
        {
            keys.own = keys_of::<S>();
            Ok(Box::new(S::deserialize(MapAccessDeserializer::new(keys))?))
        }
        match self {
            Self::Local => read::<LocalSection, A>(keys),
            Self::Ssh => read::<SshSection, A>(keys),
            Self::Container => read::<ContainerSection, A>(keys),
            Self::Slurm => read::<SlurmSection, A>(keys),
        }
    }

    /// The keys of this type's section.
    fn section_keys(self) -> &'static [&'static str] {
        match self {
            Self::Local => keys_of::<LocalSection>(),
            Self::Ssh => keys_of::<SshSection>(),
            Self::Container => keys_of::<ContainerSection>(),
            Self::Slurm => keys_of::<SlurmSection>(),
        }
    }
}

impl fmt::Display for ExecutorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A backend's settings section as read from the YAML, not yet checked.
pub(super) trait Section {
    fn settings(self: Box<Self>, executor: &Named<'_>) -> Result<ExecutorSettings, Invalid>;
}

/// The executor a section belongs to, for messages.
pub(super) struct Named<'a> {
    pub name: &'a str,
    pub line: u64,
    pub kind: ExecutorType,
}

impl Named<'_> {
    pub fn needs(&self, key: &str) -> Invalid {
        (
            self.line,
            format!(
                "executor `{}` of type {} needs key `{key}`",
                self.name, self.kind
            ),
        )
    }
}

impl ExecutorConfig {
    pub fn builtin_local() -> Self {
        Self {
            name: BUILTIN_LOCAL.to_owned(),
            labels: Vec::new(),
            claude_path: None,
            env: Vec::new(),
            max_concurrent: None,
            allow_root: false,
            settings: ExecutorSettings::Local,
            builtin: true,
        }
    }

    pub fn executor_type(&self) -> ExecutorType {
        match self.settings {
            ExecutorSettings::Local => ExecutorType::Local,
            ExecutorSettings::Ssh(_) => ExecutorType::Ssh,
            ExecutorSettings::Container(_) => ExecutorType::Container,
            ExecutorSettings::Slurm(_) => ExecutorType::Slurm,
        }
    }

    /// A short human description of where this executor runs tasks.
    pub fn target(&self) -> String {
        match &self.settings {
            ExecutorSettings::Local => "this machine".to_owned(),
            ExecutorSettings::Ssh(ssh) => ssh.target(),
            ExecutorSettings::Container(container) => container.target(),
            ExecutorSettings::Slurm(slurm) => slurm.target(),
        }
    }
}

/// Keys every executor type accepts.
const COMMON_KEYS: &[&str] = &[
    "name",
    "type",
    "labels",
    "claude_path",
    "env",
    "allow_root",
    "max_concurrent",
];

#[derive(Default)]
struct CommonKeys {
    name: Option<Spanned<String>>,
    kind: Option<Spanned<ExecutorType>>,
    labels: Option<Vec<String>>,
    claude_path: Option<String>,
    env: Option<Vec<Spanned<String>>>,
    allow_root: Option<bool>,
    max_concurrent: Option<Spanned<u32>>,
}

impl CommonKeys {
    /// Reads the value of `key` if it is a common key; `false` if it is not one.
    fn read<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        match key {
            "name" => self.name = Some(map.next_value()?),
            "type" => self.kind = Some(map.next_value()?),
            "labels" => self.labels = Some(map.next_value()?),
            "claude_path" => self.claude_path = map.next_value()?,
            "env" => self.env = Some(map.next_value()?),
            "allow_root" => self.allow_root = Some(map.next_value()?),
            "max_concurrent" => self.max_concurrent = map.next_value()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The executor's mapping as its type's section sees it: common keys are read
/// aside, keys of other types are noted (with their line) and skipped, and only
/// the section's own keys reach its derived `Deserialize`, whose values still
/// come straight from the parser.
struct SectionKeys<'a, A> {
    map: &'a mut A,
    common: &'a mut CommonKeys,
    foreign: &'a mut Option<(String, u64)>,
    kind: Option<ExecutorType>,
    own: &'static [&'static str],
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SectionKeys<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.map.next_key::<String>()? else {
                return Ok(None);
            };
            if self.common.read(&key, self.map)? {
                continue;
            }
            let of_some_type = ExecutorType::ALL
                .iter()
                .any(|kind| kind.section_keys().contains(&key.as_str()));
            // Without a known type, any type's key is let through; `type` is reported instead.
            let own = match self.kind {
                Some(_) => self.own.contains(&key.as_str()),
                None => of_some_type,
            };
            if own {
                return seed.deserialize(key.into_deserializer()).map(Some);
            }
            if of_some_type {
                let value: Spanned<IgnoredAny> = self.map.next_value()?;
                self.foreign.get_or_insert((key, value.referenced.line()));
                continue;
            }
            let expected: Vec<&str> = COMMON_KEYS.iter().chain(self.own).copied().collect();
            return Err(de::Error::unknown_field(&key, leak(expected)));
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// `unknown_field` wants a static list; the error ends the parse, so this leaks once per run.
fn leak(keys: Vec<&'static str>) -> &'static [&'static str] {
    Box::leak(keys.into_boxed_slice())
}

/// An executor as read, before its values are checked.
pub(super) struct RawExecutor {
    name: Spanned<String>,
    kind: Spanned<ExecutorType>,
    common: CommonKeys,
    foreign: Option<(String, u64)>,
    section: Option<Box<dyn Section>>,
}

/// Reads one executor whose type the first pass found (`None`: missing or unknown).
pub(super) struct ExecutorSeed {
    pub kind: Option<ExecutorType>,
}

impl<'de> DeserializeSeed<'de> for ExecutorSeed {
    type Value = RawExecutor;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<RawExecutor, D::Error> {
        d.deserialize_struct("RawExecutor", COMMON_KEYS, self)
    }
}

impl<'de> Visitor<'de> for ExecutorSeed {
    type Value = RawExecutor;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an executor mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawExecutor, A::Error> {
        let mut common = CommonKeys::default();
        let mut foreign = None;
        let keys = SectionKeys {
            map: &mut map,
            common: &mut common,
            foreign: &mut foreign,
            kind: self.kind,
            own: &[],
        };
        let section = match self.kind {
            Some(kind) => Some(kind.section(keys)?),
            None => {
                let mut keys = keys;
                while keys.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                None
            }
        };
        let name = common
            .name
            .take()
            .ok_or_else(|| de::Error::missing_field("name"))?;
        let kind = common
            .kind
            .take()
            .ok_or_else(|| de::Error::missing_field("type"))?;
        Ok(RawExecutor {
            name,
            kind,
            common,
            foreign,
            section,
        })
    }
}

impl RawExecutor {
    /// The executor's name and the line it is defined on.
    pub fn name(&self) -> (&str, u64) {
        (&self.name.value, self.name.referenced.line())
    }

    pub fn validate(self) -> Result<ExecutorConfig, Invalid> {
        let kind = self.kind.value;
        if let Some((key, line)) = self.foreign {
            return Err((
                line,
                format!("key `{key}` is not valid for an executor of type {kind}"),
            ));
        }
        let named = Named {
            name: &self.name.value,
            line: self.name.referenced.line(),
            kind,
        };
        let Some(section) = self.section else {
            // The first pass reads the same text, so it found this type too.
            return Err((
                self.kind.referenced.line(),
                "key `type`: cannot be read".into(),
            ));
        };
        let settings = section.settings(&named)?;
        let common = self.common;
        let env = common
            .env
            .unwrap_or_default()
            .iter()
            .map(|entry| EnvEntry::parse(&entry.value).map_err(|m| (entry.referenced.line(), m)))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(limit) = &common.max_concurrent
            && limit.value == 0
        {
            return Err((
                limit.referenced.line(),
                "key `max_concurrent`: must be at least 1".into(),
            ));
        }
        Ok(ExecutorConfig {
            name: self.name.value,
            labels: common.labels.unwrap_or_default(),
            claude_path: common.claude_path,
            max_concurrent: common.max_concurrent.map(|m| m.value),
            env,
            allow_root: common.allow_root.unwrap_or(false),
            settings,
            builtin: false,
        })
    }
}
