//! The health check definition of an app: one entry of `healthChecks[]`.
//!
//! Semantics follow Marathon 1.x (mesosphere/marathon):
//! - reading: `raml/HealthCheckConversion.scala` (`appHealthCheckRamlReader`), defaults from
//!   `docs/docs/rest-api/public/api/v2/types/healthCheck.raml`, and
//!   `api/v2/AppNormalization.scala` (`normalizeHealthChecks`: a non-COMMAND check with neither
//!   `port` nor `portIndex` gets `portIndex: 0`);
//! - validation: `core/health/HealthCheck.scala` (`HealthCheckWithPort.Validator`: exactly one of
//!   `port` and `portIndex`) and `api/v2/validation/AppValidation.scala` (port indices,
//!   `ipProtocol`);
//! - writing: `raml/HealthCheckConversion.scala` (`appHealthCheckWrites`), minus `ipProtocol`,
//!   which marathon-python's `MarathonHealthCheck` does not know.
//!
//! Error messages are Play JSON's keys (`error.expected.jsnumber`, `error.min`, ...) where
//! Marathon's generated readers would report those, and Marathon's own sentences elsewhere.
use serde_json::{json, Map, Value};

use super::ValidationError;

pub const DEFAULT_GRACE_PERIOD_SECONDS: u32 = 300;
pub const DEFAULT_INTERVAL_SECONDS: u32 = 60;
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 20;
pub const DEFAULT_MAX_CONSECUTIVE_FAILURES: u32 = 3;
pub const DEFAULT_DELAY_SECONDS: u32 = 15;

/// The largest value of Marathon's `int32` fields.
const INT32_MAX: u64 = i32::MAX as u64;
/// `numbers.AnyPort` in Marathon's RAML.
const PORT_MAX: u64 = 65_535;

/// From `AppValidation.portIndexIsValid`.
pub const PORT_INDEX_MESSAGE: &str =
    "Health check port indices must address an element of the ports array or container port mappings.";
/// From `HealthCheckWithPort.Validator`.
pub const PORT_XOR_INDEX_MESSAGE: &str = "HealthCheck must specify either a port or a portIndex";
/// From `AppValidationMessages.HealthCheckIpProtocolLimitation`.
pub const IP_PROTOCOL_MESSAGE: &str =
    "IPv6 can only be used for container type DOCKER and Mesos http/https/tcp health checks";

/// `AppHealthCheckProtocol` of Marathon's RAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Http,
    Https,
    Tcp,
    Command,
    MesosHttp,
    MesosHttps,
    MesosTcp,
}

impl Protocol {
    /// In the order Marathon lists them in `error.unknown.enum.literal` details.
    pub const ALL: [Protocol; 7] = [
        Protocol::Command,
        Protocol::Http,
        Protocol::Https,
        Protocol::MesosHttp,
        Protocol::MesosHttps,
        Protocol::MesosTcp,
        Protocol::Tcp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "HTTP",
            Protocol::Https => "HTTPS",
            Protocol::Tcp => "TCP",
            Protocol::Command => "COMMAND",
            Protocol::MesosHttp => "MESOS_HTTP",
            Protocol::MesosHttps => "MESOS_HTTPS",
            Protocol::MesosTcp => "MESOS_TCP",
        }
    }

    pub fn from_name(name: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// Who runs the check in Marathon 1.x. It decides how failures turn into kills (see
/// [`crate::health::Health::on_result`]), because Marathon and Mesos count differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// HTTP, HTTPS, TCP: Marathon's `HealthCheckWorker` probes from the leader.
    Marathon,
    /// COMMAND, MESOS_HTTP, MESOS_HTTPS, MESOS_TCP: Mesos' health checker on the agent.
    Mesos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

/// Which port of the task to probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortRef {
    /// `portIndex`: an index into the task's host ports.
    Index(u32),
    /// `port`: a fixed port number.
    Number(u32),
}

