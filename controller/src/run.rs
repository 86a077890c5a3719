//! Wiring: client, CRD check, `/healthz` and `/metrics`, leader election, shared watch caches
//! and the two controllers.

use crate::apply::Applier;
use crate::children::{BuildSettings, PdbApi};
use crate::crd::{ChainMember, ChainNetwork};
use crate::health::{self, Health, ServerState, WatchProgressLayer};
use crate::issuer::{DevIssuer, NoIssuer, NodeIssuer, PlatformIssuer, PlatformSettings};
use crate::labels;
use crate::metrics::Metrics;
use crate::reconcile::{self, Context, Stores, member, network};
use crate::{ControllerArgs, ControllerError, engines, leader};
use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Buffer of each shared watch stream, per subscriber.
const SHARED_BUFFER: usize = 1024;

/// A task that is aborted when dropped, so that nothing outlives [`run`].
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the controller until it is told to stop (SIGINT, SIGTERM) or loses leadership.
pub async fn run(args: ControllerArgs) -> Result<(), ControllerError> {
    let identity = leader::identity(&args);
    let health = Arc::new(Health::standard());
    let metrics = Arc::new(Metrics::new()?);
    let client = client(&args, health.clone()).await?;
    check_crds(&client).await?;
    // Wrong platform flags fail here, before this replica competes for leadership.
    let platform = platform_issuer(&args, client.clone())?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| ControllerError::Listen {
            addr: args.listen,
            source,
        })?;
    let _server = AbortOnDrop(tokio::spawn(health::serve(
        listener,
        ServerState {
            health,
            metrics: metrics.clone(),
        },
    )));

    let mut leading = leader::elect(client.clone(), &args, &identity).await?;
    tracing::info!(identity, lease = %args.lease_name, namespace = %args.namespace, "waiting for leadership");
    loop {
        if *leading.borrow_and_update() {
            break;
        }
        tokio::select! {
            changed = leading.changed() => changed.map_err(|_| ControllerError::Leader("the lease manager stopped".into()))?,
            () = shutdown_signal() => return Ok(()),
        }
    }
    tracing::info!(identity, "leading: starting the reconcilers");
    metrics.leader.set(1);
    let result = tokio::select! {
        r = controllers(client, &args, &identity, metrics.clone(), leading.clone(), platform) => r,
        () = lost(leading.clone()) => Err(ControllerError::LeadershipLost),
        () = shutdown_signal() => Ok(()),
    };
    metrics.leader.set(0);
    // Dropping the last receiver makes the lease manager release the Lease.
    drop(leading);
    result
}

async fn lost(mut leading: watch::Receiver<bool>) {
    loop {
        if leading.changed().await.is_err() || !*leading.borrow() {
            return;
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn client(args: &ControllerArgs, health: Arc<Health>) -> Result<Client, ControllerError> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kc =
                Kubeconfig::read_from(path).map_err(|e| ControllerError::Config(e.to_string()))?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|e| ControllerError::Config(e.to_string()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| ControllerError::Config(e.to_string()))?,
    };
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&WatchProgressLayer(health))
        .build())
}

/// The platform issuer, when `--platform-url` is given.
fn platform_issuer(
    args: &ControllerArgs,
    client: Client,
) -> Result<Option<Arc<PlatformIssuer>>, ControllerError> {
    let Some(url) = &args.platform_url else {
        return Ok(None);
    };
    let settings = PlatformSettings {
        url: url.clone(),
        ca_file: args.platform_ca_file.clone(),
        validity_days: args.certificate_days,
    };
    let issuer = PlatformIssuer::new(&settings, client)?;
    tracing::info!(url = %issuer.url(), "node certificates come from the platform CA");
    Ok(Some(Arc::new(issuer)))
}

async fn check_crds(client: &Client) -> Result<(), ControllerError> {
    let lp = ListParams::default().limit(1);
    Api::<ChainNetwork>::all(client.clone())
        .list_metadata(&lp)
        .await
        .map_err(|_| ControllerError::CrdMissing("chainnetworks.yuelu.io"))?;
    Api::<ChainMember>::all(client.clone())
        .list_metadata(&lp)
        .await
        .map_err(|_| ControllerError::CrdMissing("chainmembers.yuelu.io"))?;
    Ok(())
}

/// Which PodDisruptionBudget API the server offers: policy/v1 on current Kubernetes,
/// policy/v1beta1 on 1.20 and earlier.
pub async fn discover_pdb(client: &Client) -> PdbApi {
    for (version, api) in [
        ("policy/v1", PdbApi::V1),
        ("policy/v1beta1", PdbApi::V1beta1),
    ] {
        if let Ok(list) = client.list_api_group_resources(version).await
            && list
                .resources
                .iter()
                .any(|r| r.name == "poddisruptionbudgets")
        {
            return api;
        }
    }
    PdbApi::None
}

