//! The apply step: server-side apply of desired children with one field manager, writing
//! nothing when nothing changed.
//!
//! Each desired object carries the hash of its desired form in an annotation. An object is
//! skipped (no request at all) when the live object, as the watch cache shows it, carries the
//! same hash **and** still has the resourceVersion this process last saw after applying or
//! checking it. Any other change to the object (someone edited it, another controller touched
//! it, this process restarted) costs one apply, which the apiserver turns into a no-op when our
//! fields already hold: the steady state is zero writes.

use crate::children::DesiredChild;
use crate::labels;
use crate::metrics::Metrics;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Field manager of everything the controller applies except status.
pub const FIELD_MANAGER: &str = "yuelu-controller";
/// Field manager of status writes.
pub const STATUS_FIELD_MANAGER: &str = "yuelu-controller-status";

/// Why an apply failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// This replica is not the leader (any more): it must not write.
    #[error("not the leader: refusing to write")]
    NotLeader,
    /// The apiserver refused or failed.
    #[error("{verb} {kind} {namespace}/{name}: {source}")]
    Kube {
        /// apply or delete.
        verb: &'static str,
        /// The object's kind.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The error (boxed: it is large, and errors travel through every result).
        source: Box<kube::Error>,
    },
    /// The object could not be hashed.
    #[error("encoding {0}")]
    Encoding(String),
}

impl ApplyError {
    /// Stable CamelCase reason for conditions and events.
    pub fn reason(&self) -> &'static str {
        match self {
            ApplyError::NotLeader => "NotLeader",
            ApplyError::Kube { source, .. } => match source.as_ref() {
                kube::Error::Api(e) if e.code == 422 => "ChildRejected",
                kube::Error::Api(e) if e.code == 403 => "Forbidden",
                _ => "ApplyFailed",
            },
            ApplyError::Encoding(_) => "EncodingFailed",
        }
    }
}

/// What the watch cache shows of a live child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveChild {
    /// Its resourceVersion.
    pub resource_version: String,
    /// Its desired-hash annotation.
    pub desired_hash: Option<String>,
}

impl LiveChild {
    /// From an object's metadata.
    pub fn of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> LiveChild {
        LiveChild {
            resource_version: meta.resource_version.clone().unwrap_or_default(),
            desired_hash: meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(labels::ANNOTATION_DESIRED_HASH))
                .cloned(),
        }
    }
}

/// What [`Applier::apply`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing sent: the live object is what we last applied.
    Skipped,
    /// Applied; the apiserver changed nothing (same resourceVersion).
    Unchanged,
    /// Created.
    Created,
    /// Updated.
    Updated,
}

type Key = (String, String, String);

/// Applies children; remembers the resourceVersions it last saw.
#[derive(Clone)]
pub struct Applier {
    client: Client,
    seen: Arc<Mutex<HashMap<Key, String>>>,
    metrics: Arc<Metrics>,
    leading: watch::Receiver<bool>,
}

impl std::fmt::Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applier").finish_non_exhaustive()
    }
}

/// The hash of an object's desired form (its annotation excluded).
pub fn desired_hash(obj: &DynamicObject) -> Result<String, ApplyError> {
    let bytes = serde_json::to_vec(obj).map_err(|e| ApplyError::Encoding(e.to_string()))?;
    Ok(hex::encode(&Sha256::digest(&bytes)[..16]))
}

impl Applier {
    /// An applier that writes only while `leading` is true.
    pub fn new(client: Client, metrics: Arc<Metrics>, leading: watch::Receiver<bool>) -> Self {
        Applier {
            client,
            seen: Arc::default(),
            metrics,
            leading,
        }
    }

    /// Fails unless this replica leads.
    pub fn ensure_leading(&self) -> Result<(), ApplyError> {
        if *self.leading.borrow() {
            Ok(())
        } else {
            Err(ApplyError::NotLeader)
        }
    }

    fn key(child: &DesiredChild) -> Key {
        (
            child.resource.kind.clone(),
            child.object.metadata.namespace.clone().unwrap_or_default(),
            child.name().to_owned(),
        )
    }

    /// Applies one child unless the live object already is what we want.
    pub async fn apply(
        &self,
        mut child: DesiredChild,
        live: Option<LiveChild>,
    ) -> Result<Outcome, ApplyError> {
        let hash = desired_hash(&child.object)?;
        let key = Self::key(&child);
        if let Some(live) = &live {
            let seen = self
                .seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
                .cloned();
            if live.desired_hash.as_deref() == Some(hash.as_str())
                && seen.as_deref() == Some(live.resource_version.as_str())
            {
                self.metrics
                    .writes
                    .with_label_values(&[&key.0, "skipped"])
                    .inc();
                return Ok(Outcome::Skipped);
            }
        }
        self.ensure_leading()?;
        child
            .object
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(labels::ANNOTATION_DESIRED_HASH.into(), hash);
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &key.1, &child.resource);
        let applied = api
            .patch(
                &key.2,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&child.object),
            )
            .await
            .map_err(|source| ApplyError::Kube {
                verb: "apply",
                kind: key.0.clone(),
                namespace: key.1.clone(),
                name: key.2.clone(),
                source: Box::new(source),
            })?;
        let rv = applied
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default();
        let outcome = match &live {
            None => Outcome::Created,
            Some(l) if l.resource_version == rv => Outcome::Unchanged,
            Some(_) => Outcome::Updated,
        };
        let label = match outcome {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            _ => "unchanged",
        };
        self.metrics
            .writes
            .with_label_values(&[&key.0, label])
            .inc();
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, rv);
        Ok(outcome)
    }

    /// Deletes a child that the desired state no longer has (orphan collection by label).
    pub async fn delete(
        &self,
        resource: &kube::api::ApiResource,
        namespace: &str,
        name: &str,
    ) -> Result<(), ApplyError> {
        self.ensure_leading()?;
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, resource);
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(source) => {
                return Err(ApplyError::Kube {
                    verb: "delete",
                    kind: resource.kind.clone(),
                    namespace: namespace.into(),
                    name: name.into(),
                    source: Box::new(source),
                });
            }
        }
        self.metrics
            .writes
            .with_label_values(&[&resource.kind, "deleted"])
            .inc();
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(resource.kind.clone(), namespace.to_owned(), name.to_owned()));
        Ok(())
    }
}
