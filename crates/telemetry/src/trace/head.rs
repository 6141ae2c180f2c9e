//! Head sampling before a span exists.
//!
//! `tracing-opentelemetry` builds a span's OpenTelemetry data (the builder
//! and every field as an attribute) when the span is created, and the SDK's
//! sampler only runs later, when the span starts: an unsampled request pays
//! for the whole span anyway. [`HeadSampled`] wraps the OpenTelemetry layer
//! and decides first, with the configured sampler, when the span is created:
//!
//! - a child follows its parent's decision;
//! - a span made inside [`with_remote_parent`] (the server span of a request
//!   carrying `traceparent`) asks the sampler with that parent;
//! - any other root asks the sampler with a fresh trace id.
//!
//! [`HeadSampler`] is the OpenTelemetry layer's per-layer filter: a sampled
//! span reaches that layer as before (the SDK then samples everything it is
//! given: the decision is made here). An unsampled span never reaches it;
//! [`UnsampledIds`] keeps an [`Unsampled`] context in its extensions
//! instead, with its trace id, a span id and the caller's baggage, so its
//! ids still appear in logs and propagate in `traceparent` (flag `00`), and
//! nothing is built for export.

use std::cell::RefCell;

use opentelemetry::{
    Context,
    trace::{SpanContext, SpanKind, TraceContextExt as _, TraceFlags, TraceId, TraceState},
};
use opentelemetry_sdk::trace::{
    IdGenerator as _, RandomIdGenerator, Sampler, SamplingDecision, ShouldSample as _,
};
use tracing::{Dispatch, Metadata, Subscriber, span, subscriber::Interest};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::{
    Layer, Registry,
    layer::{Context as LayerContext, Filter},
    registry::{LookupSpan, SpanRef},
};

thread_local! {
    /// The remote parent of the span being created on this thread, set by
    /// [`with_remote_parent`] for the duration of the span's creation.
    static REMOTE_PARENT: RefCell<Option<Context>> = const { RefCell::new(None) };
    /// The decision [`HeadSampler::enabled`] made for the span about to be
    /// created on this thread, for [`UnsampledIds::on_new_span`].
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

/// Creates a span with `make` as the child of `parent` (a context extracted
/// from incoming headers): the sampler decides with that parent. Call
/// [`OpenTelemetrySpanExt::set_parent`] on the result as well, so a sampled
/// span is exported as the parent's child.
pub fn with_remote_parent<T>(parent: &Context, make: impl FnOnce() -> T) -> T {
    // `try_with`: a span made while the thread's locals are torn down
    // simply has no remote parent.
    let _ = REMOTE_PARENT.try_with(|slot| *slot.borrow_mut() = Some(parent.clone()));
    let made = make();
    // Taken by the span's creation, unless the span was disabled.
    let _ = REMOTE_PARENT.try_with(|slot| slot.borrow_mut().take());
    made
}

/// What an unsampled span keeps instead of OpenTelemetry data: a context
/// whose span context has the trace id, this span's id and no sampled flag.
#[derive(Debug, Clone)]
pub struct Unsampled(pub Context);

/// A decision waiting for its span: the span's callsite, and what the span
/// keeps when it is not sampled.
struct Pending {
    callsite: *const (),
    decision: Decision,
}

enum Decision {
    /// The OpenTelemetry layer has the span.
    Sampled,
    /// An unsampled root (or a remote parent's child): this context.
    UnsampledRoot(Context),
    /// The child of an unsampled span: the parent's trace, a new span id.
    UnsampledChild,
}

/// The per-layer filter of the OpenTelemetry layer: spans the configured
/// sampler keeps (events never: they stay log lines).
#[derive(Debug, Clone)]
pub struct HeadSampler {
    sampler: Sampler,
}

impl HeadSampler {
    pub fn new(sampler: Sampler) -> Self {
        Self { sampler }
    }

    fn decide<S>(&self, metadata: &Metadata<'_>, cx: &LayerContext<'_, S>) -> Decision
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if let Some(remote) = REMOTE_PARENT
            .try_with(|slot| slot.borrow_mut().take())
            .ok()
            .flatten()
        {
            return self.root(Some(&remote), metadata.name());
        }
        match cx.current_span().id() {
            // `cx` is filtered: it knows the span only if it was sampled.
            Some(parent) if cx.span(parent).is_some() => Decision::Sampled,
            Some(_) => Decision::UnsampledChild,
            None => self.root(None, metadata.name()),
        }
    }

    fn root(&self, parent: Option<&Context>, name: &str) -> Decision {
        let remote = parent
            .map(|cx| cx.span().span_context().clone())
            .filter(SpanContext::is_valid);
        let trace_id = remote.as_ref().map_or_else(
            || RandomIdGenerator::default().new_trace_id(),
            SpanContext::trace_id,
        );
        let result = self.sampler.should_sample(
            parent.filter(|_| remote.is_some()),
            trace_id,
            name,
            &SpanKind::Internal,
            &[],
            &[],
        );
        if result.decision == SamplingDecision::RecordAndSample {
            return Decision::Sampled;
        }
        let state = remote.map_or_else(TraceState::default, |remote| remote.trace_state().clone());
        let base = parent.cloned().unwrap_or_default();
        Decision::UnsampledRoot(unsampled_context(&base, trace_id, state))
    }
}

