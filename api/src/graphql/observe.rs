//! Per-request observation: metrics by operation and outcome, a code on every error, and an
//! audit entry for every failed mutation that no service recorded.

use crate::database::Database;
use crate::metrics::Metrics;
use crate::service::{audit, caller::Caller};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextRequest, NextResolve, ResolveInfo,
};
use async_graphql::{Response, ServerResult, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Installs [`Observe`] per request.
pub struct ObserveFactory(pub Arc<Metrics>);

impl ExtensionFactory for ObserveFactory {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Observe {
            metrics: self.0.clone(),
            root_fields: Mutex::new(BTreeSet::new()),
        })
    }
}

/// Records the request's root fields (the "operation": bounded by the schema, unlike client
/// chosen operation names), its outcome and latency; gives codeless errors a code.
struct Observe {
    metrics: Arc<Metrics>,
    root_fields: Mutex<BTreeSet<String>>,
}

#[async_trait::async_trait]
impl Extension for Observe {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let start = Instant::now();
        let mut response = next.run(ctx).await;
        for err in &mut response.errors {
            let has_code = err
                .extensions
                .as_ref()
                .is_some_and(|e| e.get("code").is_some());
            if !has_code {
                // Errors before execution (parse, validation, depth/complexity limits) have no
                // path; errors inside resolvers without our code are failures of ours.
                let code = if err.path.is_empty() {
                    "GRAPHQL_VALIDATION_FAILED"
                } else {
                    "INTERNAL"
                };
                err.extensions
                    .get_or_insert_with(Default::default)
                    .set("code", code);
            }
        }
        let operation = {
            let fields = self.root_fields.lock().unwrap_or_else(|p| p.into_inner());
            if fields.is_empty() {
                "none".to_owned()
            } else {
                fields.iter().cloned().collect::<Vec<_>>().join(",")
            }
        };
        let outcome = response
            .errors
            .first()
            .and_then(|e| e.extensions.as_ref())
            .and_then(|e| match e.get("code") {
                Some(Value::String(s)) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "ok".to_owned());
        self.metrics
            .graphql_requests
            .with_label_values(&[&operation, &outcome])
            .inc();
        self.metrics
            .graphql_duration
            .with_label_values(&[&operation])
            .observe(start.elapsed().as_secs_f64());
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_some() {
            return next.run(ctx, info).await;
        }
        let name = if info.is_for_introspection {
            "__introspection"
        } else {
            info.name
        };
        self.root_fields
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned());
        let mutation = info.parent_type == "Mutation";
        let caller = ctx.data_opt::<Caller>();
        let before = caller.map(Caller::recorded);
        let action = info.name.to_owned();
        let result = next.run(ctx, info).await;
        if mutation
            && let (Err(err), Some(caller), Some(db)) =
                (&result, caller, ctx.data_opt::<Database>())
            && Some(caller.recorded()) == before
        {
            let code = match err.extensions.as_ref().and_then(|e| e.get("code")) {
                Some(Value::String(c)) => c.clone(),
                _ => "INTERNAL".to_owned(),
            };
            audit::record_unattributed(db, caller, &action, &code).await;
        }
        result
    }
}
