//! `build_info{service,version,git_sha} 1`: which build runs where.

use std::sync::LazyLock;

use super::GaugeVec;
use crate::ServiceInfo;

/// The commit the binary was built from (`GIT_SHA` at build time or
/// `git rev-parse`), "unknown" when neither was available.
pub const GIT_SHA: &str = match option_env!("BUILD_GIT_SHA") {
    Some(sha) => sha,
    None => "unknown",
};

static BUILD_INFO: LazyLock<GaugeVec> = LazyLock::new(|| {
    super::gauge_vec(
        "build_info",
        "Always 1; labels identify the running build",
        &["service", "version", "git_sha"],
    )
});

/// Sets `build_info{service,version,git_sha}` to 1.
pub fn record_build_info(service: ServiceInfo) {
    BUILD_INFO
        .with_label_values(&[service.name, service.version, GIT_SHA])
        .set(1);
}
