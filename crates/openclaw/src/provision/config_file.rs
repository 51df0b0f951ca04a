//! The `openclaw.json` a provisioned gateway runs with: token auth, one OpenAI-compatible model
//! provider, and everything that would reach out of the machine (heartbeat, plugins, catalog
//! refresh, update checks, mDNS) switched off.

use std::path::Path;

use serde_json::{Value, json};

/// The model provider a provisioned gateway's agents use (OpenAI-compatible).
#[derive(Clone, PartialEq, Eq)]
pub struct ModelProvider {
    /// The provider's name in the gateway config (models are `<name>/<model>`).
    pub name: String,
    /// Its base URL, e.g. `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    /// The API key sent to it (secret; never printed by `Debug`).
    pub api_key: String,
    /// The model id agents use.
    pub model: String,
    /// The gateway's API flavour for it (`openai-completions`).
    pub api: String,
}

impl ModelProvider {
    /// An OpenAI chat-completions provider named `local` at `base_url`, serving `model`, with a
    /// placeholder key.
    #[must_use]
    pub fn openai_compatible(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            name: "local".to_owned(),
            base_url: base_url.into(),
            api_key: "godel-local-key".to_owned(),
            model: model.into(),
            api: "openai-completions".to_owned(),
        }
    }
}

impl std::fmt::Debug for ModelProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelProvider")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("model", &self.model)
            .field("api", &self.api)
            .finish()
    }
}

/// Where a gateway's files go, inside its instance folder.
pub(crate) struct GatewayFiles<'a> {
    /// The agents' workspace.
    pub(crate) workspace: &'a Path,
    /// The gateway's own log file (`logging.file`).
    pub(crate) log_file: &'a Path,
}

/// The config of a gateway on `port` with `token`, using `model`.
pub(crate) fn render(
    port: u16,
    token: &str,
    model: &ModelProvider,
    files: &GatewayFiles<'_>,
) -> Value {
    json!({
        "gateway": {
            "mode": "local",
            "port": port,
            "bind": "loopback",
            "auth": {"mode": "token", "token": token},
        },
        "models": {
            "mode": "merge",
            "providers": {
                (model.name.as_str()): {
                    "baseUrl": model.base_url,
                    "apiKey": model.api_key,
                    "api": model.api,
                    "models": [{
                        "id": model.model,
                        "name": model.model,
                        "reasoning": false,
                        "input": ["text"],
                        "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                        "contextWindow": 128_000,
                        "maxTokens": 4096,
                    }],
                },
            },
            "catalogRefresh": {"enabled": false},
        },
        "agents": {
            "defaults": {
                "model": {"primary": format!("{}/{}", model.name, model.model)},
                "workspace": files.workspace,
                "heartbeat": {"every": "0m"},
            },
        },
        "update": {"checkOnStart": false},
        "discovery": {"mdns": {"mode": "off"}},
        "logging": {"file": files.log_file, "level": "info"},
        "plugins": {"enabled": false},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_names_the_token_the_provider_and_the_files() {
        let model = ModelProvider::openai_compatible("http://127.0.0.1:9/v1", "fake-model");
        let files = GatewayFiles {
            workspace: Path::new("/x/workspace"),
            log_file: Path::new("/x/logs/openclaw.log"),
        };
        let config = render(18789, "t0k", &model, &files);
        assert_eq!(config["gateway"]["auth"]["token"], "t0k");
        assert_eq!(config["gateway"]["port"], 18789);
        assert_eq!(
            config["models"]["providers"]["local"]["baseUrl"],
            "http://127.0.0.1:9/v1"
        );
        assert_eq!(
            config["agents"]["defaults"]["model"]["primary"],
            "local/fake-model"
        );
        assert_eq!(config["agents"]["defaults"]["workspace"], "/x/workspace");
        assert_eq!(config["logging"]["file"], "/x/logs/openclaw.log");
        assert_eq!(config["plugins"]["enabled"], false);
        assert_eq!(config["update"]["checkOnStart"], false);
        assert!(!format!("{model:?}").contains("godel-local-key"));
    }
}