/// What a check probes. The variant and its `scheme`/`level` together are the protocol, so a
/// protocol that disagrees with its fields cannot be written down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// HTTP, HTTPS, MESOS_HTTP, MESOS_HTTPS.
    Http {
        scheme: Scheme,
        level: Level,
        /// As given; `None` is requested as `/` (Marathon keeps `None` and omits it on output).
        path: Option<String>,
        port: PortRef,
        /// Only Marathon-level checks have it (`MesosHttpHealthCheck` has no such field): it is
        /// always `false` for [`Level::Mesos`].
        ignore_http1xx: bool,
    },
    /// TCP, MESOS_TCP.
    Tcp { level: Level, port: PortRef },
    /// COMMAND: `command.value`, run by `sh -c`. Always Mesos-level in Marathon 1.x.
    Command { value: String },
}

/// One health check of an app, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub probe: Probe,
    pub grace_period_seconds: u32,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    /// 0 means "never kill" for Marathon-level checks and "kill on the first counted failure"
    /// for Mesos-level ones (docs/docs/health-checks.md).
    pub max_consecutive_failures: u32,
    /// Kept and echoed for every protocol. Marathon 1.x itself ignores it for HTTP/HTTPS/TCP
    /// (and always answers 15 for them); we honour it for all (see `next_check_due_ms`).
    pub delay_seconds: u32,
}

impl HealthCheck {
    pub fn protocol(&self) -> Protocol {
        match &self.probe {
            Probe::Http {
                scheme: Scheme::Http,
                level: Level::Marathon,
                ..
            } => Protocol::Http,
            Probe::Http {
                scheme: Scheme::Https,
                level: Level::Marathon,
                ..
            } => Protocol::Https,
            Probe::Http {
                scheme: Scheme::Http,
                level: Level::Mesos,
                ..
            } => Protocol::MesosHttp,
            Probe::Http {
                scheme: Scheme::Https,
                level: Level::Mesos,
                ..
            } => Protocol::MesosHttps,
            Probe::Tcp {
                level: Level::Marathon,
                ..
            } => Protocol::Tcp,
            Probe::Tcp {
                level: Level::Mesos,
                ..
            } => Protocol::MesosTcp,
            Probe::Command { .. } => Protocol::Command,
        }
    }

    pub fn level(&self) -> Level {
        match &self.probe {
            Probe::Http { level, .. } | Probe::Tcp { level, .. } => *level,
            Probe::Command { .. } => Level::Mesos,
        }
    }

    /// The port reference, for the checks that have one.
    pub fn port(&self) -> Option<PortRef> {
        match &self.probe {
            Probe::Http { port, .. } | Probe::Tcp { port, .. } => Some(*port),
            Probe::Command { .. } => None,
        }
    }

    /// A check with every default and the given probe.
    pub fn with_probe(probe: Probe) -> HealthCheck {
        HealthCheck {
            probe,
            grace_period_seconds: DEFAULT_GRACE_PERIOD_SECONDS,
            interval_seconds: DEFAULT_INTERVAL_SECONDS,
            timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
            max_consecutive_failures: DEFAULT_MAX_CONSECUTIVE_FAILURES,
            delay_seconds: DEFAULT_DELAY_SECONDS,
        }
    }

