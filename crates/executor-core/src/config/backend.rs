//! What a backend crate provides to the config: the typed section of its
//! executor `type`, and the settings built from it.
//!
//! Core knows only `local`; the binary names the other backends once, with
//! [`backends!`](crate::backends), and passes that list to [`Config::load`](super::Config::load).
//! Each item is read through [`crate::backend::Backend`].

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeOwned, MapAccess, Visitor, value::MapAccessDeserializer};

/// An error in a section: the line it concerns and what is wrong, in our words.
pub type SectionError = (u64, String);

/// The settings section of one executor type, as read from the YAML.
///
/// The struct derives `Deserialize` with `Option<Spanned<T>>` fields (see
/// [`Spanned`](super::Spanned)); its field names are the type's keys. It is
/// read straight from the parser, so errors keep their lines.
pub trait Section: DeserializeOwned + 'static {
    type Settings: Settings;
    /// Checks the values and builds the settings.
    fn settings(self, executor: &Named<'_>) -> Result<Self::Settings, SectionError>;
}

/// A backend's checked settings, kept in [`ExecutorSettings`](super::ExecutorSettings).
pub trait Settings: fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The executor `type` these settings belong to.
    const TYPE: &'static str;
    /// A short human description of where the executor runs tasks.
    fn target(&self) -> String;
    /// Whether `keep_background` means anything here: a container or a Slurm
    /// job ends everything in it with the task anyway.
    fn keeps_background_jobs(&self) -> bool {
        false
    }
}

/// The executor a section belongs to, for messages.
pub struct Named<'a> {
    pub name: &'a str,
    pub line: u64,
    pub kind: &'a str,
}

impl Named<'_> {
    /// The error for a required key that is missing.
    pub fn needs(&self, key: &str) -> SectionError {
        (
            self.line,
            format!(
                "executor `{}` of type {} needs key `{key}`",
                self.name, self.kind
            ),
        )
    }
}

/// The executor types a binary knows besides `local`; written with [`backends!`](crate::backends).
pub trait Backends: 'static {
    /// Their `type` values.
    fn types() -> &'static [&'static str];
    /// The keys of the section of `kind` (empty for a type not in the list).
    fn section_keys(kind: &str) -> &'static [&'static str];
    /// Reads the section of `kind`; `None` for a type not in the list.
    fn read_section<'de, A: MapAccess<'de>>(
        kind: &str,
        map: A,
    ) -> Option<Result<ReadSection, A::Error>>;
}

/// No backend besides `local`.
pub struct LocalOnly;

impl Backends for LocalOnly {
    fn types() -> &'static [&'static str] {
        &[]
    }
    fn section_keys(_: &str) -> &'static [&'static str] {
        &[]
    }
    fn read_section<'de, A: MapAccess<'de>>(
        _: &str,
        _: A,
    ) -> Option<Result<ReadSection, A::Error>> {
        None
    }
}

/// The keys of section `S`, read from its `Deserialize` impl.
pub fn section_keys<S: Section>() -> &'static [&'static str] {
    keys_of::<S>()
}

/// A section read but not yet checked.
pub struct ReadSection(Box<dyn Build>);

trait Build {
    fn build(self: Box<Self>, executor: &Named<'_>) -> Result<ExecutorSettingsArc, SectionError>;
}

pub(super) type ExecutorSettingsArc = Arc<dyn DynSettings>;

impl<S: Section> Build for S {
    fn build(self: Box<Self>, executor: &Named<'_>) -> Result<ExecutorSettingsArc, SectionError> {
        Ok(Arc::new((*self).settings(executor)?))
    }
}

impl ReadSection {
    pub(super) fn build(self, executor: &Named<'_>) -> Result<ExecutorSettingsArc, SectionError> {
        self.0.build(executor)
    }
}

/// Reads section `S` from an executor's mapping (used by [`backends!`](crate::backends)).
pub fn read_section<'de, S: Section, A: MapAccess<'de>>(map: A) -> Result<ReadSection, A::Error> {
    Ok(ReadSection(Box::new(S::deserialize(
        MapAccessDeserializer::new(map),
    )?)))
}

/// [`Settings`] behind a pointer: compared and downcast by their concrete type.
pub(super) trait DynSettings: fmt::Debug + Send + Sync {
    fn kind(&self) -> &'static str;
    fn target(&self) -> String;
    fn keeps_background_jobs(&self) -> bool;
    fn as_any(&self) -> &dyn Any;
    fn same_as(&self, other: &dyn DynSettings) -> bool;
}

impl<T: Settings> DynSettings for T {
    fn kind(&self) -> &'static str {
        T::TYPE
    }
    fn target(&self) -> String {
        Settings::target(self)
    }
    fn keeps_background_jobs(&self) -> bool {
        Settings::keeps_background_jobs(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn same_as(&self, other: &dyn DynSettings) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
}

/// The keys a derived struct accepts, read from its `Deserialize` impl so that
/// no hand-kept list can drift from the struct.
fn keys_of<T: DeserializeOwned>() -> &'static [&'static str] {
    #[derive(Debug)]
    struct Found(Option<&'static [&'static str]>);
    impl fmt::Display for Found {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("not a struct")
        }
    }
    impl std::error::Error for Found {}
    impl de::Error for Found {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Found(None)
        }
    }
    struct Fields;
    impl<'de> de::Deserializer<'de> for Fields {
        type Error = Found;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
            Err(Found(None))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Found> {
            Err(Found(Some(fields)))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }
    match T::deserialize(Fields) {
        Err(Found(Some(fields))) => fields,
        _ => &[],
    }
}
