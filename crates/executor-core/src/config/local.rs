//! `type: local`: tasks run as processes on this machine. The section has no
//! keys of its own.

use serde::Deserialize;

use super::executor::{ExecutorSettings, Named, Section};
use super::yaml::Invalid;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LocalSection {}

impl Section for LocalSection {
    fn settings(self: Box<Self>, _: &Named<'_>) -> Result<ExecutorSettings, Invalid> {
        Ok(ExecutorSettings::Local)
    }
}
