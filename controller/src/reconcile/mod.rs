//! The reconcilers: one [`Context`] shared by both, a pipeline per resource
//! (dereference → validate → build → apply → status), errors with stable reasons, events for
//! every transition and error, and per-object exponential backoff.

pub mod member;
pub mod network;

use crate::apply::{Applier, ApplyError, LiveChild, STATUS_FIELD_MANAGER};
use crate::children::{BuildError, BuildSettings};
use crate::conditions::Transition;
use crate::crd::{ChainMember, ChainNetwork};
use crate::genesis::GenesisError;
use crate::identity::IdentityError;
use crate::issuer::{IssuerError, NodeIssuer};
use crate::metrics::Metrics;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use yuelu_engine::{EngineError, EngineRegistry};

/// The watch caches the reconcilers read instead of asking the apiserver.
#[derive(Clone)]
pub struct Stores {
    /// Every ChainNetwork.
    pub networks: Store<ChainNetwork>,
    /// Every ChainMember.
    pub members: Store<ChainMember>,
    /// Genesis ConfigMaps of networks.
    pub genesis: Store<ConfigMap>,
    /// ConfigMaps of members.
    pub config_maps: Store<ConfigMap>,
    /// Secrets of members (node keys, certificates).
    pub secrets: Store<Secret>,
    /// Headless Services.
    pub services: Store<Service>,
    /// Node StatefulSets.
    pub statefulsets: Store<StatefulSet>,
    /// NetworkPolicies.
    pub network_policies: Store<NetworkPolicy>,
    /// PodDisruptionBudgets (dynamic: policy/v1 or v1beta1), when the cluster serves them.
    pub pdbs: Option<Store<DynamicObject>>,
    /// Node pods.
    pub pods: Store<Pod>,
}

/// Everything the reconcilers share.
pub struct Context {
    /// The client.
    pub client: Client,
    /// Engines compiled in.
    pub engines: EngineRegistry,
    /// The certificate issuer.
    pub issuer: Arc<dyn NodeIssuer>,
    /// One recorder for all events, so that repeats aggregate.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The applier.
    pub applier: Applier,
    /// Build settings.
    pub settings: BuildSettings,
    /// Watch caches.
    pub stores: Stores,
    /// Requeue interval of healthy objects (status refresh).
    pub resync: Duration,
    backoff: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// A context.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Client,
        engines: EngineRegistry,
        issuer: Arc<dyn NodeIssuer>,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        applier: Applier,
        settings: BuildSettings,
        stores: Stores,
        resync: Duration,
    ) -> Context {
        Context {
            client,
            engines,
            issuer,
            recorder,
            metrics,
            applier,
            settings,
            stores,
            resync,
            backoff: Mutex::new(HashMap::new()),
        }
    }

    fn backoff_key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
        format!(
            "{}/{}/{}",
            K::kind(&()),
            obj.meta().namespace.as_deref().unwrap_or_default(),
            obj.meta().name.as_deref().unwrap_or_default()
        )
    }

    /// Forgets an object's failures after a success.
    pub fn succeeded<K: Resource<DynamicType = ()>>(&self, obj: &K) {
        self.backoff
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&Self::backoff_key(obj));
    }

    /// Counts a failure and returns how long to wait: 2 s doubling to 5 min, per object, so
    /// one failing object never slows the others.
    pub fn failed<K: Resource<DynamicType = ()>>(&self, obj: &K) -> Duration {
        let mut b = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        let n = b.entry(Self::backoff_key(obj)).or_insert(0);
        *n = n.saturating_add(1);
        backoff_delay(*n)
    }

    /// Publishes an event about `obj`; failures are logged, never fatal.
    pub async fn event<K>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) where
        K: Resource<DynamicType = ()>,
    {
        if self.applier.ensure_leading().is_err() {
            return;
        }
        let kind = match type_ {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        };
        self.metrics.events.with_label_values(&[kind, reason]).inc();
        // The API limits notes to 1 kB.
        let note: String = note.chars().take(1000).collect();
        let ev = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note),
            action: action.to_owned(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, reason, "publishing an event failed");
        }
    }

    /// Events for condition transitions: Normal when the condition became good, else Warning.
    pub async fn transition_events<K>(&self, obj: &K, transitions: &[Transition])
    where
        K: Resource<DynamicType = ()>,
    {
        for t in transitions {
            let c = &t.condition;
            let type_ = if c.is_good() {
                EventType::Normal
            } else {
                EventType::Warning
            };
            let note = if c.message.is_empty() {
                format!("{} is {}", c.type_, c.status.as_str())
            } else {
                format!("{} is {}: {}", c.type_, c.status.as_str(), c.message)
            };
            self.event(obj, type_, &c.reason, c.type_, note).await;
        }
    }

    /// Writes `status` by server-side apply (with apiVersion and kind, as the apiserver
    /// requires), unless it equals `current`. Returns whether it wrote.
    pub async fn write_status<K, S>(
        &self,
        obj: &K,
        current: Option<&S>,
        status: &S,
    ) -> Result<bool, ReconcileError>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Debug,
        S: Serialize + PartialEq,
    {
        if current == Some(status) {
            return Ok(false);
        }
        self.applier.ensure_leading()?;
        let ns = obj.meta().namespace.clone().unwrap_or_default();
        let name = obj.meta().name.clone().unwrap_or_default();
        let api: Api<K> = Api::namespaced(self.client.clone(), &ns);
        let body = serde_json::json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "status": status,
        });
        api.patch_status(
            &name,
            &PatchParams::apply(STATUS_FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|source| ReconcileError::Kube {
            what: format!("status of {} {ns}/{name}", K::kind(&())),
            source,
        })?;
        self.metrics
            .status_writes
            .with_label_values(&[&K::kind(&())])
            .inc();
        Ok(true)
    }

    /// The live child of a kind, as the watch cache has it.
    pub fn live_child(&self, kind: &str, namespace: &str, name: &str) -> Option<LiveChild> {
        fn get<K>(store: &Store<K>, ns: &str, name: &str) -> Option<LiveChild>
        where
            K: Resource<DynamicType = ()> + Clone,
        {
            store
                .get(&ObjectRef::new(name).within(ns))
                .map(|o| LiveChild::of(o.meta()))
        }
        let s = &self.stores;
        match kind {
            "ConfigMap" => get(&s.config_maps, namespace, name),
            "Secret" => get(&s.secrets, namespace, name),
            "Service" => get(&s.services, namespace, name),
            "StatefulSet" => get(&s.statefulsets, namespace, name),
            "NetworkPolicy" => get(&s.network_policies, namespace, name),
            "PodDisruptionBudget" => {
                let resource = self.settings.pdb.api_resource()?;
                s.pdbs.as_ref().and_then(|store| {
                    store
                        .get(&ObjectRef::new_with(name, resource).within(namespace))
                        .map(|o| LiveChild::of(&o.metadata))
                })
            }
            _ => None,
        }
    }

    /// Every member that references the network `(namespace, name)`, sorted.
    pub fn members_of(&self, namespace: &str, name: &str) -> Vec<Arc<ChainMember>> {
        let mut out: Vec<Arc<ChainMember>> = self
            .stores
            .members
            .state()
            .into_iter()
            .filter(|m| m.network_key() == (namespace.to_owned(), name.to_owned()))
            .collect();
        out.sort_by_key(|m| (m.namespace(), m.name_any()));
        out
    }
}

