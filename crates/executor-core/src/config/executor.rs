//! One executor: the keys every type shares, and the typed section of its `type`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, IgnoredAny, IntoDeserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;

use super::backend::{
    Backends, ExecutorSettingsArc, Named, ReadSection, SectionError as Invalid, Settings,
};
use super::values::{AgentPaths, EnvEntry};
use crate::model::AgentKind;
pub use crate::model::ExecutorType;

/// The `type` of the executor core runs itself.
const LOCAL_TYPE: &str = "local";

/// Name of the executor that exists even without a config file.
pub const BUILTIN_LOCAL: &str = "local";

#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorConfig {
    pub name: String,
    pub labels: Vec<String>,
    /// Path of the `claude` binary on the executing side; falls back to the defaults.
    pub claude_path: Option<String>,
    /// `codex_path`, `gemini_path`, `opencode_path`; fall back to the defaults.
    pub agent_paths: AgentPaths,
    /// The agent `start` runs here when it names none (`agent:`).
    pub agent: Option<AgentKind>,
    /// The agents this executor has (`agents:`); `None`: all of them.
    pub agents: Option<Vec<AgentKind>>,
    /// The budget of agent tasks here (USD) unless `start` gives one.
    pub max_budget_usd: Option<f64>,
    /// Environment for payloads: variables forwarded by name, and fixed pairs.
    pub env: Vec<EnvEntry>,
    /// Tasks this executor runs at once; more wait as `queued`.
    pub max_concurrent: Option<u32>,
    /// Lets claude run as root by setting `IS_SANDBOX=1` (claude refuses
    /// `--dangerously-skip-permissions` as root otherwise).
    pub allow_root: bool,
    /// Lets background jobs a payload leaves in its process group outlive the
    /// task (local and SSH executors); by default they end with it.
    pub keep_background: bool,
    /// Whether tasks get a git worktree of their own; falls back to the defaults.
    pub isolation: Option<super::Isolation>,
    /// Worktree tasks ship the repository from the dispatching machine (`--sync`).
    pub sync: bool,
    pub settings: ExecutorSettings,
    /// Whether this executor was synthesised because the config did not define it.
    pub builtin: bool,
}

/// The typed settings of one backend, tagged by the executor's `type`. Core
/// knows `local`; every other backend's settings type lives in its own crate
/// and is read back with [`get`](Self::get).
#[derive(Debug, Clone)]
pub struct ExecutorSettings(Option<ExecutorSettingsArc>);

impl ExecutorSettings {
    /// `type: local`, which has no settings.
    pub const LOCAL: Self = Self(None);

    pub fn new<S: Settings>(settings: S) -> Self {
        Self(Some(std::sync::Arc::new(settings)))
    }

    /// The settings, if they are of type `S`.
    pub fn get<S: Settings>(&self) -> Option<&S> {
        self.0.as_ref()?.as_any().downcast_ref()
    }

    pub fn executor_type(&self) -> ExecutorType {
        ExecutorType::from_static(self.0.as_ref().map_or(LOCAL_TYPE, |s| s.kind()))
    }

    pub fn is_local(&self) -> bool {
        self.0.is_none()
    }
}

impl PartialEq for ExecutorSettings {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => a.same_as(b.as_ref()),
            _ => false,
        }
    }
}

impl ExecutorConfig {
    pub fn builtin_local() -> Self {
        Self {
            name: BUILTIN_LOCAL.to_owned(),
            labels: Vec::new(),
            claude_path: None,
            agent_paths: AgentPaths::default(),
            agent: None,
            agents: None,
            max_budget_usd: None,
            env: Vec::new(),
            max_concurrent: None,
            allow_root: false,
            keep_background: false,
            isolation: None,
            sync: false,
            settings: ExecutorSettings::LOCAL,
            builtin: true,
        }
    }

    pub fn executor_type(&self) -> ExecutorType {
        self.settings.executor_type()
    }

    /// A short human description of where this executor runs tasks.
    pub fn target(&self) -> String {
        match &self.settings.0 {
            None => "this machine".to_owned(),
            Some(settings) => settings.target(),
        }
    }
}

/// Keys every executor type accepts.
const COMMON_KEYS: &[&str] = &[
    "name",
    "type",
    "labels",
    "claude_path",
    "codex_path",
    "gemini_path",
    "opencode_path",
    "agent",
    "agents",
    "max_budget_usd",
    "env",
    "allow_root",
    "keep_background",
    "max_concurrent",
    "isolation",
    "sync",
];

#[derive(Default)]
struct CommonKeys {
    name: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    labels: Option<Vec<String>>,
    claude_path: Option<String>,
    agent_paths: AgentPaths,
    agent: Option<AgentKind>,
    agents: Option<Vec<AgentKind>>,
    max_budget_usd: Option<Spanned<f64>>,
    env: Option<Vec<Spanned<String>>>,
    allow_root: Option<bool>,
    keep_background: Option<Spanned<bool>>,
    max_concurrent: Option<Spanned<u32>>,
    isolation: Option<super::Isolation>,
    sync: Option<bool>,
}

