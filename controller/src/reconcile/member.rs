//! The `ChainMember` reconciler: dereference (network, engine, genesis, peers) → validate →
//! identities (node keys, generated once in the cluster) → plan → certificates (CSR to the
//! issuer) → build (pure) → apply (server-side apply, orphans removed by label) → status.
//!
//! Its finalizer revokes the member's node certificates at the issuer: the one cleanup that
//! owner references cannot do.

use super::{Context, ReconcileError};
use crate::children::{self, BuildInput, Certificates, NodeCertificate};
use crate::conditions::{self, Desired, Status};
use crate::crd::{ChainMember, ChainMemberStatus, ChainNetwork};
use crate::engines;
use crate::genesis::{self, StoredGenesis};
use crate::identity::{self, NodeKeys};
use crate::issuer::{self, CertificateRequest, Credentials};
use crate::labels;
use crate::status;
use crate::trust;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use yuelu_engine::{
    ChangeProcedure, NetworkSpec, NodeIdentity, NodeName, NodePlan, NodeRole, OrgName, SecretName,
    ValidatorSetChange,
};

/// The member finalizer: revoke node certificates before the member goes.
pub const FINALIZER: &str = "yuelu.io/revoke-certificates";
const KIND: &str = "ChainMember";

/// Reconciles one member.
pub async fn reconcile(
    member: Arc<ChainMember>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let start = Instant::now();
    ctx.metrics.reconciliations.with_label_values(&[KIND]).inc();
    ctx.applier.ensure_leading()?;
    let ns = member.namespace().unwrap_or_default();
    let api: Api<ChainMember> = Api::namespaced(ctx.client.clone(), &ns);
    let result = finalizer(&api, FINALIZER, member.clone(), |event| async {
        match event {
            FinalizerEvent::Apply(m) => Box::pin(apply(m, ctx.clone())).await,
            FinalizerEvent::Cleanup(m) => Box::pin(cleanup(m, ctx.clone())).await,
        }
    })
    .await;
    ctx.metrics
        .duration
        .with_label_values(&[KIND])
        .observe(start.elapsed().as_secs_f64());
    let result = match result {
        Ok(a) => Ok(a),
        Err(kube::runtime::finalizer::Error::ApplyFailed(e))
        | Err(kube::runtime::finalizer::Error::CleanupFailed(e)) => Err(e),
        Err(e) => Err(ReconcileError::Finalizer(e.to_string())),
    };
    match result {
        Ok(a) => {
            ctx.succeeded(member.as_ref());
            Ok(a)
        }
        Err(e) => {
            ctx.event(
                member.as_ref(),
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

/// What the member reconcile found around the member.
struct Deref {
    network: Arc<ChainNetwork>,
    spec: NetworkSpec,
    genesis: Option<StoredGenesis>,
    peers: Vec<Arc<ChainMember>>,
}

/// A problem that waits for a spec change or another object, not a retry: `(reason, message)`.
type Waiting = (String, String);

fn dereference(member: &ChainMember, ctx: &Context) -> Result<Deref, Waiting> {
    let (net_ns, net_name) = member.network_key();
    let network = ctx
        .stores
        .networks
        .get(&ObjectRef::new(&net_name).within(&net_ns))
        .ok_or_else(|| {
            (
                "NetworkNotFound".to_owned(),
                format!("ChainNetwork {net_ns}/{net_name} does not exist"),
            )
        })?;
    let spec = engines::network_spec(&network)
        .map_err(|e| (e.reason().to_owned(), format!("network: {e}")))?;
    let engine = ctx
        .engines
        .get(spec.engine)
        .map_err(|e| (e.reason().to_owned(), e.to_string()))?;
    engine.validate(&spec).map_err(|e| {
        (
            "NetworkInvalid".to_owned(),
            format!("network {net_ns}/{net_name}: {e}"),
        )
    })?;
    let genesis = match ctx
        .stores
        .genesis
        .get(&ObjectRef::new(&labels::network_genesis(&net_name)).within(&net_ns))
    {
        Some(cm) => Some(genesis::read(&cm).map_err(|e| (e.reason().to_owned(), e.to_string()))?),
        None => None,
    };
    let peers = ctx.members_of(&net_ns, &net_name);
    Ok(Deref {
        network,
        spec,
        genesis,
        peers,
    })
}

fn validate(member: &ChainMember, d: &Deref, ctx: &Context) -> Result<(), Waiting> {
    let name = member.name_any();
    if name.len() > labels::MAX_MEMBER_NAME {
        return Err((
            "MemberNameTooLong".into(),
            format!(
                "member names may have at most {} characters so that node names stay DNS labels",
                labels::MAX_MEMBER_NAME
            ),
        ));
    }
    if member.spec.validators + member.spec.observers == 0 {
        return Err((
            "NoNodes".into(),
            "the member runs no validators and no observers".into(),
        ));
    }
    let caps = ctx
        .engines
        .get(d.spec.engine)
        .map_err(|e| (e.reason().to_owned(), e.to_string()))?
        .capabilities();
    if member.spec.validators > *caps.validators.end() {
        return Err((
            "TooManyValidators".into(),
            format!(
                "{} allows at most {} validators",
                d.spec.engine,
                caps.validators.end()
            ),
        ));
    }
    // Organisations and node names are unique in a network; the older member keeps its claim.
    let me = (member.namespace(), member.name_any());
    for p in &d.peers {
        if (p.namespace(), p.name_any()) == me {
            continue;
        }
        let older = claim_order(p) < claim_order(member);
        if older && p.spec.organization == member.spec.organization {
            return Err((
                "OrganizationTaken".into(),
                format!(
                    "organization {} is already a member of the network ({}/{})",
                    member.spec.organization,
                    p.namespace().unwrap_or_default(),
                    p.name_any()
                ),
            ));
        }
        if older && p.name_any() == name {
            return Err((
                "NodeNamesTaken".into(),
                format!(
                    "member {}/{name} of the same network already uses the node names {name}-*: rename this member",
                    p.namespace().unwrap_or_default()
                ),
            ));
        }
    }
    Ok(())
}

/// The order in which members claim organisations and node names: oldest first (creation
/// time, then namespace and name to break ties).
fn claim_order(m: &ChainMember) -> (Option<Timestamp>, Option<String>, String) {
    (
        m.metadata.creation_timestamp.clone().map(|t| t.0),
        m.namespace(),
        m.name_any(),
    )
}

/// The member's nodes: `(role, name)` in order.
fn expected_nodes(member: &ChainMember) -> Vec<(NodeRole, String)> {
    let name = member.name_any();
    let mut out = Vec::new();
    for role in [NodeRole::Validator, NodeRole::Observer] {
        for i in 0..member.replicas(role) {
            out.push((role, labels::node(&name, role, i)));
        }
    }
    out
}

/// Existing node keys of the member, from the watch cache (no generation).
fn existing_keys(member: &ChainMember, ctx: &Context) -> BTreeMap<String, NodeKeys> {
    let ns = member.namespace().unwrap_or_default();
    let mut out = BTreeMap::new();
    for (_, node) in expected_nodes(member) {
        if let Some(s) = ctx
            .stores
            .secrets
            .get(&ObjectRef::new(&labels::node_key_secret(&node)).within(&ns))
            && let Ok(k) = identity::read_key_secret(&s)
        {
            out.insert(node, k);
        }
    }
    out
}

/// Makes sure every node has keys: reads them back, or generates them with the engine and
/// creates the Secret. Creation is create-only, so two writers (a restart, a hand-over) never
/// end up with two key sets: the loser of the race reads the winner's.
async fn ensure_keys(
    member: &ChainMember,
    d: &Deref,
    ctx: &Context,
) -> Result<BTreeMap<String, NodeKeys>, ReconcileError> {
    let ns = member.namespace().unwrap_or_default();
    let mut keys = existing_keys(member, ctx);
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let engine = ctx.engines.get(d.spec.engine)?;
    let org = OrgName::new(member.spec.organization.clone())?;
    let (net_ns, net_name) = member.network_key();
    let mut generated = Vec::new();
    for (role, node) in expected_nodes(member) {
        if keys.contains_key(&node) {
            continue;
        }
        let secret_name = labels::node_key_secret(&node);
        let kube_err = |source| ReconcileError::Kube {
            what: format!("node key {ns}/{secret_name}"),
            source,
        };
        // The cache may lag behind a Secret created a moment ago.
        if let Some(s) = api.get_opt(&secret_name).await.map_err(kube_err)? {
            keys.insert(node, identity::read_key_secret(&s)?);
            continue;
        }
        let fresh =
            engine.generate_node_keys(&d.spec, &NodeName::new(node.clone())?, &org, role)?;
        let secret = identity::key_secret(
            &fresh,
            &ns,
            labels::member_labels(
                &net_ns,
                &net_name,
                &member.name_any(),
                labels::COMPONENT_NODE_KEY,
            ),
            children::owner_reference(member),
        )
        .map_err(|e| children::BuildError::Encoding {
            what: secret_name.clone(),
            reason: e.to_string(),
        })?;
        ctx.applier.ensure_leading()?;
        let created = match api.create(&PostParams::default(), &secret).await {
            Ok(s) => {
                ctx.metrics
                    .writes
                    .with_label_values(&["Secret", "created"])
                    .inc();
                generated.push(node.clone());
                s
            }
            Err(kube::Error::Api(e)) if e.code == 409 => {
                api.get(&secret_name).await.map_err(kube_err)?
            }
            Err(e) => return Err(kube_err(e)),
        };
        keys.insert(node, identity::read_key_secret(&created)?);
    }
    if !generated.is_empty() {
        ctx.event(
            member,
            EventType::Normal,
            "NodeKeysGenerated",
            "GenerateKeys",
            format!("generated keys for {}", generated.join(", ")),
        )
        .await;
    }
    Ok(keys)
}

/// Every node of the network with its member's `(namespace, name)`: this member's from its
/// keys, the others' from their published status.
fn network_nodes(
    member: &ChainMember,
    keys: &BTreeMap<String, NodeKeys>,
    d: &Deref,
) -> Vec<(NodeIdentity, (String, String))> {
    let me = (member.namespace().unwrap_or_default(), member.name_any());
    let mut out: Vec<(NodeIdentity, (String, String))> = Vec::new();
    let org = OrgName::new(member.spec.organization.clone()).ok();
    for (role, node) in expected_nodes(member) {
        if let Some(k) = keys.get(&node) {
            let mut id = k.identity.clone();
            id.role = role;
            if let Some(o) = &org {
                id.org = o.clone();
            }
            out.push((id, me.clone()));
        }
    }
    for p in &d.peers {
        let key = (p.namespace().unwrap_or_default(), p.name_any());
        if key == me {
            continue;
        }
        for id in genesis::member_identities(p) {
            out.push((id, key.clone()));
        }
    }
    out.sort_by(|a, b| a.0.node.cmp(&b.0.node));
    out
}

fn now_secs() -> i64 {
    Timestamp::now().as_second()
}

/// The member's certificates and the CA bundle (PEM) of the CAs that issued them.
struct MemberCertificates {
    /// Every certificate the plans need, kept or fresh.
    certificates: Certificates,
    /// What the certificate Secrets recorded before this pass: what status shows while the
    /// fresh ones are not recorded (so that a failing pass does not change status and so
    /// trigger itself again).
    recorded: Certificates,
    /// Serials issued in this pass.
    fresh: Vec<String>,
    /// The credentials they were issued with.
    credentials: Option<Credentials>,
    issuer_bundle: String,
}

/// Issues the certificates the plans need and that are missing, no longer match their key and
/// names, or are two thirds through their lifetime. Returns all of the member's certificates.
///
/// Credentials (the enrollment token) are read only when something is to be issued. If an
/// issuance fails after others succeeded in the same pass, those are revoked again: nothing
/// would record them, so nothing could revoke them later.
async fn ensure_certificates(
    member: &ChainMember,
    plans: &[NodePlan],
    keys: &BTreeMap<String, NodeKeys>,
    ctx: &Context,
) -> Result<MemberCertificates, ReconcileError> {
    let ns = member.namespace().unwrap_or_default();
    let name = member.name_any();
    // Live certificates with the bundle they were issued under, read from the same Secret.
    // Without that bundle nobody could trust them: they are issued afresh (the platform
    // answers its bundle with each certificate; the development issuer knows its own).
    let mut live: BTreeMap<(String, SecretName), (NodeCertificate, String)> = BTreeMap::new();
    for role in [NodeRole::Validator, NodeRole::Observer] {
        if let Some(s) = ctx
            .stores
            .secrets
            .get(&ObjectRef::new(&labels::role_certificates(&name, role)).within(&ns))
            && let Some(bundle) =
                children::read_issuer_bundle(&s).or_else(|| ctx.issuer.known_ca_bundle())
        {
            for (k, c) in children::read_certificates(&s) {
                live.insert(k, (c, bundle.clone()));
            }
        }
    }
    let now = now_secs();
    let mut out = Certificates::new();
    let mut credentials = None;
    let mut issued: Vec<(String, String)> = Vec::new();
    let mut bundles: Vec<String> = Vec::new();
    for plan in plans {
        let node = plan.node.to_string();
        let Some(k) = keys.get(&node) else {
            continue;
        };
        for need in &plan.certificates {
            let key_pem = k
                .secrets
                .0
                .get(&need.key)
                .ok_or_else(|| issuer::IssuerError::Key {
                    key: need.key.to_string(),
                    reason: format!("node {node} has no such key"),
                })?;
            let fingerprint = issuer::need_fingerprint(key_pem, need);
            if let Some((c, bundle)) = live.get(&(node.clone(), need.name.clone()))
                && c.fingerprint == fingerprint
                && !c.needs_renewal(now)
            {
                out.insert((node.clone(), need.name.clone()), c.clone());
                bundles.push(bundle.clone());
                continue;
            }
            let result = async {
                let csr = issuer::build_csr(key_pem, need, &node, &member.spec.organization)?;
                if credentials.is_none() {
                    credentials = Some(ctx.issuer.credentials(member).await?);
                }
                let creds = credentials.as_ref().unwrap_or(issuer::NO_CREDENTIALS);
                ctx.issuer
                    .issue(
                        creds,
                        CertificateRequest {
                            csr_pem: csr.pem,
                            suite: csr.suite,
                            profile: need.profile,
                            node: node.clone(),
                        },
                    )
                    .await
            }
            .await;
            let cert = match result {
                Ok(c) => c,
                Err(e) => {
                    let fresh: Vec<String> = issued.iter().map(|(_, s)| s.clone()).collect();
                    abandon(member, ctx, credentials.as_ref(), &fresh).await;
                    return Err(e.into());
                }
            };
            let not_after = cert
                .not_after
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                .unwrap_or_default();
            issued.push((format!("{node}/{}", need.name), cert.serial.clone()));
            bundles.push(cert.ca_bundle);
            out.insert(
                (node.clone(), need.name.clone()),
                NodeCertificate {
                    pem: cert.pem,
                    serial: cert.serial,
                    issued_at: now,
                    not_after,
                    fingerprint,
                },
            );
        }
    }
    // Kept certificates chain to the bundle they were issued under, new ones to theirs.
    let issuer_bundle = trust::merge(bundles.iter().map(String::as_str));
    if !issued.is_empty() {
        let list: Vec<String> = issued
            .iter()
            .map(|(what, serial)| format!("{what} (serial {serial})"))
            .collect();
        ctx.event(
            member,
            EventType::Normal,
            "CertificatesIssued",
            "IssueCertificates",
            format!("{} issued {}", ctx.issuer.name(), list.join(", ")),
        )
        .await;
    }
    Ok(MemberCertificates {
        certificates: out,
        recorded: live.into_iter().map(|(k, (c, _))| (k, c)).collect(),
        fresh: issued.into_iter().map(|(_, s)| s).collect(),
        credentials,
        issuer_bundle,
    })
}

/// Revokes certificates issued in a pass that failed before recording them. Best effort: a
/// failure is reported with the serials, for an operator to revoke by hand.
async fn abandon(
    member: &ChainMember,
    ctx: &Context,
    credentials: Option<&Credentials>,
    serials: &[String],
) {
    if serials.is_empty() {
        return;
    }
    let serials = serials.to_vec();
    let creds = credentials.unwrap_or(issuer::NO_CREDENTIALS);
    let unrevoked: Vec<String> = match ctx.issuer.revoke(creds, serials.clone()).await {
        Ok(r) => r
            .not_revoked
            .into_iter()
            .map(|(s, why)| format!("{s} ({why})"))
            .collect(),
        Err(e) => serials.iter().map(|s| format!("{s} ({e})")).collect(),
    };
    if !unrevoked.is_empty() {
        ctx.event(
            member,
            EventType::Warning,
            "CertificatesNotRevoked",
            "IssueCertificates",
            format!(
                "a reconcile failed after issuing certificates it could not record; these stay valid unless revoked in the platform console: {}",
                unrevoked.join(", ")
            ),
        )
        .await;
    }
}

/// Applies the desired children and deletes the member's children that are no longer desired.
///
/// A failure says whether the certificate Secrets (applied first) were all written.
async fn apply_children(
    member: &ChainMember,
    desired: Vec<children::DesiredChild>,
    ctx: &Context,
) -> Result<(usize, usize), (ReconcileError, bool)> {
    let ns = member.namespace().unwrap_or_default();
    let name = member.name_any();
    let mut wanted: BTreeSet<(String, String)> = BTreeSet::new();
    let mut changed = 0;
    let total = desired.len();
    let mut secrets_left = desired
        .iter()
        .filter(|c| c.resource.kind == "Secret")
        .count();
    for child in desired {
        wanted.insert((child.resource.kind.clone(), child.name().to_owned()));
        let live = ctx.live_child(&child.resource.kind, &ns, child.name());
        let is_secret = child.resource.kind == "Secret";
        let outcome = ctx
            .applier
            .apply(child, live)
            .await
            .map_err(|e| (e.into(), secrets_left == 0))?;
        if is_secret {
            secrets_left -= 1;
        }
        if matches!(
            outcome,
            crate::apply::Outcome::Created | crate::apply::Outcome::Updated
        ) {
            changed += 1;
        }
    }
    // Orphans: our children (by label) that the desired state no longer has, e.g. the observer
    // StatefulSet after observers went to 0. Node keys are never collected: a node that comes
    // back keeps its identity.
    let mine = |labels_: Option<&BTreeMap<String, String>>| {
        labels_.is_some_and(|l| {
            l.get(labels::LABEL_MEMBER) == Some(&name)
                && l.get(labels::LABEL_MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY)
                && l.get(labels::LABEL_COMPONENT).map(String::as_str)
                    != Some(labels::COMPONENT_NODE_KEY)
        })
    };
    let mut orphans: Vec<(ApiResource, String)> = Vec::new();
    macro_rules! collect {
        ($store:expr, $ty:ty) => {
            for o in $store.state() {
                if o.metadata.namespace.as_deref() == Some(ns.as_str())
                    && mine(o.metadata.labels.as_ref())
                    && !wanted.contains(&(<$ty as Resource>::kind(&()).into_owned(), o.name_any()))
                {
                    orphans.push((ApiResource::erase::<$ty>(&()), o.name_any()));
                }
            }
        };
    }
    collect!(
        ctx.stores.config_maps,
        k8s_openapi::api::core::v1::ConfigMap
    );
    collect!(ctx.stores.secrets, Secret);
    collect!(ctx.stores.services, k8s_openapi::api::core::v1::Service);
    collect!(
        ctx.stores.statefulsets,
        k8s_openapi::api::apps::v1::StatefulSet
    );
    collect!(
        ctx.stores.network_policies,
        k8s_openapi::api::networking::v1::NetworkPolicy
    );
    if let (Some(store), Some(resource)) = (&ctx.stores.pdbs, ctx.settings.pdb.api_resource()) {
        for o in store.state() {
            if o.metadata.namespace.as_deref() == Some(ns.as_str())
                && mine(o.metadata.labels.as_ref())
                && !wanted.contains(&("PodDisruptionBudget".to_owned(), o.name_any()))
            {
                orphans.push((resource.clone(), o.name_any()));
            }
        }
    }
    for (resource, o) in &orphans {
        ctx.applier
            .delete(resource, &ns, o)
            .await
            .map_err(|e| (e.into(), true))?;
        ctx.event(
            member,
            EventType::Normal,
            "OrphanDeleted",
            "Cleanup",
            format!("deleted {} {o}: no longer desired", resource.kind),
        )
        .await;
    }
    Ok((total, changed + orphans.len()))
}

/// Whether the member's validators are in the network's validator set and, if not, how the
/// engine says to get them in.
fn admitted(
    member: &ChainMember,
    d: &Deref,
    genesis: &StoredGenesis,
    nodes: &[(NodeIdentity, (String, String))],
    ctx: &Context,
) -> Desired {
    let me = (member.namespace().unwrap_or_default(), member.name_any());
    let mine: Vec<&NodeIdentity> = nodes
        .iter()
        .filter(|(id, owner)| *owner == me && id.role == NodeRole::Validator)
        .map(|(id, _)| id)
        .collect();
    if mine.is_empty() {
        return Desired::new(
            conditions::ADMITTED,
            Status::True,
            "NoValidators",
            "the member runs observers only",
        );
    }
    let missing: Vec<NodeIdentity> = mine
        .iter()
        .filter(|id| !genesis.validators.iter().any(|v| v == id.node.as_str()))
        .map(|id| (*id).clone())
        .collect();
    if missing.is_empty() {
        return Desired::new(
            conditions::ADMITTED,
            Status::True,
            "InGenesis",
            "every validator is in the genesis validator set",
        );
    }
    // A member that joins after the genesis is a validator-set change on the running chain,
    // never a new genesis.
    let current: Vec<NodeIdentity> = nodes
        .iter()
        .filter(|(id, _)| genesis.validators.iter().any(|v| v == id.node.as_str()))
        .map(|(id, _)| id.clone())
        .collect();
    let names: Vec<String> = missing.iter().map(|m| m.node.to_string()).collect();
    let how = match ctx.engines.get(d.spec.engine).and_then(|e| {
        e.validator_change(
            &d.spec,
            &current,
            &ValidatorSetChange {
                add: missing,
                ..ValidatorSetChange::default()
            },
        )
    }) {
        Ok(ChangeProcedure::GovernanceTransaction { approvals, .. }) => format!(
            "submit the validator-set change as a governance transaction signed by {approvals} member admins"
        ),
        Ok(ChangeProcedure::ManualSteps(steps)) => format!("run: {}", steps.join("; ")),
        Err(e) => format!("the engine cannot plan the change: {e}"),
    };
    Desired::new(
        conditions::ADMITTED,
        Status::False,
        "ValidatorSetChangeRequired",
        format!(
            "{} joined after the genesis; until the change is approved they follow the chain without voting: {how}",
            names.join(", ")
        ),
    )
}

/// Node status lines: identity from the keys, readiness from the pods, height and peers
/// scraped from ready pods by the metric names of their plans.
async fn node_statuses(
    member: &ChainMember,
    keys: &BTreeMap<String, NodeKeys>,
    plans: &[NodePlan],
    certs: &Certificates,
    ctx: &Context,
) -> Vec<crate::crd::NodeStatus> {
    let ns = member.namespace().unwrap_or_default();
    let org = OrgName::new(member.spec.organization.clone()).ok();
    let mut out = Vec::new();
    for (role, node) in expected_nodes(member) {
        let Some(k) = keys.get(&node) else {
            continue;
        };
        let mut id = k.identity.clone();
        id.role = role;
        if let Some(o) = &org {
            id.org = o.clone();
        }
        let pod = ctx
            .stores
            .pods
            .get(&ObjectRef::new(&node).within(&ns))
            .map(|p| status::observe_pod(&p));
        let plan = plans.iter().find(|p| p.node.as_str() == node);
        let mut metrics = None;
        if let (Some(p), Some(plan)) = (&pod, plan)
            && p.ready
            && let Some(ip) = &p.ip
            && let Some((_, port)) = plan.ports.iter().find(|(s, _)| s.name == plan.metrics.port)
        {
            match status::scrape(ip, *port, Duration::from_secs(2)).await {
                Ok(text) => {
                    metrics = Some(status::node_metrics(
                        &plan.metrics,
                        &status::parse_metrics(&text),
                    ))
                }
                Err(e) => tracing::debug!(node, error = %e, "scraping node metrics failed"),
            }
        }
        let cert = plan.and_then(|p| {
            p.certificates
                .first()
                .and_then(|need| certs.get(&(node.clone(), need.name.clone())))
        });
        if let Some(c) = cert {
            ctx.metrics
                .certificate_expiry
                .with_label_values(&[&ns, &member.name_any(), &node])
                .set(c.not_after as f64);
        }
        out.push(status::node_status(&id, pod.as_ref(), metrics, cert));
    }
    out
}

/// Writes the member's status from what the pipeline reached.
async fn finish(
    member: &ChainMember,
    ctx: &Context,
    nodes: Vec<crate::crd::NodeStatus>,
    provisioned: Desired,
    admitted: Option<Desired>,
    genesis_hash: Option<String>,
    issuer_bundle: Option<String>,
) -> Result<(), ReconcileError> {
    let old = member.status.clone().unwrap_or_default();
    let total = nodes.len();
    let ready = nodes.iter().filter(|n| n.ready).count();
    let mut desired = vec![
        Desired::new(
            conditions::READY,
            Status::from_bool(total > 0 && ready == total && provisioned.status == Status::True),
            if total > 0 && ready == total {
                "NodesReady"
            } else {
                "NodesNotReady"
            },
            format!("{ready}/{total} nodes ready"),
        ),
        provisioned,
        Desired::new(
            conditions::DEGRADED,
            Status::from_bool(ready > 0 && ready < total),
            if ready > 0 && ready < total {
                "NodesNotReady"
            } else {
                "AsExpected"
            },
            if ready > 0 && ready < total {
                format!("{ready}/{total} nodes ready")
            } else {
                String::new()
            },
        ),
    ];
    desired.extend(admitted);
    let (conditions, transitions) = conditions::merge(
        &old.conditions,
        &desired,
        member.metadata.generation,
        &Time(Timestamp::now()),
    );
    let height = nodes.iter().filter_map(|n| n.height).max();
    let new = ChainMemberStatus {
        observed_generation: member.metadata.generation,
        conditions,
        ready: status::ready_fraction(ready, total),
        height,
        genesis_hash,
        nodes,
        // A reconcile that stopped before the certificates keeps what was published.
        ca_bundle: issuer_bundle.filter(|b| !b.is_empty()).or(old.ca_bundle),
    };
    ctx.write_status(member, member.status.as_ref(), &new)
        .await?;
    ctx.transition_events(member, &transitions).await;
    Ok(())
}

async fn apply(member: Arc<ChainMember>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let ctx = ctx.as_ref();
    let requeue = Action::requeue(ctx.resync);
    let waiting = |reason: &str, message: String| {
        Desired::new(conditions::PROVISIONED, Status::False, reason, message)
    };

    // 1. Dereference and 2. validate: problems wait for a change of the spec or of the network.
    let deref = match dereference(&member, ctx).and_then(|d| validate(&member, &d, ctx).map(|()| d))
    {
        Ok(d) => d,
        Err((reason, message)) => {
            let keys = existing_keys(&member, ctx);
            let nodes = node_statuses(&member, &keys, &[], &Certificates::new(), ctx).await;
            finish(
                &member,
                ctx,
                nodes,
                waiting(&reason, message),
                None,
                None,
                None,
            )
            .await?;
            return Ok(requeue);
        }
    };

    // 3. Identities: keys generated in the cluster, published in status for the genesis.
    let keys = ensure_keys(&member, &deref, ctx).await?;
    let Some(genesis) = deref.genesis.clone() else {
        let nodes = node_statuses(&member, &keys, &[], &Certificates::new(), ctx).await;
        finish(
            &member,
            ctx,
            nodes,
            waiting(
                "WaitingForGenesis",
                format!(
                    "node identities published; waiting for network {} to compute its genesis",
                    deref.network.name_any()
                ),
            ),
            None,
            None,
            None,
        )
        .await?;
        return Ok(requeue);
    };

    // 4. Plan every node of this member with the engine.
    let engine = ctx.engines.get(deref.spec.engine)?;
    let nodes = network_nodes(&member, &keys, &deref);
    let topology = children::topology(
        &nodes,
        &engine.ports(&deref.spec),
        &ctx.settings.cluster_domain,
    );
    let all: Vec<NodeIdentity> = nodes.iter().map(|(id, _)| id.clone()).collect();
    let mine: Vec<NodeName> = expected_nodes(&member)
        .into_iter()
        .filter_map(|(_, n)| NodeName::new(n).ok())
        .collect();
    let plans = match children::plan_nodes(engine, &deref.spec, &genesis, &all, &mine, &topology) {
        Ok(p) => p,
        Err(e) => {
            let st = node_statuses(&member, &keys, &[], &Certificates::new(), ctx).await;
            finish(
                &member,
                ctx,
                st,
                waiting(e.reason(), e.to_string()),
                None,
                Some(genesis.genesis.hash.0.clone()),
                None,
            )
            .await?;
            return Ok(requeue);
        }
    };
    let admitted = admitted(&member, &deref, &genesis, &nodes, ctx);

    // 5. Certificates, by CSR to the issuer.
    let issued = match ensure_certificates(&member, &plans, &keys, ctx).await {
        Ok(c) => c,
        Err(e) => {
            let st = node_statuses(&member, &keys, &plans, &Certificates::new(), ctx).await;
            let _ = finish(
                &member,
                ctx,
                st,
                waiting(e.reason(), e.to_string()),
                Some(admitted),
                Some(genesis.genesis.hash.0.clone()),
                None,
            )
            .await;
            return match e {
                // Only a change of the controller's flags or of the spec helps: no retries.
                ReconcileError::Issuer(ref i) if i.waits_for_change() => Ok(requeue),
                e => Err(e),
            };
        }
    };
    let certs = &issued.certificates;

    // 6. Build (pure) and 7. apply. The nodes trust this member's CAs and every peer's.
    let me = (member.namespace(), member.name_any());
    let peer_bundles: Vec<String> = deref
        .peers
        .iter()
        .filter(|p| (p.namespace(), p.name_any()) != me)
        .filter_map(|p| p.status.as_ref()?.ca_bundle.clone())
        .collect();
    let ca_bundle = trust::merge(
        std::iter::once(issued.issuer_bundle.as_str())
            .chain(peer_bundles.iter().map(String::as_str)),
    );
    // The same CAs by organisation. Oldest claim first, as `validate` decides who holds an
    // organisation: this member (validated against older claims) before its peers by age.
    let mut peers: Vec<&Arc<ChainMember>> = deref
        .peers
        .iter()
        .filter(|p| (p.namespace(), p.name_any()) != me)
        .collect();
    peers.sort_by_key(|p| claim_order(p));
    let trust_roots = trust::trust_roots(
        std::iter::once((
            member.spec.organization.as_str(),
            issued.issuer_bundle.as_str(),
        ))
        .chain(peers.iter().map(|p| {
            (
                p.spec.organization.as_str(),
                p.status
                    .as_ref()
                    .and_then(|s| s.ca_bundle.as_deref())
                    .unwrap_or_default(),
            )
        })),
    );
    let built = children::build(&BuildInput {
        member: &member,
        network: &deref.network,
        genesis: &genesis,
        plans: &plans,
        certificates: certs,
        ca_bundle: &ca_bundle,
        trust_roots: &trust_roots,
        issuer_bundle: &issued.issuer_bundle,
        settings: &ctx.settings,
    });
    let desired = match built.and_then(|b| b.into_desired(ctx.settings.pdb)) {
        Ok(d) => d,
        Err(e) => {
            // Nothing will record this pass's certificates.
            abandon(&member, ctx, issued.credentials.as_ref(), &issued.fresh).await;
            let st = node_statuses(&member, &keys, &plans, &issued.recorded, ctx).await;
            finish(
                &member,
                ctx,
                st,
                waiting(e.reason(), e.to_string()),
                Some(admitted),
                Some(genesis.genesis.hash.0.clone()),
                None,
            )
            .await?;
            return Ok(requeue);
        }
    };
    let (total, changed) = match apply_children(&member, desired, ctx).await {
        Ok(r) => r,
        Err((e, certificates_recorded)) => {
            if !certificates_recorded {
                abandon(&member, ctx, issued.credentials.as_ref(), &issued.fresh).await;
            }
            let st = node_statuses(&member, &keys, &plans, &issued.recorded, ctx).await;
            let _ = finish(
                &member,
                ctx,
                st,
                waiting(e.reason(), e.to_string()),
                Some(admitted),
                Some(genesis.genesis.hash.0.clone()),
                None,
            )
            .await;
            return Err(e);
        }
    };
    if changed > 0 {
        ctx.event(
            member.as_ref(),
            EventType::Normal,
            "ChildrenApplied",
            "Apply",
            format!("{changed} of {total} children created, updated or deleted"),
        )
        .await;
    }

    // 8. Status.
    let st = node_statuses(&member, &keys, &plans, certs, ctx).await;
    finish(
        &member,
        ctx,
        st,
        Desired::new(
            conditions::PROVISIONED,
            Status::True,
            "ChildrenApplied",
            format!("{total} children applied"),
        ),
        Some(admitted),
        Some(genesis.genesis.hash.0.clone()),
        Some(issued.issuer_bundle.clone()),
    )
    .await?;
    Ok(requeue)
}

/// Whether a credentials problem means the member's certificates can never be revoked by this
/// controller (as opposed to a failure worth retrying).
fn cannot_revoke_without(e: &issuer::IssuerError) -> bool {
    use issuer::{IssuerError, SecretProblem};
    match e {
        IssuerError::EnrollmentSecret { problem, .. } => {
            !matches!(problem, SecretProblem::Unreadable(_))
        }
        e => e.waits_for_change(),
    }
}

/// Finalizer cleanup: revoke the member's node certificates; owner references remove the rest.
/// Certificates that can never be revoked here (no token, a token that did not obtain them)
/// are reported in a Warning event instead of holding the member forever.
async fn cleanup(member: Arc<ChainMember>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let ns = member.namespace().unwrap_or_default();
    let name = member.name_any();
    let mut serials: BTreeSet<String> = member
        .status
        .iter()
        .flat_map(|s| s.nodes.iter())
        .filter_map(|n| n.certificate_serial.clone())
        .collect();
    for role in [NodeRole::Validator, NodeRole::Observer] {
        if let Some(s) = ctx
            .stores
            .secrets
            .get(&ObjectRef::new(&labels::role_certificates(&name, role)).within(&ns))
        {
            serials.extend(
                children::read_certificates(&s)
                    .into_values()
                    .map(|c| c.serial),
            );
        }
    }
    let serials: Vec<String> = serials.into_iter().collect();
    let revocation = if serials.is_empty() {
        issuer::Revocation::default()
    } else {
        match ctx.issuer.credentials(&member).await {
            Ok(creds) => ctx.issuer.revoke(&creds, serials).await?,
            // Without the token (its Secret went first, as in a namespace deletion) nothing
            // can ever revoke them here; holding the member would only block the deletion.
            Err(e) if cannot_revoke_without(&e) => issuer::Revocation {
                revoked: Vec::new(),
                not_revoked: serials.into_iter().map(|s| (s, e.to_string())).collect(),
            },
            Err(e) => return Err(e.into()),
        }
    };
    for (_, node) in expected_nodes(&member) {
        let _ = ctx
            .metrics
            .certificate_expiry
            .remove_label_values(&[&ns, &name, &node]);
    }
    ctx.event(
        member.as_ref(),
        EventType::Normal,
        "CertificatesRevoked",
        "Cleanup",
        format!(
            "revoked {} node certificates at the {}",
            revocation.revoked.len(),
            ctx.issuer.name()
        ),
    )
    .await;
    if !revocation.not_revoked.is_empty() {
        let list: Vec<String> = revocation
            .not_revoked
            .iter()
            .map(|(serial, why)| format!("{serial}: {why}"))
            .collect();
        ctx.event(
            member.as_ref(),
            EventType::Warning,
            "CertificatesNotRevoked",
            "Cleanup",
            format!(
                "{} node certificates stay valid until they expire unless revoked in the platform console: {}",
                list.len(),
                list.join("; ")
            ),
        )
        .await;
    }
    Ok(Action::await_change())
}