impl<S> Filter<S> for HeadSampler
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, metadata: &Metadata<'_>, cx: &LayerContext<'_, S>) -> bool {
        if !metadata.is_span() {
            return false;
        }
        let decision = self.decide(metadata, cx);
        let sampled = matches!(decision, Decision::Sampled);
        let _ = PENDING.try_with(|slot| {
            *slot.borrow_mut() = Some(Pending {
                callsite: std::ptr::from_ref(metadata).cast(),
                decision,
            });
        });
        sampled
    }

    // Decided per span, never cached per callsite.
    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        if metadata.is_span() {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }
}

/// A child of the unsampled `parent`: its trace, a span id of its own.
fn unsampled_child(parent: &Context) -> Context {
    let span_context = parent.span().span_context().clone();
    unsampled_context(
        parent,
        span_context.trace_id(),
        span_context.trace_state().clone(),
    )
}

fn unsampled_context(base: &Context, trace_id: TraceId, state: TraceState) -> Context {
    base.with_remote_span_context(SpanContext::new(
        trace_id,
        RandomIdGenerator::default().new_span_id(),
        TraceFlags::default(),
        false,
        state,
    ))
}

/// The layer beside [`HeadSampler`]'s that gives every unsampled span its
/// [`Unsampled`] context.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnsampledIds;

impl<S> Layer<S> for UnsampledIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: LayerContext<'_, S>) {
        let Some(pending) = PENDING
            .try_with(|slot| slot.borrow_mut().take())
            .ok()
            .flatten()
        else {
            return;
        };
        if !std::ptr::eq(
            pending.callsite,
            std::ptr::from_ref(attrs.metadata()).cast(),
        ) {
            return;
        }
        let context = match pending.decision {
            Decision::Sampled => return,
            Decision::UnsampledRoot(context) => context,
            Decision::UnsampledChild => {
                let parent = if let Some(parent) = attrs.parent() {
                    ctx.span(parent)
                } else {
                    ctx.lookup_current()
                };
                let parent = parent.and_then(|parent| {
                    parent
                        .extensions()
                        .get::<Unsampled>()
                        .map(|unsampled| unsampled.0.clone())
                });
                match parent {
                    Some(parent) => unsampled_child(&parent),
                    // A sampled explicit parent under an unsampled current
                    // span: a trace of its own.
                    None => unsampled_context(
                        &Context::new(),
                        RandomIdGenerator::default().new_trace_id(),
                        TraceState::default(),
                    ),
                }
            }
        };
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Unsampled(context));
        }
    }
}

/// `f` of the [`Unsampled`] context the span `id` of `dispatch` keeps; `None`
/// when it keeps none (sampled, or no head sampler installed).
fn with_unsampled_id<T>(
    id: &span::Id,
    dispatch: &Dispatch,
    f: impl FnOnce(&Unsampled) -> T,
) -> Option<T> {
    let registry = dispatch.downcast_ref::<Registry>()?;
    let span = registry.span(id)?;
    let extensions = span.extensions();
    extensions.get::<Unsampled>().map(f)
}

/// Whether the head sampler dropped the span `id` of `dispatch` (its ids
/// exist, nothing exports).
pub(crate) fn is_unsampled_id(id: &span::Id, dispatch: &Dispatch) -> bool {
    with_unsampled_id(id, dispatch, |_| ()).is_some()
}

/// The context of `span` for propagation: the OpenTelemetry span's when it
/// is sampled, the [`Unsampled`] one otherwise (its ids, flag `00`).
pub fn context_of(span: &tracing::Span) -> Context {
    span.with_subscriber(|(id, dispatch)| {
        with_unsampled_id(id, dispatch, |unsampled| unsampled.0.clone())
    })
    .flatten()
    .unwrap_or_else(|| span.context())
}

