//! What a health check is.

use std::{borrow::Cow, future::Future, pin::Pin};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Whether a failing check takes the service out of rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criticality {
    /// Failing → `/ready` 503, `/health` `down`.
    Critical,
    /// Failing → `/health` `degraded`; readiness unaffected.
    Informational,
}

/// The result of one run of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub healthy: bool,
    pub message: Option<String>,
}

impl CheckOutcome {
    pub fn ok() -> Self {
        Self {
            healthy: true,
            message: None,
        }
    }

    pub fn ok_with(message: impl Into<String>) -> Self {
        Self {
            healthy: true,
            message: Some(message.into()),
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            healthy: false,
            message: Some(message.into()),
        }
    }
}

impl<E: std::fmt::Display> From<Result<(), E>> for CheckOutcome {
    fn from(result: Result<(), E>) -> Self {
        match result {
            Ok(()) => Self::ok(),
            Err(error) => Self::failed(error.to_string()),
        }
    }
}

/// A dependency probe. It need not bound its own duration: the registry
/// applies the timeout.
pub trait Check: Send + Sync + 'static {
    /// Key in `/health`'s `checks` object (`database`, `backend`, `discord`).
    fn name(&self) -> &str;

    fn criticality(&self) -> Criticality {
        Criticality::Critical
    }

    fn check(&self) -> BoxFuture<'_, CheckOutcome>;
}

/// A check made of a name and an async closure (see [`check_fn`]).
pub struct FnCheck<F> {
    name: Cow<'static, str>,
    criticality: Criticality,
    run: F,
}

/// A check from a closure:
/// `check_fn("database", Criticality::Critical, move || { let pool = pool.clone(); async move { ping(&pool).await.into() } })`.
pub fn check_fn<F, Fut>(
    name: impl Into<Cow<'static, str>>,
    criticality: Criticality,
    run: F,
) -> FnCheck<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = CheckOutcome> + Send + 'static,
{
    FnCheck {
        name: name.into(),
        criticality,
        run,
    }
}

impl<F, Fut> Check for FnCheck<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = CheckOutcome> + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn criticality(&self) -> Criticality {
        self.criticality
    }

    fn check(&self) -> BoxFuture<'_, CheckOutcome> {
        Box::pin((self.run)())
    }
}
