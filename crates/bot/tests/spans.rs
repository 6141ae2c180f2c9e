//! Spans and metrics around command and event logic: the names and fields
//! dashboards and trace queries rely on, and the gateway call inside the span.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};

use bot::{
    clients::gateway::{ActionCounts, GuildStats},
    commands::{self, Outcome, stats},
    events::{self, EventSink},
};
use poise::serenity_prelude::Message;
use support::{FakeGateway, fixture};
use tracing::{
    Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id, Record},
};
use tracing_subscriber::{Layer, layer::Context, prelude::*, registry::LookupSpan};

/// A span's name and its fields, as `name=value` strings.
type SeenSpan = (String, Vec<String>);

/// Every span created, in order.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<SeenSpan>>>);

struct Fields<'a>(&'a mut Vec<String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push(format!("{}={value}", field.name()));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let mut fields = Vec::new();
        attrs.record(&mut Fields(&mut fields));
        self.0
            .lock()
            .unwrap()
            .push((attrs.metadata().name().to_owned(), fields));
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let name = ctx.span(id).unwrap().name().to_owned();
        let mut spans = self.0.lock().unwrap();
        if let Some((_, fields)) = spans.iter_mut().rev().find(|(n, _)| *n == name) {
            values.record(&mut Fields(fields));
        }
    }
}

impl Spans {
    fn fields(&self, name: &str) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .unwrap_or_else(|| panic!("no span {name}"))
    }
}

const GUILD: u64 = 81384788765712384;

#[tokio::test]
async fn a_command_runs_in_its_span_with_the_gateway_call_inside() {
    let spans = Spans::default();
    let _guard = tracing_subscriber::registry()
        .with(spans.clone())
        .set_default();
    let gateway = FakeGateway {
        stats: Some(GuildStats {
            guild_id: GUILD,
            window_seconds: 86_400,
            members_joined: 0,
            members_left: 0,
            messages: 0,
            actions: ActionCounts::default(),
        }),
        ..FakeGateway::default()
    };
    let before = commands::COMMANDS_TOTAL
        .with_label_values(&["stats", "ok"])
        .get();

    let reply = commands::instrumented(
        commands::Invocation {
            command: "stats",
            guild_id: Some(GUILD),
            user_id: 80351110224678912,
        },
        stats::stats(&gateway, GUILD),
    )
    .await;

    assert_eq!(reply.outcome, Outcome::Ok);
    let fields = spans.fields("discord command");
    for expected in [
        "discord.command=stats".to_owned(),
        format!("discord.guild.id={GUILD}"),
        "outcome=ok".to_owned(),
    ] {
        assert!(fields.contains(&expected), "{fields:?}");
    }
    assert_eq!(gateway.spans_at_call(), vec!["discord command".to_owned()]);
    assert_eq!(
        commands::COMMANDS_TOTAL
            .with_label_values(&["stats", "ok"])
            .get(),
        before + 1
    );
}

/// Records the span current when an event is queued.
#[derive(Default)]
struct SpanRecordingSink(Mutex<Vec<String>>);

impl EventSink for SpanRecordingSink {
    fn submit(&self, _event: bot::clients::gateway::GatewayEvent) -> bool {
        let name = tracing::Span::current()
            .metadata()
            .map(|m| m.name().to_owned())
            .unwrap_or_default();
        self.0.lock().unwrap().push(name);
        true
    }
}

#[test]
fn an_event_is_converted_and_queued_in_its_span() {
    let spans = Spans::default();
    let _guard = tracing_subscriber::registry()
        .with(spans.clone())
        .set_default();
    let sink = SpanRecordingSink::default();
    let message: Message = fixture("message");
    let before = events::EVENTS_TOTAL
        .with_label_values(&["message_create"])
        .get();

    events::handle(&sink, "message_create", message.guild_id, || {
        events::logic::message_create(&message)
    });

    let fields = spans.fields("discord event");
    assert!(
        fields.contains(&"discord.event=message_create".to_owned()),
        "{fields:?}"
    );
    assert!(
        fields.contains(&format!("discord.guild.id={GUILD}")),
        "{fields:?}"
    );
    assert_eq!(*sink.0.lock().unwrap(), vec!["discord event".to_owned()]);
    assert_eq!(
        events::EVENTS_TOTAL
            .with_label_values(&["message_create"])
            .get(),
        before + 1
    );
}