    /// Parses one `healthChecks[]` entry. `path_prefix` is the entry's JSON path, e.g.
    /// `/healthChecks(0)`; every error path starts with it.
    pub fn parse(v: &Value, path_prefix: &str) -> Result<HealthCheck, Vec<ValidationError>> {
        let mut errs = Errors {
            prefix: path_prefix,
            list: Vec::new(),
        };
        let Some(obj) = v.as_object() else {
            errs.at("", "error.expected.jsobject");
            return Err(errs.list);
        };

        let protocol = match obj.get("protocol") {
            None | Some(Value::Null) => Some(Protocol::Http),
            Some(Value::String(s)) => {
                let p = Protocol::from_name(s);
                if p.is_none() {
                    errs.at("/protocol", "error.unknown.enum.literal");
                }
                p
            }
            Some(_) => {
                errs.at("/protocol", "error.expected.jsstring");
                None
            }
        };
        let grace_period_seconds = errs.int(
            obj,
            "gracePeriodSeconds",
            DEFAULT_GRACE_PERIOD_SECONDS,
            INT32_MAX,
        );
        let interval_seconds =
            errs.int(obj, "intervalSeconds", DEFAULT_INTERVAL_SECONDS, INT32_MAX);
        let timeout_seconds = errs.int(obj, "timeoutSeconds", DEFAULT_TIMEOUT_SECONDS, INT32_MAX);
        let max_consecutive_failures = errs.int(
            obj,
            "maxConsecutiveFailures",
            DEFAULT_MAX_CONSECUTIVE_FAILURES,
            INT32_MAX,
        );
        let delay_seconds = errs.int(obj, "delaySeconds", DEFAULT_DELAY_SECONDS, INT32_MAX);
        let port_index = errs.opt_int(obj, "portIndex", PORT_MAX);
        let port = errs.opt_int(obj, "port", PORT_MAX);
        let path = match obj.get("path") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                errs.at("/path", "error.expected.jsstring");
                None
            }
        };
        let ignore_http1xx = match obj.get("ignoreHttp1xx") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                errs.at("/ignoreHttp1xx", "error.expected.jsboolean");
                false
            }
        };
        let command = match obj.get("command") {
            None | Some(Value::Null) => None,
            Some(Value::Object(c)) => match c.get("value") {
                Some(Value::String(s)) => Some(s.clone()),
                None | Some(Value::Null) => {
                    errs.at("/command/value", "error.path.missing");
                    None
                }
                Some(_) => {
                    errs.at("/command/value", "error.expected.jsstring");
                    None
                }
            },
            Some(_) => {
                errs.at("/command", "error.expected.jsobject");
                None
            }
        };
        let ipv6 = match obj.get("ipProtocol") {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) if s == "IPv4" => false,
            Some(Value::String(s)) if s == "IPv6" => true,
            Some(Value::String(_)) => {
                errs.at("/ipProtocol", "error.unknown.enum.literal");
                false
            }
            Some(_) => {
                errs.at("/ipProtocol", "error.expected.jsstring");
                false
            }
        };

        let Some(protocol) = protocol else {
            return Err(errs.list);
        };
        if !errs.list.is_empty() {
            return Err(errs.list);
        }

        // Marathon only lets Mesos-level HTTP/TCP checks of Docker containers use IPv6; the
        // container type is not known here, so the app's validation must add that half.
        if ipv6
            && !matches!(
                protocol,
                Protocol::MesosHttp | Protocol::MesosHttps | Protocol::MesosTcp
            )
        {
            errs.at("", IP_PROTOCOL_MESSAGE);
        }

        let port_ref = |errs: &mut Errors| match (port_index, port) {
            (Some(_), Some(_)) => {
                errs.at("", PORT_XOR_INDEX_MESSAGE);
                PortRef::Index(0)
            }
            (Some(i), None) => PortRef::Index(i),
            (None, Some(p)) => PortRef::Number(p),
            // AppNormalization.normalizeHealthChecks.
            (None, None) => PortRef::Index(0),
        };
        let probe = match (protocol, command) {
            (Protocol::Command, Some(value)) => {
                // appHealthCheckRamlReader accepts (and ignores) a portIndex on a COMMAND
                // check for backwards compatibility, but no `port` and no `path`.
                if port.is_some() || path.is_some() {
                    errs.at("", "Invalid combination of HealthCheck parameters");
                }
                Probe::Command { value }
            }
            (Protocol::Command, None) => {
                errs.at("/command", "error.path.missing");
                return Err(errs.list);
            }
            (other, Some(_)) => {
                errs.at(
                    "",
                    &format!("illegal protocol {} specified with command", other.as_str()),
                );
                return Err(errs.list);
            }
            (
                Protocol::Http | Protocol::Https | Protocol::MesosHttp | Protocol::MesosHttps,
                None,
            ) => {
                let (scheme, level) = match protocol {
                    Protocol::Http => (Scheme::Http, Level::Marathon),
                    Protocol::Https => (Scheme::Https, Level::Marathon),
                    Protocol::MesosHttp => (Scheme::Http, Level::Mesos),
                    _ => (Scheme::Https, Level::Mesos),
                };
                Probe::Http {
                    scheme,
                    level,
                    path,
                    port: port_ref(&mut errs),
                    ignore_http1xx: level == Level::Marathon && ignore_http1xx,
                }
            }
            (Protocol::Tcp | Protocol::MesosTcp, None) => Probe::Tcp {
                level: if protocol == Protocol::Tcp {
                    Level::Marathon
                } else {
                    Level::Mesos
                },
                port: port_ref(&mut errs),
            },
        };
        if !errs.list.is_empty() {
            return Err(errs.list);
        }
        Ok(HealthCheck {
            probe,
            grace_period_seconds,
            interval_seconds,
            timeout_seconds,
            max_consecutive_failures,
            delay_seconds,
        })
    }

    /// The check as Marathon 1.x writes it in an app: the timing fields always, `protocol`,
    /// and per protocol `command` (COMMAND), `path` (HTTP kinds, when given), `ignoreHttp1xx`
    /// (HTTP, HTTPS), and `port` or `portIndex` (all but COMMAND).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("protocol".into(), json!(self.protocol().as_str()));
        m.insert(
            "gracePeriodSeconds".into(),
            json!(self.grace_period_seconds),
        );
        m.insert("intervalSeconds".into(), json!(self.interval_seconds));
        m.insert("timeoutSeconds".into(), json!(self.timeout_seconds));
        m.insert(
            "maxConsecutiveFailures".into(),
            json!(self.max_consecutive_failures),
        );
        m.insert("delaySeconds".into(), json!(self.delay_seconds));
        match &self.probe {
            Probe::Http {
                level,
                path,
                ignore_http1xx,
                ..
            } => {
                if let Some(p) = path {
                    m.insert("path".into(), json!(p));
                }
                if *level == Level::Marathon {
                    m.insert("ignoreHttp1xx".into(), json!(ignore_http1xx));
                }
            }
            Probe::Tcp { .. } => {}
            Probe::Command { value } => {
                m.insert("command".into(), json!({ "value": value }));
            }
        }
        match self.port() {
            Some(PortRef::Index(i)) => {
                m.insert("portIndex".into(), json!(i));
            }
            Some(PortRef::Number(p)) => {
                m.insert("port".into(), json!(p));
            }
            None => {}
        }
        Value::Object(m)
    }

    /// `AppValidation.portIndexIsValid`: a Marathon-level check's `portIndex` must address one
    /// of the app's `port_count` ports; with a fixed `port` anything goes.
    pub fn validate_port_index(
        &self,
        port_count: usize,
        path_prefix: &str,
    ) -> Option<ValidationError> {
        if self.level() != Level::Marathon {
            return None;
        }
        match self.port() {
            Some(PortRef::Index(i)) if usize::try_from(i).map_or(true, |i| i >= port_count) => {
                Some(error(path_prefix, PORT_INDEX_MESSAGE))
            }
            _ => None,
        }
    }
}

