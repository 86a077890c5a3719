//! The `ChainNetwork` reconciler: dereference its members → validate → genesis (computed once,
//! then immutable) → status. It owns only the genesis ConfigMap; owner references clean that
//! up, so it has no finalizer.

use super::{Context, ReconcileError};
use crate::conditions;
use crate::crd::{ChainMember, ChainNetwork, ChainNetworkStatus, GenesisStatus, NetworkPhase};
use crate::engines;
use crate::genesis::{self, StoredGenesis, Waiting};
use crate::labels;
use crate::status::{self, NetworkObservation};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;
use yuelu_engine::{GenesisInput, NetworkSpec, NodeRole};

const KIND: &str = "ChainNetwork";

/// Reconciles one network.
pub async fn reconcile(
    net: Arc<ChainNetwork>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let start = Instant::now();
    ctx.metrics.reconciliations.with_label_values(&[KIND]).inc();
    let result = Box::pin(pipeline(&net, &ctx)).await;
    ctx.metrics
        .duration
        .with_label_values(&[KIND])
        .observe(start.elapsed().as_secs_f64());
    match result {
        Ok(action) => {
            ctx.succeeded(net.as_ref());
            Ok(action)
        }
        Err(e) => {
            ctx.event(
                net.as_ref(),
                EventType::Warning,
                e.reason(),
                "Reconcile",
                e.to_string(),
            )
            .await;
            Err(e)
        }
    }
}

/// What is wrong with a network spec: `(reason, message)`.
fn validate(
    net: &ChainNetwork,
    members: &[Arc<ChainMember>],
    ctx: &Context,
) -> Result<NetworkSpec, (String, String)> {
    let spec = engines::network_spec(net).map_err(|e| (e.reason().to_owned(), e.to_string()))?;
    let engine = ctx
        .engines
        .get(spec.engine)
        .map_err(|e| (e.reason().to_owned(), e.to_string()))?;
    engine
        .validate(&spec)
        .map_err(|e| (e.reason().to_owned(), e.to_string()))?;
    let validators: u32 = members.iter().map(|m| m.spec.validators).sum();
    let caps = engine.capabilities();
    if validators > *caps.validators.end() {
        return Err((
            "TooManyValidators".into(),
            format!(
                "members ask for {validators} validators; {} allows {}..={}",
                spec.engine,
                caps.validators.start(),
                caps.validators.end()
            ),
        ));
    }
    // The chain id is written into the genesis: it cannot change afterwards.
    if let Some(recorded) = net
        .status
        .as_ref()
        .and_then(|s| s.genesis.as_ref().and(s.chain_id.as_ref()))
        && recorded != spec.chain_id.as_str()
    {
        return Err((
            "ChainIdImmutable".into(),
            format!(
                "the genesis is for chain {recorded}; spec asks for {}",
                spec.chain_id
            ),
        ));
    }
    let mut orgs = BTreeSet::new();
    for m in members {
        if !orgs.insert(m.spec.organization.as_str()) {
            return Err((
                "DuplicateOrganization".into(),
                format!(
                    "organization {} has more than one member",
                    m.spec.organization
                ),
            ));
        }
    }
    Ok(spec)
}