/// 2 s doubling per consecutive failure, at most 5 minutes.
pub fn backoff_delay(failures: u32) -> Duration {
    let secs = 2u64.saturating_mul(1u64 << failures.saturating_sub(1).min(16));
    Duration::from_secs(secs.min(300))
}

/// Why a reconcile failed (and will be retried with backoff). Problems in a spec are not
/// errors: they are reported by a condition and an event and wait for a spec change.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The apiserver refused or failed.
    #[error("{what}: {source}")]
    Kube {
        /// What was being done.
        what: String,
        /// The error.
        source: kube::Error,
    },
    /// Applying a child failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// The certificate issuer failed (its message says which and, for the platform, carries
    /// the platform's error code first).
    #[error(transparent)]
    Issuer(#[from] IssuerError),
    /// An engine failed where it should not (key generation, genesis).
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    /// A node-key Secret is unusable.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The stored genesis is unusable.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// The build step failed.
    #[error("build: {0}")]
    Build(#[from] BuildError),
    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
}

impl ReconcileError {
    /// Stable CamelCase reason: condition reasons, event reasons, the errors metric.
    pub fn reason(&self) -> &'static str {
        match self {
            ReconcileError::Kube {
                source: kube::Error::Api(e),
                ..
            } if e.code == 403 => "Forbidden",
            ReconcileError::Kube {
                source: kube::Error::Api(e),
                ..
            } if e.code == 409 => "Conflict",
            ReconcileError::Kube { .. } => "KubernetesApiError",
            ReconcileError::Apply(e) => e.reason(),
            ReconcileError::Issuer(e) => e.reason(),
            ReconcileError::Engine(e) => e.reason(),
            ReconcileError::Identity(e) => e.reason(),
            ReconcileError::Genesis(e) => e.reason(),
            ReconcileError::Build(e) => e.reason(),
            ReconcileError::Finalizer(_) => "FinalizerFailed",
        }
    }
}

/// The error policy of both controllers: count, then requeue the object after its own backoff.
pub fn error_policy<K>(obj: Arc<K>, error: &ReconcileError, ctx: Arc<Context>) -> Action
where
    K: Resource<DynamicType = ()>,
{
    let kind = K::kind(&());
    ctx.metrics
        .failures
        .with_label_values(&[&kind, error.reason()])
        .inc();
    let delay = ctx.failed(obj.as_ref());
    tracing::warn!(
        kind = %kind,
        namespace = obj.meta().namespace.as_deref().unwrap_or_default(),
        name = obj.meta().name.as_deref().unwrap_or_default(),
        reason = error.reason(),
        error = %error,
        retry_in = ?delay,
        "reconcile failed"
    );
    Action::requeue(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let d: Vec<u64> = (1..=10).map(|n| backoff_delay(n).as_secs()).collect();
        assert_eq!(d, vec![2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(backoff_delay(u32::MAX).as_secs(), 300);
    }
}
