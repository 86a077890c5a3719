//! The set of engines a runtime can plan with.

use crate::{Engine, EngineError, EngineKind};
use std::collections::BTreeMap;

/// Engines by kind. Runtimes build one at start with the plugins compiled in.
#[derive(Default)]
pub struct EngineRegistry {
    engines: BTreeMap<EngineKind, Box<dyn Engine>>,
}

impl EngineRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an engine; a later one of the same kind replaces the earlier.
    pub fn register(&mut self, engine: Box<dyn Engine>) -> &mut Self {
        self.engines.insert(engine.kind(), engine);
        self
    }

    /// The engine of a kind, or `ENGINE_UNSUPPORTED`.
    pub fn get(&self, kind: EngineKind) -> Result<&dyn Engine, EngineError> {
        self.engines
            .get(&kind)
            .map(|e| e.as_ref())
            .ok_or_else(|| EngineError::Unsupported {
                what: format!("engine {kind} is not available in this build"),
            })
    }

    /// The kinds registered, in order.
    pub fn kinds(&self) -> impl Iterator<Item = EngineKind> + '_ {
        self.engines.keys().copied()
    }
}

impl std::fmt::Debug for EngineRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.engines.keys()).finish()
    }
}
