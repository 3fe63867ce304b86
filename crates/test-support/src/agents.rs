//! Where the pinned Codex, Gemini CLI and opencode CLIs are, and the files and
//! environment that point each at [`MockModels`](crate::MockModels) and keep
//! it off every other network.

use std::path::{Path, PathBuf};

/// One agent CLI under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestAgent {
    Codex,
    Gemini,
    Opencode,
}

impl TestAgent {
    pub const ALL: [TestAgent; 3] = [Self::Codex, Self::Gemini, Self::Opencode];

    /// The name `--agent` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Codex => "codex",
            Self::Gemini => "gemini",
            Self::Opencode => "opencode",
        }
    }

    /// The variable `scripts/setup/agents.sh` exports, the package and its pinned version.
    fn install(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Codex => ("OPENCLAW_TEST_CODEX", "@openai/codex", "0.171.0"),
            Self::Gemini => ("OPENCLAW_TEST_GEMINI", "@google/gemini-cli", "0.61.0"),
            Self::Opencode => ("OPENCLAW_TEST_OPENCODE", "opencode-ai", "1.18.33"),
        }
    }

    /// The model the tests ask for: one the CLI knows and the price table has.
    pub fn model(self) -> &'static str {
        match self {
            Self::Codex => "gpt-5.5",
            Self::Gemini => "gemini-2.5-flash",
            Self::Opencode => "mock/mock-model",
        }
    }

    /// The real binary; `None` (a skip, or a failure in CI) when missing.
    pub fn binary(self) -> Option<PathBuf> {
        let (var, package, version) = self.install();
        let found = std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_file());
        if found.is_none() {
            crate::missing(&format!(
                "the real {} CLI: run `scripts/test` (it installs {package}@{version}) or set {var}",
                self.name()
            ));
        }
        found
    }

    /// The CLI's own executable, for images without Node.js: the npm launcher
    /// in `node_modules/.bin` is a Node script, the binary it starts is not
    /// (Codex: static; opencode: glibc only). `None` for Gemini CLI, which is
    /// JavaScript.
    pub fn native_binary(self) -> Option<PathBuf> {
        let bin = self.binary()?;
        // `…/node_modules/.bin/<name>` → `…/node_modules`
        let modules = std::fs::canonicalize(&bin)
            .ok()?
            .ancestors()
            .find(|p| p.ends_with("node_modules"))?
            .to_owned();
        let native = match self {
            Self::Codex => {
                modules.join("@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex")
            }
            Self::Opencode => modules.join("opencode-linux-x64/bin/opencode"),
            Self::Gemini => return None,
        };
        native.is_file().then_some(native)
    }

    /// The environment that makes the CLI keep its config and state below
    /// `dir` instead of the task user's home, for executors whose user's home
    /// is not the test's (SSH, containers).
    pub fn home_env(self, dir: &Path) -> Vec<(&'static str, String)> {
        let at = |relative: &str| dir.join(relative).display().to_string();
        match self {
            Self::Codex => vec![("CODEX_HOME", at(".codex"))],
            Self::Gemini => vec![("GEMINI_CLI_HOME", at(""))],
            Self::Opencode => vec![
                ("XDG_CONFIG_HOME", at(".config")),
                ("XDG_DATA_HOME", at(".local/share")),
                ("XDG_CACHE_HOME", at(".cache")),
                ("XDG_STATE_HOME", at(".local/state")),
            ],
        }
    }

    /// Writes the CLI's config below `home` (the HOME the task runs with) so
    /// that it talks to the mock at `mock_url` (`http://127.0.0.1:PORT`) and
    /// nothing else; returns the environment the task needs besides.
    pub fn prepare_home(self, home: &Path, mock_url: &str) -> Vec<(&'static str, String)> {
        let write = |relative: &str, text: &str| {
            let path = home.join(relative);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("config dir");
            std::fs::write(path, text).expect("write agent config");
        };
        match self {
            Self::Codex => {
                write(
                    ".codex/config.toml",
                    &format!(
                        "model_provider = \"mock\"\n\
                         [model_providers.mock]\n\
                         name = \"mock\"\n\
                         base_url = \"{mock_url}/v1\"\n\
                         wire_api = \"responses\"\n\
                         env_key = \"MOCK_KEY\"\n"
                    ),
                );
                vec![("MOCK_KEY", "sk-mock".to_owned())]
            }
            Self::Gemini => {
                // Auth by key (a base URL alone exits 41); usage statistics
                // and update checks off: gemini has no other switch for them.
                write(
                    ".gemini/settings.json",
                    r#"{"security":{"auth":{"selectedType":"gemini-api-key"}},"privacy":{"usageStatisticsEnabled":false},"general":{"enableAutoUpdate":false,"enableAutoUpdateNotification":false}}"#,
                );
                vec![
                    ("GEMINI_API_KEY", "fake".to_owned()),
                    ("GOOGLE_GEMINI_BASE_URL", mock_url.to_owned()),
                ]
            }
            Self::Opencode => {
                write(
                    ".config/opencode/opencode.json",
                    &serde_json::json!({
                        "provider": {"mock": {
                            "npm": "@ai-sdk/openai-compatible",
                            "options": {"baseURL": format!("{mock_url}/v1"), "apiKey": "sk-mock"},
                            "models": {"mock-model": {"name": "Mock", "cost": {"input": 3, "output": 15}}}
                        }},
                        "model": "mock/mock-model",
                        "small_model": "mock/mock-model"
                    })
                    .to_string(),
                );
                // opencode installs its plugin package in the background with
                // npm, which no switch stops: a lock file that already names it
                // keeps npm from looking it up.
                std::fs::create_dir_all(home.join(".config/opencode/node_modules"))
                    .expect("node_modules");
                write(
                    ".config/opencode/package-lock.json",
                    r#"{"packages":{"":{"dependencies":{"@opencode-ai/plugin":"*"}}}}"#,
                );
                Vec::new()
            }
        }
    }
}