/// `f` of the span context an unsampled `span` keeps; `None` when the span
/// is sampled (or no head sampler is installed).
pub(crate) fn with_unsampled<'a, S, T>(
    span: &SpanRef<'a, S>,
    f: impl FnOnce(&SpanContext) -> T,
) -> Option<T>
where
    S: Subscriber + LookupSpan<'a>,
{
    let extensions = span.extensions();
    let unsampled = extensions.get::<Unsampled>()?;
    Some(f(unsampled.0.span().span_context()))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::{SpanId, TracerProvider as _};
    use opentelemetry_sdk::{
        error::OTelSdkResult,
        trace::{SdkTracerProvider, SpanData, SpanExporter},
    };
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    /// Keeps what the SDK exports.
    #[derive(Debug, Clone, Default)]
    struct Exported(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Exported {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    impl Exported {
        fn names(&self) -> Vec<String> {
            let spans = self.0.lock().unwrap();
            spans.iter().map(|span| span.name.to_string()).collect()
        }
    }

    /// Runs `f` under a subscriber whose OpenTelemetry layer sits behind a
    /// head sampler with `sampler`, as `Tracing::layer` builds it.
    fn with_sampler(sampler: Sampler, f: impl FnOnce()) -> Exported {
        let exported = Exported::default();
        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::AlwaysOn)
            .with_simple_exporter(exported.clone())
            .build();
        let layer = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("test"))
            .with_filter(HeadSampler::new(sampler))
            .and_then(UnsampledIds);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
        let _ = provider.force_flush();
        exported
    }

    fn remote_parent(flags: TraceFlags) -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            flags,
            true,
            TraceState::default(),
        ))
    }

    fn ids(span: &tracing::Span) -> SpanContext {
        context_of(span).span().span_context().clone()
    }

    #[test]
    fn an_unsampled_trace_keeps_its_ids_and_exports_nothing() {
        let exported = with_sampler(Sampler::AlwaysOff, || {
            let root = tracing::info_span!("root");
            assert!(is_unsampled_id(
                &root.id().unwrap(),
                &tracing::dispatcher::get_default(Clone::clone)
            ));
            let child = root.in_scope(|| tracing::info_span!("child"));
            let (root, child) = (ids(&root), ids(&child));
            assert!(root.is_valid() && child.is_valid());
            assert!(!root.is_sampled() && !child.is_sampled());
            assert_eq!(child.trace_id(), root.trace_id());
            assert_ne!(child.span_id(), root.span_id());
        });
        assert!(exported.names().is_empty(), "{:?}", exported.names());
    }

    #[test]
    fn a_sampled_trace_is_exported_whole() {
        let exported = with_sampler(Sampler::AlwaysOn, || {
            let root = tracing::info_span!("root");
            let child = root.in_scope(|| tracing::info_span!("child"));
            assert!(ids(&root).is_sampled());
            assert_eq!(ids(&child).trace_id(), ids(&root).trace_id());
        });
        let mut names = exported.names();
        names.sort();
        assert_eq!(names, ["child", "root"]);
    }

    #[test]
    fn a_remote_parent_decides_for_its_children() {
        let ratio_zero = || Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.0)));
        let exported = with_sampler(ratio_zero(), || {
            let parent = remote_parent(TraceFlags::SAMPLED);
            let span = with_remote_parent(&parent, || tracing::info_span!("followed"));
            let _ = span.set_parent(parent);
            assert!(ids(&span).is_sampled());
            assert_eq!(
                ids(&span).trace_id(),
                remote_parent(TraceFlags::SAMPLED)
                    .span()
                    .span_context()
                    .trace_id()
            );
        });
        assert_eq!(exported.names(), ["followed"]);

        let exported = with_sampler(ratio_zero(), || {
            let parent = remote_parent(TraceFlags::default());
            let span = with_remote_parent(&parent, || tracing::info_span!("dropped"));
            let span_context = ids(&span);
            assert!(!span_context.is_sampled());
            assert_eq!(
                span_context.trace_id(),
                parent.span().span_context().trace_id()
            );
            assert_ne!(
                span_context.span_id(),
                parent.span().span_context().span_id()
            );
        });
        assert!(exported.names().is_empty());
    }

    #[test]
    fn a_remote_parent_is_used_by_one_span_only() {
        with_sampler(Sampler::AlwaysOff, || {
            let parent = remote_parent(TraceFlags::default());
            let _span = with_remote_parent(&parent, || tracing::info_span!("first"));
            let next = tracing::info_span!("next");
            assert_ne!(
                ids(&next).trace_id(),
                parent.span().span_context().trace_id()
            );
        });
    }
}