impl CommonKeys {
    /// Reads the value of `key` if it is a common key; `false` if it is not one.
    fn read<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        match key {
            "name" => self.name = Some(map.next_value()?),
            "type" => self.kind = Some(map.next_value()?),
            "labels" => self.labels = Some(map.next_value()?),
            "claude_path" => self.claude_path = map.next_value()?,
            "codex_path" => self.agent_paths.codex = map.next_value()?,
            "gemini_path" => self.agent_paths.gemini = map.next_value()?,
            "opencode_path" => self.agent_paths.opencode = map.next_value()?,
            "agent" => self.agent = map.next_value()?,
            "agents" => self.agents = map.next_value()?,
            "max_budget_usd" => self.max_budget_usd = map.next_value()?,
            "env" => self.env = Some(map.next_value()?),
            "allow_root" => self.allow_root = Some(map.next_value()?),
            "keep_background" => self.keep_background = Some(map.next_value()?),
            "max_concurrent" => self.max_concurrent = map.next_value()?,
            "isolation" => self.isolation = map.next_value()?,
            "sync" => self.sync = map.next_value()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The executor's mapping as its type's section sees it: common keys are read
/// aside, keys of other types are noted (with their line) and skipped, and only
/// the section's own keys reach its derived `Deserialize`, whose values still
/// come straight from the parser.
struct SectionKeys<'a, A, B> {
    map: &'a mut A,
    common: &'a mut CommonKeys,
    foreign: &'a mut Option<(String, u64)>,
    /// `None`: the type is missing or unknown; then any type's key is let
    /// through and the `type` is reported instead.
    own: Option<&'static [&'static str]>,
    backends: PhantomData<B>,
}

impl<'de, A: MapAccess<'de>, B: Backends> MapAccess<'de> for SectionKeys<'_, A, B> {
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
            let of_some_type = B::types()
                .iter()
                .any(|kind| B::section_keys(kind).contains(&key.as_str()));
            let own = match self.own {
                Some(own) => own.contains(&key.as_str()),
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
            let own = self.own.unwrap_or_default();
            let expected: Vec<&str> = COMMON_KEYS.iter().chain(own).copied().collect();
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
    kind: Spanned<String>,
    common: CommonKeys,
    foreign: Option<(String, u64)>,
    /// `None` for `local` (no keys of its own) and for a type not known.
    section: Option<ReadSection>,
}

/// Reads one executor whose type the first pass found (`None`: missing or unknown).
pub(super) struct ExecutorSeed<B> {
    pub kind: Option<String>,
    pub backends: PhantomData<B>,
}

impl<'de, B: Backends> DeserializeSeed<'de> for ExecutorSeed<B> {
    type Value = RawExecutor;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<RawExecutor, D::Error> {
        d.deserialize_struct("RawExecutor", COMMON_KEYS, self)
    }
}

impl<'de, B: Backends> Visitor<'de> for ExecutorSeed<B> {
    type Value = RawExecutor;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an executor mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawExecutor, A::Error> {
        let mut common = CommonKeys::default();
        let mut foreign = None;
        let kind = self.kind.as_deref();
        let local = kind == Some(LOCAL_TYPE);
        let known = local || kind.is_some_and(|k| B::types().contains(&k));
        let mut keys = SectionKeys::<A, B> {
            map: &mut map,
            common: &mut common,
            foreign: &mut foreign,
            own: known.then(|| kind.map_or(&[][..], B::section_keys)),
            backends: PhantomData,
        };
        let section = match kind.filter(|_| known && !local) {
            Some(kind) => B::read_section(kind, keys).transpose()?,
            None => {
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

    /// Checks the `type`, then the keys and values.
    pub fn validate<B: Backends>(self) -> Result<ExecutorConfig, Invalid> {
        let kind = self.kind.value.as_str();
        let local = kind == LOCAL_TYPE;
        if !local && !B::types().contains(&kind) {
            let known: Vec<&str> = [LOCAL_TYPE]
                .into_iter()
                .chain(B::types().iter().copied())
                .collect();
            return Err((
                self.kind.referenced.line(),
                format!(
                    "key `type`: unknown executor type `{kind}`, expected one of {}",
                    known.join(", ")
                ),
            ));
        }
        if let Some((key, line)) = self.foreign {
            return Err((
                line,
                format!("key `{key}` is not valid for an executor of type {kind}"),
            ));
        }
        let settings = match self.section {
            None if local => ExecutorSettings::LOCAL,
            None => {
                // The first pass reads the same text, so it found this type too.
                return Err((
                    self.kind.referenced.line(),
                    "key `type`: cannot be read".into(),
                ));
            }
            Some(section) => {
                let named = Named {
                    name: &self.name.value,
                    line: self.name.referenced.line(),
                    kind,
                };
                ExecutorSettings(Some(section.build(&named)?))
            }
        };
        let common = self.common;
        if let Some(keep) = &common.keep_background
            && !settings
                .0
                .as_ref()
                .is_none_or(|s| s.keeps_background_jobs())
        {
            return Err((
                keep.referenced.line(),
                format!("key `keep_background` is not valid for an executor of type {kind}"),
            ));
        }
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
        let max_budget_usd = super::defaults::check_budget(common.max_budget_usd)?;
        if let (Some(agent), Some(agents)) = (common.agent, &common.agents)
            && !agents.contains(&agent)
        {
            return Err((
                self.name.referenced.line(),
                format!("key `agent`: `{agent}` is not among the executor's `agents`"),
            ));
        }
        Ok(ExecutorConfig {
            name: self.name.value,
            labels: common.labels.unwrap_or_default(),
            claude_path: common.claude_path,
            agent_paths: common.agent_paths,
            agent: common.agent,
            agents: common.agents,
            max_budget_usd,
            max_concurrent: common.max_concurrent.map(|m| m.value),
            env,
            allow_root: common.allow_root.unwrap_or(false),
            keep_background: common.keep_background.is_some_and(|k| k.value),
            isolation: common.isolation,
            sync: common.sync.unwrap_or(false),
            settings,
            builtin: false,
        })
    }
}
