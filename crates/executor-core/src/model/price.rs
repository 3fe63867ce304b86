//! What tokens cost: the built-in price table and the user's `prices:` map,
//! used for agents whose CLI reports token counts but no cost (Codex, Gemini),
//! and for Claude Code's running cost until its final record gives the real one.

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
    // Claude: cache writes are the 5-minute ones, 1.25 times the input price.
    ("claude-opus-4-8", claude(5.0, 25.0)),
    ("claude-opus-4-5", claude(5.0, 25.0)),
    ("claude-sonnet-4-5", claude(3.0, 15.0)),
    ("claude-haiku-4-5", claude(1.0, 5.0)),
];

/// Anthropic's pricing: cache reads at a tenth of the input price, writes at
/// 1.25 times it.
const fn claude(input: f64, output: f64) -> Price {
    Price {
        input,
        output,
        cache_read: Some(input / 10.0),
        cache_write: Some(input * 1.25),
    }
}

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
    /// provider prefix (`openai/gpt-5`), a context tag (`claude-opus-4-8[1m]`)
    /// and a date (`claude-sonnet-4-5-20250929`) are tried without too.
    pub fn of(&self, model: &str) -> Option<Price> {
        let bare = model.rsplit('/').next().unwrap_or(model);
        let untagged = bare.split_once('[').map_or(bare, |(name, _)| name);
        let undated = untagged
            .rsplit_once('-')
            .filter(|(_, date)| date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()))
            .map_or(untagged, |(name, _)| name);
        [model, bare, untagged, undated]
            .into_iter()
            .find_map(|name| {
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

    /// Priced as Claude Code prices them: 100 in, 20 out, 30 cache read and
    /// 10 cache written cost $0.0010775 on Opus 4.8 (its own `total_cost_usd`).
    #[test]
    fn claude_models_match_claude_codes_own_cost() {
        let stats = AgentStats {
            input_tokens: 100,
            output_tokens: 20,
            cache_read_input_tokens: 30,
            cache_creation_input_tokens: 10,
            ..Default::default()
        };
        let prices = Prices::default();
        for model in ["claude-opus-4-8", "claude-opus-4-8[1m]"] {
            let cost = prices.estimate(model, &stats).unwrap();
            assert!((cost - 0.0010775).abs() < 1e-12, "{model}: {cost}");
        }
        assert_eq!(
            prices.of("claude-sonnet-4-5-20250929").map(|p| p.input),
            Some(3.0)
        );
        assert_eq!(prices.of("claude-sonnet-4-5-2025"), None);
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
