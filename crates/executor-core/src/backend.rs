//! A backend as the binary sees it: its config section and how its executor is
//! built. The binary lists its backends once with [`backends!`](crate::backends);
//! that list serves both the config parser and the executor factory, so a new
//! backend is its own crate plus one entry there.

use crate::Paths;
use crate::config::{ExecutorConfig, Section, Settings};
use crate::executor::{Executor, ExecutorError};

/// One backend crate's entry point.
pub trait Backend {
    /// The settings section of its executor `type`.
    type Section: Section;

    /// Builds the executor for `config`, whose settings are `settings`;
    /// `claude_default` is `defaults.claude_path`.
    fn executor(
        config: &ExecutorConfig,
        settings: &<Self::Section as Section>::Settings,
        paths: &Paths,
        claude_default: &str,
    ) -> Result<Box<dyn Executor>, ExecutorError>;
}

/// The executor for `config` if its settings are those of backend `B`.
pub fn build<B: Backend>(
    config: &ExecutorConfig,
    paths: &Paths,
    claude_default: &str,
) -> Option<Result<Box<dyn Executor>, ExecutorError>> {
    let settings = config.settings.get::<<B::Section as Section>::Settings>()?;
    Some(B::executor(config, settings, paths, claude_default))
}

/// The `type` of backend `B`.
pub fn type_of<B: Backend>() -> &'static str {
    <<B::Section as Section>::Settings as Settings>::TYPE
}

/// Names the backends of a binary besides `local`: `backends!(pub All: ssh::Ssh, ...)`
/// declares `All`, which implements [`config::Backends`](crate::config::Backends)
/// for the config and has `All::executor` for the executor factory.
#[macro_export]
macro_rules! backends {
    ($vis:vis $name:ident: $($backend:ty),+ $(,)?) => {
        $vis struct $name;
        impl $crate::config::Backends for $name {
            fn types() -> &'static [&'static str] {
                &[$(<<<$backend as $crate::backend::Backend>::Section
                    as $crate::config::Section>::Settings
                    as $crate::config::Settings>::TYPE),+]
            }
            fn section_keys(kind: &str) -> &'static [&'static str] {
                $(if kind == $crate::backend::type_of::<$backend>() {
                    return $crate::config::section_keys::<
                        <$backend as $crate::backend::Backend>::Section,
                    >();
                })+
                &[]
            }
            fn read_section<'de, A: $crate::config::MapAccess<'de>>(
                kind: &str,
                map: A,
            ) -> Option<Result<$crate::config::ReadSection, A::Error>> {
                $(if kind == $crate::backend::type_of::<$backend>() {
                    return Some($crate::config::read_section::<
                        <$backend as $crate::backend::Backend>::Section,
                        A,
                    >(map));
                })+
                None
            }
        }
        impl $name {
            /// The executor for `config`; `None` for `type: local`, which core
            /// does not build.
            #[allow(dead_code)]
            $vis fn executor(
                config: &$crate::config::ExecutorConfig,
                paths: &$crate::Paths,
                claude_default: &str,
            ) -> Option<Result<Box<dyn $crate::executor::Executor>, $crate::executor::ExecutorError>> {
                $(if let Some(built) = $crate::backend::build::<$backend>(config, paths, claude_default) {
                    return Some(built);
                })+
                None
            }
        }
    };
}