fn error(path: &str, msg: &str) -> ValidationError {
    ValidationError {
        path: path.to_string(),
        errors: vec![msg.to_string()],
    }
}

/// Collects errors, merging messages for the same path as Marathon's 422 body does.
struct Errors<'a> {
    prefix: &'a str,
    list: Vec<ValidationError>,
}

impl Errors<'_> {
    fn at(&mut self, suffix: &str, msg: &str) {
        let path = format!("{}{suffix}", self.prefix);
        match self.list.iter_mut().find(|e| e.path == path) {
            Some(e) if !e.errors.iter().any(|m| m == msg) => e.errors.push(msg.to_string()),
            Some(_) => {}
            None => self.list.push(error(&path, msg)),
        }
    }

    /// A non-negative integer field; `null` or absent gives `None`.
    fn opt_int(&mut self, obj: &Map<String, Value>, key: &str, max: u64) -> Option<u32> {
        let v = obj.get(key)?;
        let suffix = format!("/{key}");
        match v {
            Value::Null => None,
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    if u > max {
                        self.at(&suffix, "error.max");
                        None
                    } else {
                        u32::try_from(u).ok()
                    }
                } else if n.as_i64().is_some() {
                    self.at(&suffix, "error.min");
                    None
                } else {
                    self.at(&suffix, "error.expected.int");
                    None
                }
            }
            _ => {
                self.at(&suffix, "error.expected.jsnumber");
                None
            }
        }
    }

    fn int(&mut self, obj: &Map<String, Value>, key: &str, default: u32, max: u64) -> u32 {
        self.opt_int(obj, key, max).unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<HealthCheck, Vec<ValidationError>> {
        HealthCheck::parse(&v, "/healthChecks(0)")
    }

    fn paths(errs: &[ValidationError]) -> Vec<(&str, &str)> {
        errs.iter()
            .flat_map(|e| e.errors.iter().map(move |m| (e.path.as_str(), m.as_str())))
            .collect()
    }

    #[test]
    fn empty_object_is_http_with_all_defaults() {
        let hc = parse(json!({})).unwrap();
        assert_eq!(
            hc,
            HealthCheck::with_probe(Probe::Http {
                scheme: Scheme::Http,
                level: Level::Marathon,
                path: None,
                port: PortRef::Index(0),
                ignore_http1xx: false,
            })
        );
        assert_eq!(hc.protocol(), Protocol::Http);
        assert_eq!(
            hc.to_json(),
            json!({
                "protocol": "HTTP",
                "gracePeriodSeconds": 300,
                "intervalSeconds": 60,
                "timeoutSeconds": 20,
                "maxConsecutiveFailures": 3,
                "delaySeconds": 15,
                "ignoreHttp1xx": false,
                "portIndex": 0,
            })
        );
    }

    #[test]
    fn http_fields_round_trip() {
        let input = json!({
            "protocol": "HTTPS",
            "path": "/api/health",
            "portIndex": 2,
            "gracePeriodSeconds": 10,
            "intervalSeconds": 5,
            "timeoutSeconds": 1,
            "maxConsecutiveFailures": 0,
            "delaySeconds": 0,
            "ignoreHttp1xx": true,
        });
        let hc = parse(input.clone()).unwrap();
        assert_eq!(hc.protocol(), Protocol::Https);
        assert_eq!(hc.to_json(), input);
        assert_eq!(parse(hc.to_json()).unwrap(), hc);
    }

    #[test]
    fn tcp_with_fixed_port() {
        let hc = parse(json!({"protocol": "TCP", "port": 8080, "path": "/ignored"})).unwrap();
        assert_eq!(
            hc.probe,
            Probe::Tcp {
                level: Level::Marathon,
                port: PortRef::Number(8080)
            }
        );
        assert_eq!(
            hc.to_json(),
            json!({
                "protocol": "TCP",
                "gracePeriodSeconds": 300,
                "intervalSeconds": 60,
                "timeoutSeconds": 20,
                "maxConsecutiveFailures": 3,
                "delaySeconds": 15,
                "port": 8080,
            })
        );
    }

    #[test]
    fn command_check() {
        let hc = parse(json!({
            "protocol": "COMMAND",
            "command": {"value": "curl -f http://$HOST:$PORT0/health"},
            "portIndex": 0,
        }))
        .unwrap();
        assert_eq!(hc.level(), Level::Mesos);
        assert_eq!(hc.port(), None);
        assert_eq!(
            hc.to_json(),
            json!({
                "protocol": "COMMAND",
                "command": {"value": "curl -f http://$HOST:$PORT0/health"},
                "gracePeriodSeconds": 300,
                "intervalSeconds": 60,
                "timeoutSeconds": 20,
                "maxConsecutiveFailures": 3,
                "delaySeconds": 15,
            })
        );
    }

    #[test]
    fn mesos_protocols_are_accepted_and_drop_ignore_http1xx() {
        let hc =
            parse(json!({"protocol": "MESOS_HTTP", "path": "/h", "ignoreHttp1xx": true})).unwrap();
        assert_eq!(hc.protocol(), Protocol::MesosHttp);
        let out = hc.to_json();
        assert_eq!(out["path"], "/h");
        assert!(out.get("ignoreHttp1xx").is_none());
        for (name, p) in [
            ("MESOS_HTTPS", Protocol::MesosHttps),
            ("MESOS_TCP", Protocol::MesosTcp),
        ] {
            let hc = parse(json!({ "protocol": name })).unwrap();
            assert_eq!(hc.protocol(), p);
            assert_eq!(hc.level(), Level::Mesos);
            assert_eq!(hc.to_json()["protocol"], name);
        }
    }

    #[test]
    fn emits_only_fields_marathon_python_knows() {
        let known = [
            "command",
            "gracePeriodSeconds",
            "intervalSeconds",
            "maxConsecutiveFailures",
            "path",
            "portIndex",
            "protocol",
            "timeoutSeconds",
            "ignoreHttp1xx",
            "port",
            "delaySeconds",
        ];
        let inputs = [
            json!({"protocol": "HTTP", "path": "/x", "ipProtocol": "IPv4"}),
            json!({"protocol": "HTTPS", "port": 1}),
            json!({"protocol": "TCP"}),
            json!({"protocol": "COMMAND", "command": {"value": "true"}}),
            json!({"protocol": "MESOS_HTTP", "ipProtocol": "IPv6"}),
            json!({"protocol": "MESOS_HTTPS"}),
            json!({"protocol": "MESOS_TCP"}),
        ];
        for input in inputs {
            let out = parse(input.clone()).unwrap().to_json();
            for key in out.as_object().unwrap().keys() {
                assert!(known.contains(&key.as_str()), "{key} emitted for {input}");
            }
        }
    }

    #[test]
    fn type_and_range_errors_name_their_paths() {
        let errs = parse(json!({
            "protocol": "UDP",
            "gracePeriodSeconds": -1,
            "intervalSeconds": "60",
            "timeoutSeconds": 1.5,
            "portIndex": 70000,
            "ignoreHttp1xx": "yes",
            "path": 7,
        }))
        .unwrap_err();
        let mut got = paths(&errs);
        got.sort();
        assert_eq!(
            got,
            vec![
                ("/healthChecks(0)/gracePeriodSeconds", "error.min"),
                ("/healthChecks(0)/ignoreHttp1xx", "error.expected.jsboolean"),
                (
                    "/healthChecks(0)/intervalSeconds",
                    "error.expected.jsnumber"
                ),
                ("/healthChecks(0)/path", "error.expected.jsstring"),
                ("/healthChecks(0)/portIndex", "error.max"),
                ("/healthChecks(0)/protocol", "error.unknown.enum.literal"),
                ("/healthChecks(0)/timeoutSeconds", "error.expected.int"),
            ]
        );
    }

    #[test]
    fn combination_errors() {
        let cases = [
            (
                json!({"port": 80, "portIndex": 0}),
                ("/healthChecks(0)", PORT_XOR_INDEX_MESSAGE),
            ),
            (
                json!({"protocol": "COMMAND"}),
                ("/healthChecks(0)/command", "error.path.missing"),
            ),
            (
                json!({"command": {"value": "true"}}),
                (
                    "/healthChecks(0)",
                    "illegal protocol HTTP specified with command",
                ),
            ),
            (
                json!({"protocol": "COMMAND", "command": {}}),
                ("/healthChecks(0)/command/value", "error.path.missing"),
            ),
            (
                json!({"protocol": "COMMAND", "command": "true"}),
                ("/healthChecks(0)/command", "error.expected.jsobject"),
            ),
            (
                json!({"protocol": "COMMAND", "command": {"value": "true"}, "path": "/"}),
                (
                    "/healthChecks(0)",
                    "Invalid combination of HealthCheck parameters",
                ),
            ),
            (
                json!({"protocol": "HTTP", "ipProtocol": "IPv6"}),
                ("/healthChecks(0)", IP_PROTOCOL_MESSAGE),
            ),
            (json!([]), ("/healthChecks(0)", "error.expected.jsobject")),
        ];
        for (input, want) in cases {
            let errs = parse(input.clone()).unwrap_err();
            assert_eq!(paths(&errs), vec![want], "for {input}");
        }
    }

    #[test]
    fn port_index_must_address_a_port_for_marathon_level_checks() {
        let hc = parse(json!({"portIndex": 1})).unwrap();
        assert_eq!(hc.validate_port_index(2, "/healthChecks(0)"), None);
        assert_eq!(
            hc.validate_port_index(1, "/healthChecks(0)"),
            Some(error("/healthChecks(0)", PORT_INDEX_MESSAGE))
        );
        let fixed = parse(json!({"port": 9000})).unwrap();
        assert_eq!(fixed.validate_port_index(0, "/x"), None);
        let mesos = parse(json!({"protocol": "MESOS_TCP", "portIndex": 3})).unwrap();
        assert_eq!(mesos.validate_port_index(0, "/x"), None);
    }

    #[test]
    fn null_fields_take_defaults() {
        let hc = parse(json!({"protocol": null, "intervalSeconds": null, "path": null})).unwrap();
        assert_eq!(hc.protocol(), Protocol::Http);
        assert_eq!(hc.interval_seconds, DEFAULT_INTERVAL_SECONDS);
    }
}
