//! The ports the engine uses to keep the instance registry ([`InstanceStore`]) and to start and
//! stop gateways ([`Provisioner`]).

use async_trait::async_trait;
use godel_types::{Capabilities, InstanceId};

use crate::error::FederationError;
use crate::instance::{Instance, InstanceSpec};

/// The registry of instances. Implemented in memory ([`MemoryInstanceStore`](crate::MemoryInstanceStore))
/// and by the SQL adapters; every implementation passes the conformance suite (feature
/// `test-util`, `instance_store_conformance!`).
///
/// A store keeps what it is given, token included, and adds no rules beyond uniqueness of the
/// id and of the endpoint (compared by [`endpoint_key`](crate::endpoint_key)).
#[async_trait]
pub trait InstanceStore: Send + Sync {
    /// Adds an instance.
    ///
    /// # Errors
    /// - [`FederationError::AlreadyExists`] if an instance with the same id is registered.
    /// - [`FederationError::EndpointTaken`] if another instance has the same endpoint key.
    /// - [`FederationError::Unavailable`] if the store failed.
    async fn register(&self, instance: Instance) -> Result<(), FederationError>;

    /// The instance with this id.
    ///
    /// # Errors
    /// - [`FederationError::NotFound`] if there is none.
    /// - [`FederationError::Unavailable`] if the store failed.
    async fn get(&self, id: InstanceId) -> Result<Instance, FederationError>;

    /// Every registered instance, ordered by `registered_at`, then id.
    ///
    /// # Errors
    /// [`FederationError::Unavailable`] if the store failed.
    async fn list(&self) -> Result<Vec<Instance>, FederationError>;

    /// Replaces the stored instance with the same id by `instance` (health, load, heartbeat,
    /// draining, and any spec field).
    ///
    /// # Errors
    /// - [`FederationError::NotFound`] if no instance has this id.
    /// - [`FederationError::EndpointTaken`] if the new endpoint is another instance's.
    /// - [`FederationError::Unavailable`] if the store failed.
    async fn update(&self, instance: Instance) -> Result<(), FederationError>;

    /// Removes an instance and returns it as it was.
    ///
    /// # Errors
    /// - [`FederationError::NotFound`] if no instance has this id.
    /// - [`FederationError::Unavailable`] if the store failed.
    async fn deregister(&self, id: InstanceId) -> Result<Instance, FederationError>;
}

/// What the autoscaler asks a provisioner for: one more gateway like this.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisionRequest {
    /// Region to start it in, if the provisioner places instances.
    pub region: Option<String>,
    /// Zone to start it in.
    pub zone: Option<String>,
    /// Capabilities its agents must have.
    pub capabilities: Capabilities,
    /// Sessions it should be sized for.
    pub max_sessions: u32,
}

/// A gateway a provisioner started, ready to be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedInstance {
    /// The id to register it under.
    pub id: InstanceId,
    /// Where it listens and what it offers (token included).
    pub spec: InstanceSpec,
}

/// Starts and stops gateway instances: local processes, or a cluster's pods.
#[async_trait]
pub trait Provisioner: Send + Sync {
    /// Starts a gateway and returns once it is listening (its health is still to be probed).
    ///
    /// # Errors
    /// - [`FederationError::Invalid`] if the provisioner cannot satisfy `spec` (e.g. an unknown
    ///   region).
    /// - [`FederationError::Unavailable`] if starting failed; it may be retried.
    async fn start(&self, spec: ProvisionRequest) -> Result<ProvisionedInstance, FederationError>;

    /// Stops a gateway this provisioner started. Stopping one already stopped succeeds.
    ///
    /// # Errors
    /// - [`FederationError::NotFound`] if this provisioner never started `id`.
    /// - [`FederationError::Unavailable`] if stopping failed; it may be retried.
    async fn stop(&self, id: InstanceId) -> Result<(), FederationError>;
}