/// A shared watch cache: its store, subscribers for the controllers, and the task that drives
/// the watch.
struct Shared<K: Resource + Clone + 'static>
where
    K::DynamicType: Eq + Hash + Clone,
{
    store: Store<K>,
    writer: Option<reflector::store::Writer<K>>,
    api: Api<K>,
    config: watcher::Config,
}

impl<K> Shared<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    fn new(api: Api<K>, config: watcher::Config) -> Self {
        let (store, writer) = reflector::store_shared(SHARED_BUFFER);
        Shared {
            store,
            writer: Some(writer),
            api,
            config,
        }
    }

    fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        self.writer
            .as_ref()
            .and_then(|w| w.subscribe())
            .map(StreamExt::boxed)
            .unwrap_or_else(|| futures::stream::empty().boxed())
    }

    fn start(&mut self) -> AbortOnDrop {
        let Some(writer) = self.writer.take() else {
            return AbortOnDrop(tokio::spawn(async {}));
        };
        let stream = watcher(self.api.clone(), self.config.clone())
            .default_backoff()
            // managedFields are often the bulk of an object and never read here: drop them
            // before they reach the cache.
            .modify(|o| o.managed_fields_mut().clear())
            .reflect_shared(writer)
            .for_each(|ev| {
                if let Err(e) = ev {
                    tracing::warn!(error = %e, kind = %K::kind(&()), "watch error");
                }
                std::future::ready(())
            });
        AbortOnDrop(tokio::spawn(stream))
    }
}

