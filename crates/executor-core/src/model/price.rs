//! What tokens cost: the built-in price table and the user's `prices:` map,
//! used for agents whose CLI reports token counts but no cost (Codex, Gemini).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::agent_stats::AgentStats;

/// The day the built-in table was written (docs/agents.md shows it).
pub const BUILTIN_PRICES_DATE: &str = "2026-11-30";

/// USD per million tokens of one model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Input tokens read from the provider's prompt cache; `input` when absent.
    #[serde(default)]
    pub cache_read: Option<f64>,
    /// Input tokens written to the cache; `input` when absent.
    #[serde(default)]
    pub cache_write: Option<f64>,
}

/// List prices per million tokens as of [`BUILTIN_PRICES_DATE`]: the default
/// models of the pinned CLIs and the models the tests use.
const BUILTIN: &[(&str, Price)] = &[
    ("gpt-5.5", price(1.25, 10.0, 0.125)),
    ("gpt-5", price(1.25, 10.0, 0.125)),
    ("gpt-5-codex", price(1.25, 10.0, 0.125)),
    ("gpt-5-mini", price(0.25, 2.0, 0.025)),
    ("gemini-2.5-pro", price(1.25, 10.0, 0.31)),
    ("gemini-2.5-flash", price(0.30, 2.50, 0.075)),
    ("gemini-2.5-flash-lite", price(0.10, 0.40, 0.025)),
];

const fn price(input: f64, output: f64, cache_read: f64) -> Price {
    Price {
        input,
        output,
        cache_read: Some(cache_read),
        cache_write: None,
    }
}

/// The built-in table overlaid with the config's `prices:`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prices {
    /// The config's entries, which win over the built-in ones.
    pub custom: BTreeMap<String, Price>,
}

impl Prices {
    /// The price of `model`: the config's entry, else the built-in one. A
    /// provider prefix (`openai/gpt-5`) is tried without it too.
    pub fn of(&self, model: &str) -> Option<Price> {
        let bare = model.rsplit('/').next().unwrap_or(model);
        [model, bare].into_iter().find_map(|name| {
            self.custom.get(name).copied().or_else(|| {
                BUILTIN
                    .iter()
                    .find(|(known, _)| *known == name)
                    .map(|(_, p)| *p)
            })
        })
    }

    /// The built-in table, for the docs and `--help`.
    pub fn builtin() -> &'static [(&'static str, Price)] {
        BUILTIN
    }

    /// What the tokens of `stats` cost under `model`'s price; `None` when the
    /// model has none. Cached input is counted apart from fresh input.
    pub fn estimate(&self, model: &str, stats: &AgentStats) -> Option<f64> {
        let price = self.of(model)?;
        let per_token = |usd_per_million: f64, tokens: u64| usd_per_million * tokens as f64 / 1e6;
        Some(
            per_token(price.input, stats.input_tokens)
                + per_token(price.output, stats.output_tokens)
                + per_token(
                    price.cache_read.unwrap_or(price.input),
                    stats.cache_read_input_tokens,
                )
                + per_token(
                    price.cache_write.unwrap_or(price.input),
                    stats.cache_creation_input_tokens,
                ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_overrides_and_extends_the_table() {
        let mut prices = Prices::default();
        assert_eq!(prices.of("gpt-5.5").map(|p| p.input), Some(1.25));
        assert_eq!(prices.of("openai/gpt-5.5").map(|p| p.output), Some(10.0));
        assert_eq!(prices.of("mystery"), None);
        prices
            .custom
            .insert("gpt-5.5".into(), price(2.0, 20.0, 0.2));
        prices.custom.insert("mystery".into(), price(1.0, 1.0, 1.0));
        assert_eq!(prices.of("gpt-5.5").map(|p| p.input), Some(2.0));
        assert!(prices.of("mystery").is_some());
    }

    #[test]
    fn cached_input_is_priced_apart() {
        let stats = AgentStats {
            input_tokens: 1_000_000,
            output_tokens: 100_000,
            cache_read_input_tokens: 2_000_000,
            ..Default::default()
        };
        let cost = Prices::default().estimate("gpt-5.5", &stats).unwrap();
        assert!((cost - (1.25 + 1.0 + 0.25)).abs() < 1e-9, "{cost}");
    }
}
