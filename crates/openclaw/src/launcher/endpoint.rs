//! The parts of a gateway endpoint the launcher needs: whether it is a `ws://` URL on loopback,
//! its host and its port.

/// A `ws://` endpoint on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalEndpoint {
    /// The host as written (`127.0.0.1`, `localhost` or `[::1]` without brackets).
    pub(crate) host: String,
    /// The port.
    pub(crate) port: u16,
}

/// What kind of endpoint the launcher was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// On this machine: the launcher probes and may start it.
    Local(LocalEndpoint),
    /// Elsewhere, or behind TLS (`wss://`): not the launcher's to probe or start.
    Remote,
}

/// Classifies `endpoint`, or says why it is unusable.
pub(crate) fn parse(endpoint: &str) -> Result<Endpoint, String> {
    let trimmed = endpoint.trim();
    if trimmed.starts_with("wss://") {
        return Ok(Endpoint::Remote);
    }
    let rest = trimmed
        .strip_prefix("ws://")
        .ok_or_else(|| format!("{endpoint} is not a ws:// or wss:// URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{endpoint} has an unclosed IPv6 address"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if !matches!(
        host.to_ascii_lowercase().as_str(),
        "127.0.0.1" | "localhost" | "::1"
    ) {
        return Ok(Endpoint::Remote);
    }
    let port = port
        .ok_or_else(|| format!("{endpoint} has no port"))?
        .parse::<u16>()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| format!("{endpoint} has no valid port"))?;
    Ok(Endpoint::Local(LocalEndpoint {
        host: host.to_owned(),
        port,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_ws_endpoints_with_a_port_are_local() {
        let local = |host: &str, port| {
            Ok(Endpoint::Local(LocalEndpoint {
                host: host.into(),
                port,
            }))
        };
        assert_eq!(parse("ws://127.0.0.1:18789"), local("127.0.0.1", 18789));
        assert_eq!(parse("ws://localhost:1/x"), local("localhost", 1));
        assert_eq!(parse("ws://[::1]:9"), local("::1", 9));
    }

    #[test]
    fn tls_and_other_hosts_are_remote() {
        assert_eq!(parse("wss://127.0.0.1:1"), Ok(Endpoint::Remote));
        assert_eq!(parse("ws://gw.example.com:1"), Ok(Endpoint::Remote));
    }

    #[test]
    fn unusable_endpoints_say_why() {
        for (bad, why) in [
            ("http://127.0.0.1:1", "not a ws://"),
            ("ws://127.0.0.1", "no port"),
            ("ws://127.0.0.1:0", "no valid port"),
            ("ws://127.0.0.1:99999", "no valid port"),
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
