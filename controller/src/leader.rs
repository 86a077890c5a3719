//! Leader election on a Lease (kube-lease-manager): only the holder runs the reconcilers, so
//! two replicas never both write. Losing the Lease stops this replica's writes at once (the
//! applier checks) and ends [`crate::run`], so the process restarts as a follower.

use crate::ControllerArgs;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;

/// Field manager of the Lease writes.
pub const LEASE_FIELD_MANAGER: &str = "yuelu-controller-lease";

/// Starts competing for the Lease; the receiver says whether this replica holds it. Dropping
/// the receiver releases the Lease.
pub async fn elect(
    client: kube::Client,
    args: &ControllerArgs,
    identity: &str,
) -> Result<watch::Receiver<bool>, crate::ControllerError> {
    let manager = LeaseManagerBuilder::new(client, &args.lease_name)
        .with_namespace(&args.namespace)
        .with_identity(identity)
        .with_duration(args.lease_duration)
        .with_grace(args.lease_grace)
        .with_field_manager(LEASE_FIELD_MANAGER)
        .build()
        .await
        .map_err(|e| crate::ControllerError::Leader(e.to_string()))?;
    let (rx, _task) = manager.watch().await;
    Ok(rx)
}

/// This replica's identity: the flag, else the host name with a random suffix (two processes
/// on one host must not share an identity).
pub fn identity(args: &ControllerArgs) -> String {
    if let Some(id) = &args.identity {
        return id.clone();
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "yuelu-controller".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{host}-{:08x}", nanos ^ std::process::id())
}
