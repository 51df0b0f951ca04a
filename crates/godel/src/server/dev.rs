//! Development mode: simulated OpenClaw gateways started in-process and registered, so tasks
//! flow the moment the server is up. Their instances are tagged with the region `dev`; the
//! next start forgets them (their processes ended with the previous server).

use std::time::Duration;

use godel_engine::Engine;
use godel_federation::InstanceSpec;
use godel_openclaw_sim::{SimConfig, SimFleet};

use super::ServerError;

/// The region dev instances are registered under.
const DEV_REGION: &str = "dev";

/// Starts `n` simulated gateways on free loopback ports, each taking `sessions` runs at once
/// that last `run` each, and registers them.
pub(super) async fn start(
    engine: &Engine,
    n: u32,
    sessions: u32,
    run: Duration,
) -> Result<SimFleet, ServerError> {
    let token = format!("dev-{}", uuid::Uuid::now_v7().simple());
    let config = SimConfig::default()
        .with_token(token.clone())
        .with_run_duration(run)
        .with_deltas_per_run(5);
    let fleet = SimFleet::start(n as usize, config)
        .await
        .map_err(|e| ServerError::Start(format!("starting simulated gateways: {e}")))?;
    for endpoint in fleet.endpoints() {
        let mut spec = InstanceSpec::new(endpoint, sessions);
        spec.region = Some(DEV_REGION.to_owned());
        spec.token = Some(token.clone());
        engine
            .instances()
            .register(spec)
            .await
            .map_err(|e| ServerError::Start(format!("registering a simulated gateway: {e}")))?;
    }
    Ok(fleet)
}

/// Deregisters the simulated gateways a previous start left in the store.
pub(super) async fn forget_previous(engine: &Engine) {
    for instance in engine.instances().list() {
        if instance.region.as_deref() == Some(DEV_REGION)
            && let Err(e) = engine.instances().deregister(instance.id).await
        {
            tracing::warn!(instance = %instance.id, error = %e, "stale dev instance not removed");
        }
    }
}

/// Registers `spec`, first removing an instance kept from an earlier start at the same
/// endpoint (the store does not keep tokens, so the configured spec must be used).
pub(super) async fn replace_instance(
    engine: &Engine,
    spec: InstanceSpec,
) -> Result<(), ServerError> {
    for instance in engine.instances().list() {
        if instance.endpoint == spec.endpoint
            && let Err(e) = engine.instances().deregister(instance.id).await
        {
            tracing::warn!(instance = %instance.id, error = %e, "old registration not removed");
        }
    }
    let endpoint = spec.endpoint.clone();
    engine
        .instances()
        .register(spec)
        .await
        .map_err(|e| ServerError::Start(format!("registering the gateway {endpoint}: {e}")))?;
    Ok(())
}
