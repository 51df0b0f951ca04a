//! [`MemoryInstanceStore`]: the in-memory instance registry, for tests, demos and single-node
//! runs without a database.

use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use godel_types::InstanceId;
use rustc_hash::FxHashMap;

use crate::error::FederationError;
use crate::instance::Instance;
use crate::store::InstanceStore;

/// An [`InstanceStore`] in a map behind a mutex (never held across an `.await`).
#[derive(Debug, Default)]
pub struct MemoryInstanceStore {
    instances: Mutex<FxHashMap<InstanceId, Instance>>,
}

impl MemoryInstanceStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, FxHashMap<InstanceId, Instance>> {
        // Every critical section leaves the map consistent, so a poisoned lock is still usable.
        self.instances
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The instance other than `id` registered at `instance`'s endpoint, if any.
fn endpoint_owner(
    map: &FxHashMap<InstanceId, Instance>,
    instance: &Instance,
) -> Option<InstanceId> {
    let key = instance.endpoint_key();
    map.values()
        .find(|other| other.id != instance.id && other.endpoint_key() == key)
        .map(|other| other.id)
}

#[async_trait]
impl InstanceStore for MemoryInstanceStore {
    async fn register(&self, instance: Instance) -> Result<(), FederationError> {
        let mut map = self.lock();
        if map.contains_key(&instance.id) {
            return Err(FederationError::AlreadyExists(instance.id));
        }
        if let Some(by) = endpoint_owner(&map, &instance) {
            return Err(FederationError::EndpointTaken {
                endpoint: instance.endpoint,
                by,
            });
        }
        map.insert(instance.id, instance);
        Ok(())
    }

    async fn get(&self, id: InstanceId) -> Result<Instance, FederationError> {
        self.lock()
            .get(&id)
            .cloned()
            .ok_or(FederationError::NotFound(id))
    }

    async fn list(&self) -> Result<Vec<Instance>, FederationError> {
        let mut all: Vec<Instance> = self.lock().values().cloned().collect();
        all.sort_by_key(|i| (i.registered_at, i.id));
        Ok(all)
    }

    async fn update(&self, instance: Instance) -> Result<(), FederationError> {
        let mut map = self.lock();
        if !map.contains_key(&instance.id) {
            return Err(FederationError::NotFound(instance.id));
        }
        if let Some(by) = endpoint_owner(&map, &instance) {
            return Err(FederationError::EndpointTaken {
                endpoint: instance.endpoint,
                by,
            });
        }
        map.insert(instance.id, instance);
        Ok(())
    }

    async fn deregister(&self, id: InstanceId) -> Result<Instance, FederationError> {
        self.lock().remove(&id).ok_or(FederationError::NotFound(id))
    }
}