fn owner(net: &ChainNetwork) -> OwnerReference {
    OwnerReference {
        api_version: ChainNetwork::api_version(&()).into_owned(),
        kind: ChainNetwork::kind(&()).into_owned(),
        name: net.name_any(),
        uid: net.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Computes the genesis from the founding validators (or reproduces a recorded one) and stores
/// it, exactly once: the ConfigMap is created, never updated; a second writer gets a conflict
/// and reads the first one's.
async fn create_genesis(
    net: &ChainNetwork,
    ctx: &Context,
    spec: &NetworkSpec,
    members: &[Arc<ChainMember>],
) -> Result<Result<StoredGenesis, (String, String)>, ReconcileError> {
    let ns = net.namespace().unwrap_or_default();
    let name = net.name_any();
    let member_refs: Vec<&ChainMember> = members.iter().map(|m| m.as_ref()).collect();
    let recorded = net.status.as_ref().and_then(|s| s.genesis.clone());
    let (validators, time_unix_ms) = match &recorded {
        // The ConfigMap is gone but the status remembers the genesis: reproduce it from the same
        // validators and time (engines are deterministic) and check the hash.
        Some(g) => {
            let all: Vec<_> = member_refs
                .iter()
                .flat_map(|m| genesis::member_identities(m))
                .collect();
            let mut vs = Vec::new();
            for node in &g.validators {
                match all.iter().find(|i| i.node.as_str() == node) {
                    Some(i) => vs.push(i.clone()),
                    None => {
                        return Ok(Err((
                            "GenesisLost".into(),
                            format!(
                                "genesis ConfigMap is gone and validator {node} no longer publishes its identity"
                            ),
                        )));
                    }
                }
            }
            (vs, g.time_unix_ms)
        }
        None => match genesis::founding_validators(net, &member_refs) {
            Ok(vs) => (vs, now_unix_ms()),
            Err(w) => {
                let reason = match w {
                    Waiting::NoMembers => "WaitingForMembers",
                    Waiting::FounderMissing(_) => "WaitingForFounders",
                    Waiting::Identities(_) => "WaitingForIdentities",
                    Waiting::NoValidators => "NoValidators",
                };
                return Ok(Err((reason.into(), w.message())));
            }
        },
    };
    let engine = ctx.engines.get(spec.engine)?;
    let computed = engine.genesis(&GenesisInput {
        spec,
        validators: &validators,
        time_unix_ms,
    })?;
    if let Some(g) = &recorded
        && g.hash != computed.hash.0
    {
        return Ok(Err((
            "GenesisLost".into(),
            format!(
                "genesis ConfigMap is gone and the recomputed genesis {} differs from {}",
                computed.hash, g.hash
            ),
        )));
    }
    let stored = StoredGenesis {
        genesis: computed,
        time_unix_ms,
        validators: validators.iter().map(|v| v.node.to_string()).collect(),
    };
    let cm = genesis::config_map(
        &stored,
        labels::network_genesis(&name),
        &ns,
        labels::network_labels(&ns, &name, labels::COMPONENT_GENESIS),
        Some(owner(net)),
    );
    ctx.applier.ensure_leading()?;
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    let stored = match api.create(&PostParams::default(), &cm).await {
        Ok(_) => {
            ctx.metrics
                .writes
                .with_label_values(&["ConfigMap", "created"])
                .inc();
            ctx.event(
                net,
                EventType::Normal,
                "GenesisComputed",
                "ComputeGenesis",
                format!(
                    "genesis {} from {} validators",
                    stored.genesis.hash,
                    stored.validators.len()
                ),
            )
            .await;
            stored
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let existing = api
                .get(&labels::network_genesis(&name))
                .await
                .map_err(|source| ReconcileError::Kube {
                    what: format!("genesis of {ns}/{name}"),
                    source,
                })?;
            genesis::read(&existing)?
        }
        Err(source) => {
            return Err(ReconcileError::Kube {
                what: format!("creating the genesis of {ns}/{name}"),
                source,
            });
        }
    };
    Ok(Ok(stored))
}

fn now_unix_ms() -> u64 {
    u64::try_from(Timestamp::now().as_millisecond()).unwrap_or_default()
}

async fn pipeline(net: &ChainNetwork, ctx: &Context) -> Result<Action, ReconcileError> {
    let ns = net.namespace().unwrap_or_default();
    let name = net.name_any();
    let deleting = net.metadata.deletion_timestamp.is_some();

    // Dereference: members (from the watch cache) and the stored genesis.
    let members = ctx.members_of(&ns, &name);
    let stored_cm = ctx
        .stores
        .genesis
        .get(&ObjectRef::new(&labels::network_genesis(&name)).within(&ns));

    // Validate.
    let validated = validate(net, &members, ctx);

    // Genesis: read the stored one, or compute it once.
    let mut invalid = validated.as_ref().err().cloned();
    let mut genesis_waiting = None;
    let stored = match (&stored_cm, &validated) {
        (Some(cm), _) => match genesis::read(cm) {
            Ok(g) => Some(g),
            Err(e) => {
                invalid = Some((e.reason().into(), e.to_string()));
                None
            }
        },
        (None, Ok(spec)) if !deleting => match create_genesis(net, ctx, spec, &members).await? {
            Ok(g) => Some(g),
            Err(waiting) => {
                if waiting.0 == "GenesisLost" {
                    invalid = Some(waiting.clone());
                }
                genesis_waiting = Some(waiting);
                None
            }
        },
        _ => None,
    };

    // Status.
    let old = net.status.clone().unwrap_or_default();
    let validators: u32 = members.iter().map(|m| m.spec.validators).sum();
    let mut ready_validators = 0u32;
    let mut height = None;
    for m in &members {
        for n in m.status.iter().flat_map(|s| s.nodes.iter()) {
            if n.role == NodeRole::Validator && n.ready {
                ready_validators += 1;
            }
            height = height.max(n.height);
        }
    }
    let (phase, desired) = status::network_phase(&NetworkObservation {
        deleting,
        invalid,
        genesis: stored.as_ref().map(|g| g.genesis.hash.0.clone()),
        genesis_waiting,
        validators,
        ready_validators: ready_validators.min(validators),
        consensus: net.spec.consensus,
        previous: old.phase,
    });
    let (conditions, transitions) = conditions::merge(
        &old.conditions,
        &desired,
        net.metadata.generation,
        &Time(Timestamp::now()),
    );
    let chain_id = match &stored {
        // Once there is a genesis, the chain id is the one it was computed for.
        Some(_) => old.chain_id.clone().or_else(|| Some(net.chain_id())),
        None => Some(net.chain_id()),
    };
    let new = ChainNetworkStatus {
        phase,
        observed_generation: net.metadata.generation,
        conditions,
        chain_id,
        members: u32::try_from(members.len()).unwrap_or(u32::MAX),
        validators,
        ready: status::ready_fraction(
            ready_validators.min(validators) as usize,
            validators as usize,
        ),
        genesis_hash: stored.as_ref().map(|g| g.genesis.hash.0.clone()),
        genesis: stored.as_ref().map(|g| GenesisStatus {
            hash: g.genesis.hash.0.clone(),
            time_unix_ms: g.time_unix_ms,
            config_map: labels::network_genesis(&name),
            validators: g.validators.clone(),
        }),
        height,
    };
    ctx.write_status(net, net.status.as_ref(), &new).await?;
    if phase != old.phase || net.status.is_none() {
        let type_ = match phase {
            NetworkPhase::Failed | NetworkPhase::Degraded => EventType::Warning,
            _ => EventType::Normal,
        };
        ctx.event(
            net,
            type_,
            phase.as_str(),
            "Phase",
            format!("phase {} → {}", old.phase.as_str(), phase.as_str()),
        )
        .await;
    }
    ctx.transition_events(net, &transitions).await;
    Ok(Action::requeue(ctx.resync))
}