async fn controllers(
    client: Client,
    args: &ControllerArgs,
    identity: &str,
    metrics: Arc<Metrics>,
    leading: watch::Receiver<bool>,
    platform: Option<Arc<PlatformIssuer>>,
) -> Result<(), ControllerError> {
    let issuer: Arc<dyn NodeIssuer> = if let Some(p) = platform {
        p
    } else if args.dev_issuer {
        tracing::warn!(
            "node certificates come from the self-signed DEVELOPMENT issuer (--dev-issuer)"
        );
        Arc::new(
            DevIssuer::load_or_create(
                client.clone(),
                &args.namespace,
                Duration::from_secs(u64::from(args.certificate_days) * 86_400),
                &args.cluster_domain,
            )
            .await?,
        )
    } else {
        Arc::new(NoIssuer)
    };
    let pdb = discover_pdb(&client).await;
    tracing::info!(?pdb, "PodDisruptionBudget API");

    let wc = watcher::Config::default().timeout(health::WATCH_TIMEOUT_SECS);
    let children = wc.clone().labels(labels::MEMBER_CHILDREN_SELECTOR);
    let mut networks = Shared::<ChainNetwork>::new(Api::all(client.clone()), wc.clone());
    let mut members = Shared::<ChainMember>::new(Api::all(client.clone()), wc.clone());
    let mut genesis = Shared::<ConfigMap>::new(
        Api::all(client.clone()),
        wc.clone().labels(labels::NETWORK_CHILDREN_SELECTOR),
    );
    let mut config_maps = Shared::<ConfigMap>::new(Api::all(client.clone()), children.clone());
    let mut secrets = Shared::<Secret>::new(Api::all(client.clone()), children.clone());
    let mut services = Shared::<Service>::new(Api::all(client.clone()), children.clone());
    let mut statefulsets = Shared::<StatefulSet>::new(Api::all(client.clone()), children.clone());
    let mut policies = Shared::<NetworkPolicy>::new(Api::all(client.clone()), children.clone());
    let mut pods = Shared::<Pod>::new(Api::all(client.clone()), children.clone());

    // Subscribe before starting, so that no event is missed.
    let nets_for_networks = networks.subscribe();
    let nets_for_members = networks.subscribe();
    let members_for_members = members.subscribe();
    let members_for_peers = members.subscribe();
    let members_for_networks = members.subscribe();
    let genesis_for_networks = genesis.subscribe();
    let genesis_for_members = genesis.subscribe();
    let cm_sub = config_maps.subscribe();
    let secret_sub = secrets.subscribe();
    let svc_sub = services.subscribe();
    let sts_sub = statefulsets.subscribe();
    let np_sub = policies.subscribe();
    let pod_sub = pods.subscribe();

    // PodDisruptionBudgets are dynamic (v1 or v1beta1): a plain reflector.
    let mut pdb_parts = None;
    if let Some(ar) = pdb.api_resource() {
        let writer = reflector::store::Writer::<DynamicObject>::new(ar.clone());
        let store = writer.as_reader();
        let stream = watcher(
            Api::<DynamicObject>::all_with(client.clone(), &ar),
            children.clone(),
        )
        .default_backoff()
        .modify(|o| o.managed_fields_mut().clear())
        .reflect(writer)
        .touched_objects();
        pdb_parts = Some((store, stream, ar));
    }

    let tasks = [
        networks.start(),
        members.start(),
        genesis.start(),
        config_maps.start(),
        secrets.start(),
        services.start(),
        statefulsets.start(),
        policies.start(),
        pods.start(),
    ];

    let stores = Stores {
        networks: networks.store.clone(),
        members: members.store.clone(),
        genesis: genesis.store.clone(),
        config_maps: config_maps.store.clone(),
        secrets: secrets.store.clone(),
        services: services.store.clone(),
        statefulsets: statefulsets.store.clone(),
        network_policies: policies.store.clone(),
        pdbs: pdb_parts.as_ref().map(|(s, _, _)| s.clone()),
        pods: pods.store.clone(),
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        engines::registry(),
        issuer,
        Recorder::new(
            client.clone(),
            Reporter {
                controller: labels::MANAGED_BY.into(),
                instance: Some(identity.to_owned()),
            },
        ),
        metrics.clone(),
        Applier::new(client.clone(), metrics, leading),
        BuildSettings {
            node_image: args.node_image.clone(),
            cluster_domain: args.cluster_domain.clone(),
            pdb,
        },
        stores.clone(),
        Duration::from_secs(args.resync.max(1)),
    ));

    // The reconcilers read the caches: start them only once every cache has listed.
    for ready in [
        stores.networks.wait_until_ready().boxed(),
        stores.members.wait_until_ready().boxed(),
        stores.genesis.wait_until_ready().boxed(),
        stores.config_maps.wait_until_ready().boxed(),
        stores.secrets.wait_until_ready().boxed(),
        stores.services.wait_until_ready().boxed(),
        stores.statefulsets.wait_until_ready().boxed(),
        stores.network_policies.wait_until_ready().boxed(),
        stores.pods.wait_until_ready().boxed(),
    ] {
        ready.await.map_err(|_| {
            ControllerError::Leader("a watch cache stopped before it listed".into())
        })?;
    }
    tracing::info!("watch caches listed");

    let config = ControllerConfig::default().concurrency(args.concurrency);
    let network_controller =
        Controller::for_shared_stream(nets_for_networks, stores.networks.clone())
            .owns_shared_stream(genesis_for_networks)
            .watches_shared_stream(members_for_networks, |m: Arc<ChainMember>| {
                let (ns, name) = m.network_key();
                Some(ObjectRef::new(&name).within(&ns))
            })
            .with_config(config.clone())
            .run(network::reconcile, reconcile::error_policy, ctx.clone())
            .for_each(|_| std::future::ready(()));

    let by_network = {
        let members = stores.members.clone();
        move |ns: String, name: String| -> Vec<ObjectRef<ChainMember>> {
            members
                .state()
                .into_iter()
                .filter(|m| m.network_key() == (ns.clone(), name.clone()))
                .map(|m| ObjectRef::from_obj(m.as_ref()))
                .collect()
        }
    };
    let on_network = by_network.clone();
    let on_peer = by_network.clone();
    let on_genesis = by_network;
    let mut member_controller =
        Controller::for_shared_stream(members_for_members, stores.members.clone())
            .owns_shared_stream(cm_sub)
            .owns_shared_stream(secret_sub)
            .owns_shared_stream(svc_sub)
            .owns_shared_stream(sts_sub)
            .owns_shared_stream(np_sub)
            // The network's spec and status (genesis) change what members build.
            .watches_shared_stream(nets_for_members, move |n: Arc<ChainNetwork>| {
                on_network(n.namespace().unwrap_or_default(), n.name_any())
            })
            .watches_shared_stream(genesis_for_members, move |cm: Arc<ConfigMap>| {
                let net = cm
                    .labels()
                    .get(labels::LABEL_NETWORK)
                    .cloned()
                    .unwrap_or_default();
                on_genesis(cm.namespace().unwrap_or_default(), net)
            })
            // A peer publishing identities changes everyone's peer lists.
            .watches_shared_stream(members_for_peers, move |m: Arc<ChainMember>| {
                let (ns, name) = m.network_key();
                on_peer(ns, name)
            })
            // Pod readiness feeds node status.
            .watches_shared_stream(pod_sub, |p: Arc<Pod>| {
                p.labels()
                    .get(labels::LABEL_MEMBER)
                    .map(|m| ObjectRef::new(m).within(&p.namespace().unwrap_or_default()))
            })
            .with_config(config);
    if let Some((_, stream, ar)) = pdb_parts {
        member_controller = member_controller.owns_stream_with(stream, ar);
    }
    let member_controller = member_controller
        .run(member::reconcile, reconcile::error_policy, ctx)
        .for_each(|_| std::future::ready(()));

    tokio::join!(network_controller, member_controller);
    drop(tasks);
    Ok(())
}
