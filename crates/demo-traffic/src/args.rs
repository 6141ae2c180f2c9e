//! Command-line flags, each with an environment fallback.

use std::time::Duration;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub gateway_url: String,
    pub api_key: String,
    pub duration: Duration,
    /// Requests per second, all kinds together.
    pub rate: f64,
    pub guilds: u32,
    /// Seeds the request mix, so two runs send the same sequence.
    pub seed: u64,
    /// The gateway's upstream timeout, which the stalled requests outlast.
    pub upstream_timeout: Duration,
}

/// The gateway's default `UPSTREAM_TIMEOUT_MS`.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for Args {
    fn default() -> Self {
        Self {
            gateway_url: "http://localhost:3001".to_owned(),
            api_key: "dev-key".to_owned(),
            duration: Duration::from_secs(60),
            rate: 50.0,
            guilds: 5,
            seed: 42,
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    #[error("{flag}: {reason} (got {value:?})")]
    Invalid {
        flag: String,
        value: String,
        reason: String,
    },
    #[error("unknown argument {0:?} (see --help)")]
    Unknown(String),
    #[error("{0} needs a value")]
    MissingValue(String),
    #[error("help requested")]
    Help,
}

pub const USAGE: &str = "\
Usage: demo-traffic [--gateway-url URL] [--api-key KEY] [--duration 60s] [--rate 50] [--guilds 5] [--seed 42]
                    [--upstream-timeout 5s]

Sends a realistic mix of requests through the gateway to the backend: Discord
event batches, the bot commands' API calls (/stats, /warn, /modlog), moderation
actions, client errors, slow requests, and server errors (a backend call held
past the gateway's upstream timeout: 504; a database failure: 503), the last two
through X-Demo-Fault, which a development backend honours (DEMO_FAULTS).
Prints a progress line, then requests by status and kind, what they caused, and
latency percentiles.

  --gateway-url  gateway base URL        (env GATEWAY_URL, default http://localhost:3001)
  --api-key      gateway API key          (env GATEWAY_API_KEY, default dev-key)
  --duration     how long: 90s, 2m, 500ms (env DEMO_DURATION, default 60s)
  --rate         requests per second      (env DEMO_RATE, default 50)
  --guilds       distinct guilds          (env DEMO_GUILDS, default 5)
  --seed         request mix seed         (env DEMO_SEED, default 42)
  --upstream-timeout  the gateway's UPSTREAM_TIMEOUT_MS, outlasted by the stalled requests
                      (env DEMO_UPSTREAM_TIMEOUT, default 5s)";

/// Every flag and its environment fallback.
const FLAGS: [(&str, &str); 7] = [
    ("--gateway-url", "GATEWAY_URL"),
    ("--api-key", "GATEWAY_API_KEY"),
    ("--duration", "DEMO_DURATION"),
    ("--rate", "DEMO_RATE"),
    ("--guilds", "DEMO_GUILDS"),
    ("--seed", "DEMO_SEED"),
    ("--upstream-timeout", "DEMO_UPSTREAM_TIMEOUT"),
];

fn flag_name(arg: &str) -> &str {
    arg.split_once('=').map_or(arg, |(flag, _)| flag)
}

impl Args {
    /// Flags win over the environment (`env` looks a variable up), which
    /// wins over the defaults.
    pub fn parse(
        flags: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ArgsError> {
        let mut raw: Vec<(String, String)> = FLAGS
            .into_iter()
            .filter_map(|(flag, var)| {
                env(var)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (flag.to_owned(), v))
            })
            .collect();
        let mut flags = flags.into_iter();
        while let Some(arg) = flags.next() {
            if arg == "--help" || arg == "-h" {
                return Err(ArgsError::Help);
            }
            if !FLAGS.iter().any(|(known, _)| *known == flag_name(&arg)) {
                return Err(ArgsError::Unknown(arg));
            }
            let (flag, value) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), value.to_owned()),
                None => {
                    let value = flags
                        .next()
                        .ok_or_else(|| ArgsError::MissingValue(arg.clone()))?;
                    (arg, value)
                }
            };
            raw.push((flag, value));
        }
        let mut args = Self::default();
        for (flag, value) in raw {
            let invalid = |reason: &str| ArgsError::Invalid {
                flag: flag.clone(),
                value: value.clone(),
                reason: reason.to_owned(),
            };
            match flag.as_str() {
                "--gateway-url" => {
                    if !(value.starts_with("http://") || value.starts_with("https://")) {
                        return Err(invalid("expected an http:// or https:// URL"));
                    }
                    args.gateway_url = value.trim_end_matches('/').to_owned();
                }
                "--api-key" => args.api_key = value,
                "--duration" => {
                    args.duration = parse_duration(&value)
                        .ok_or_else(|| invalid("expected a duration such as 60s, 2m or 500ms"))?;
                }
                "--rate" => {
                    args.rate = value
                        .parse::<f64>()
                        .ok()
                        .filter(|r| r.is_finite() && *r > 0.0 && *r <= 10_000.0)
                        .ok_or_else(|| {
                            invalid("expected requests per second, above 0 and at most 10000")
                        })?;
                }
                "--guilds" => {
                    args.guilds = value
                        .parse::<u32>()
                        .ok()
                        .filter(|g| (1..=10_000).contains(g))
                        .ok_or_else(|| {
                            invalid("expected a number of guilds between 1 and 10000")
                        })?;
                }
                "--seed" => {
                    args.seed = value
                        .parse()
                        .map_err(|_| invalid("expected a whole number"))?;
                }
                "--upstream-timeout" => {
                    args.upstream_timeout = parse_duration(&value)
                        .filter(|d| *d <= Duration::from_secs(60))
                        .ok_or_else(|| invalid("expected a duration up to 60s, such as 5s"))?;
                }
                _ => return Err(ArgsError::Unknown(flag)),
            }
        }
        Ok(args)
    }
}

/// `90s`, `2m`, `500ms`, `1h`; a bare number is seconds.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    (seconds > 0.0 && seconds.is_finite()).then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: &[&str], env: &[(&str, &str)]) -> Result<Args, ArgsError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Args::parse(flags.iter().map(|s| (*s).to_owned()), |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn flags_win_over_environment_over_defaults() {
        let args = parse(
            &[
                "--duration",
                "2m",
                "--rate=10",
                "--gateway-url",
                "http://gw:3001/",
            ],
            &[
                ("DEMO_RATE", "99"),
                ("GATEWAY_API_KEY", "k1"),
                ("DEMO_GUILDS", "3"),
            ],
        )
        .unwrap();
        assert_eq!(args.duration, Duration::from_secs(120));
        assert_eq!(args.rate, 10.0);
        assert_eq!(args.gateway_url, "http://gw:3001");
        assert_eq!(args.api_key, "k1");
        assert_eq!(args.guilds, 3);
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (flags, flag) in [
            (&["--rate", "0"][..], "--rate"),
            (&["--duration", "soon"][..], "--duration"),
            (&["--guilds", "-1"][..], "--guilds"),
            (&["--gateway-url", "gw:3001"][..], "--gateway-url"),
        ] {
            match parse(flags, &[]) {
                Err(ArgsError::Invalid { flag: named, .. }) => assert_eq!(named, flag),
                other => panic!("{flags:?}: {other:?}"),
            }
        }
        assert_eq!(
            parse(&["--verbose"], &[]),
            Err(ArgsError::Unknown("--verbose".into()))
        );
        assert_eq!(
            parse(&["--rate"], &[]),
            Err(ArgsError::MissingValue("--rate".into()))
        );
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("5d"), None);
    }
}
