//! The real backend (on a throwaway SQLite file) and gateway behind the
//! bot's client, for the end-to-end tests.

use testkit::{Service, ServiceBuilder};

/// The API key the gateway accepts from the bot.
pub const KEY: &str = "e2e-key";
/// The fixtures' guild, member and a moderator.
pub const GUILD: u64 = 81384788765712384;
pub const MEMBER: u64 = 80351110224678912;
pub const MODERATOR: u64 = 80351110224678999;

pub struct Stack {
    pub backend: Service,
    pub gateway: Service,
    database: std::path::PathBuf,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.database);
    }
}

/// Starts both, each first passed through `configure` (extra variables),
/// and waits until the gateway is ready (so the backend is reachable).
pub async fn start(name: &str, configure: impl Fn(ServiceBuilder) -> ServiceBuilder) -> Stack {
    let database = std::env::temp_dir().join(format!("{name}-{}.db", std::process::id()));
    let mut backend = configure(ServiceBuilder::new("backend"))
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", database.display()),
        )
        .spawn();
    backend.wait_for_status("/ready", 200).await;
    let mut gateway = configure(ServiceBuilder::new("gateway"))
        .env("BACKEND_URL", backend.url(""))
        .env("GATEWAY_API_KEYS", KEY)
        .spawn();
    gateway.wait_for_status("/ready", 200).await;
    Stack {
        backend,
        gateway,
        database,
    }
}
