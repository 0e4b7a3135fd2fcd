//! The connection string: libpq's two spellings (`host=… sslmode=…` and
//! `postgres://user:pass@host/db?sslmode=…`), the TLS mode it asks for, and connecting.
//!
//! tokio-postgres understands `sslmode=disable|prefer|require` but neither `verify-full` nor
//! `sslrootcert`, so those two are taken out of the string here and the TLS connector is built
//! from them: `require` and `prefer` encrypt without checking the certificate (libpq's meaning
//! when no root certificate is given), `verify-full` checks the chain against `sslrootcert` (a PEM
//! file) or the system's roots, and the host name.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::PgConfigError;

/// How the connection is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP or a Unix socket.
    Disable,
    /// TLS when the server offers it, else plain (libpq's default).
    Prefer,
    /// TLS, the certificate unchecked.
    Require,
    /// TLS, the certificate checked against the roots and the host name.
    VerifyFull,
}

impl TlsMode {
    fn spelling(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyFull => "verify-full",
        }
    }
}

/// A parsed connection string: what tokio-postgres reads, plus the TLS connector.
#[derive(Clone)]
pub(crate) struct Connector {
    config: Config,
    pub(crate) tls_mode: TlsMode,
    tls: Option<MakeRustlsConnect>,
}

impl Connector {
    /// Parses `conn_str` (never echoed in an error: it may hold a password).
    pub(crate) fn parse(conn_str: &str) -> Result<Connector, PgConfigError> {
        let (rest, taken) = take_tls_options(conn_str)?;
        let mut config: Config =
            rest.parse()
                .map_err(|e: tokio_postgres::Error| PgConfigError::ConnStr {
                    message: e.to_string(),
                })?;
        let mut tls_mode = TlsMode::Prefer;
        let mut root_cert = None;
        for (key, value) in taken {
            match key.as_str() {
                "sslmode" => {
                    tls_mode = match value.as_str() {
                        "disable" => TlsMode::Disable,
                        "prefer" => TlsMode::Prefer,
                        "require" => TlsMode::Require,
                        "verify-full" => TlsMode::VerifyFull,
                        other => {
                            return Err(PgConfigError::ConnStr {
                                message: format!(
                                    "sslmode {other:?} is not supported; use disable, prefer, require or verify-full"
                                ),
                            })
                        }
                    }
                }
                _ => root_cert = Some(value),
            }
        }
        if root_cert.is_some() && tls_mode != TlsMode::VerifyFull {
            return Err(PgConfigError::ConnStr {
                message: "sslrootcert is only used with sslmode=verify-full".into(),
            });
        }
        config.ssl_mode(match tls_mode {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyFull => SslMode::Require,
        });
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("planform");
        }
        let tls = match tls_mode {
            TlsMode::Disable => None,
            TlsMode::Prefer | TlsMode::Require => Some(unverified_tls()),
            TlsMode::VerifyFull => Some(verified_tls(root_cert.as_deref())?),
        };
        Ok(Connector {
            config,
            tls_mode,
            tls,
        })
    }

    /// The server, for messages: `db.internal:5432/planform` (no user, no password).
    pub(crate) fn server(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        match self.config.get_dbname() {
            Some(db) => format!("{host}:{port}/{db}"),
            None => format!("{host}:{port}"),
        }
    }

    /// Opens a connection; its driver runs on a task of its own until the client is dropped.
    pub(crate) async fn connect(&self) -> Result<Client, tokio_postgres::Error> {
        match &self.tls {
            None => {
                let (client, connection) = self.config.connect(NoTls).await?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Ok(client)
            }
            Some(tls) => {
                let (client, connection) = self.config.connect(tls.clone()).await?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Ok(client)
            }
        }
    }
}

/// Splits `sslmode` and `sslrootcert` off `conn_str`, returning the rest in the same spelling.
fn take_tls_options(conn_str: &str) -> Result<(String, Vec<(String, String)>), PgConfigError> {
    let ours = |k: &str| k == "sslmode" || k == "sslrootcert";
    let mut taken = vec![];
    if conn_str.starts_with("postgres://") || conn_str.starts_with("postgresql://") {
        let Some((base, query)) = conn_str.split_once('?') else {
            return Ok((conn_str.to_string(), taken));
        };
        let mut kept = vec![];
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if ours(k) {
                taken.push((k.to_string(), percent_decode(v)?));
            } else {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, taken));
    }
    let mut kept = vec![];
    let mut rest = conn_str;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let start = rest;
        let eq = rest.find('=').ok_or_else(|| PgConfigError::ConnStr {
            message: "expected key=value pairs or a postgres:// URL".into(),
        })?;
        let key = rest[..eq].trim().to_string();
        rest = rest[eq + 1..].trim_start();
        let (value, len) = libpq_value(rest)?;
        rest = &rest[len..];
        let pair = &start[..start.len() - rest.len()];
        if ours(&key) {
            taken.push((key, value));
        } else {
            kept.push(pair.trim());
        }
    }
    Ok((kept.join(" "), taken))
}

/// Reads one value of a key/value connection string (quoted with `'`, `\` escapes); returns it
/// and the bytes it took.
fn libpq_value(s: &str) -> Result<(String, usize), PgConfigError> {
    let mut value = String::new();
    let mut chars = s.char_indices().peekable();
    let quoted = s.starts_with('\'');
    if quoted {
        chars.next();
    }
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => value.push(e),
                None => break,
            },
            '\'' if quoted => return Ok((value, i + 1)),
            c if c.is_whitespace() && !quoted => return Ok((value, i)),
            c => value.push(c),
        }
    }
    if quoted {
        return Err(PgConfigError::ConnStr {
            message: "a quoted value is not closed".into(),
        });
    }
    Ok((value, s.len()))
}

fn percent_decode(s: &str) -> Result<String, PgConfigError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| PgConfigError::ConnStr {
                    message: "a %-escape in the URL's query is invalid".into(),
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PgConfigError::ConnStr {
        message: "a %-escape in the URL's query is not UTF-8".into(),
    })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS that checks the chain against `root_cert` (a PEM file) or the system's roots, and the
/// host name.
fn verified_tls(root_cert: Option<&str>) -> Result<MakeRustlsConnect, PgConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| PgConfigError::RootCert {
                    path: path.to_string(),
                    message: e.to_string(),
                })?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(PgConfigError::RootCert {
                    path: path.to_string(),
                    message: "it holds no usable certificate".into(),
                });
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(PgConfigError::RootCert {
                    path: "(system roots)".into(),
                    message: "no system root certificate was found; give sslrootcert=FILE".into(),
                });
            }
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// TLS that encrypts but does not check who the server is (`sslmode=require`, `prefer`).
fn unverified_tls() -> MakeRustlsConnect {
    let provider = provider();
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    MakeRustlsConnect::new(config)
}

/// Accepts any certificate, but still checks that the handshake is signed by its key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A description of a connection failure naming the TLS mode when TLS is involved.
pub(crate) fn describe_error(e: &tokio_postgres::Error, tls_mode: TlsMode) -> String {
    let mut message = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut m = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                m.push_str(": ");
                m.push_str(&s.to_string());
                source = s.source();
            }
            m
        }
    };
    let lower = message.to_lowercase();
    if lower.contains("tls") || lower.contains("ssl") || lower.contains("certificate") {
        message.push_str(&format!(" (sslmode={})", tls_mode.spelling()));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_options_are_taken_out_of_key_value_strings() {
        let (rest, taken) = take_tls_options(
            "host=db.internal  password='it\\'s secret' sslmode=verify-full sslrootcert=/etc/ca.pem dbname=state",
        )
        .unwrap();
        assert_eq!(
            rest,
            "host=db.internal password='it\\'s secret' dbname=state"
        );
        assert_eq!(
            taken,
            vec![
                ("sslmode".into(), "verify-full".into()),
                ("sslrootcert".into(), "/etc/ca.pem".into())
            ]
        );
    }

    #[test]
    fn tls_options_are_taken_out_of_urls() {
        let (rest, taken) = take_tls_options(
            "postgresql://u:p%40ss@db:5433/state?sslmode=require&application_name=x&sslrootcert=%2Fca.pem",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgresql://u:p%40ss@db:5433/state?application_name=x"
        );
        assert_eq!(
            taken,
            vec![
                ("sslmode".into(), "require".into()),
                ("sslrootcert".into(), "/ca.pem".into())
            ]
        );
        let (rest, taken) = take_tls_options("postgres://db/state?sslmode=disable").unwrap();
        assert_eq!((rest.as_str(), taken.len()), ("postgres://db/state", 1));
    }

    #[test]
    fn modes_are_read_and_unknown_ones_refused() {
        let c = Connector::parse("host=h sslmode=disable").unwrap();
        assert_eq!(c.tls_mode, TlsMode::Disable);
        assert!(c.tls.is_none());
        let c = Connector::parse("host=h").unwrap();
        assert_eq!(c.tls_mode, TlsMode::Prefer);
        let c = Connector::parse("postgres://h/db?sslmode=require").unwrap();
        assert_eq!(c.tls_mode, TlsMode::Require);
        assert_eq!(c.server(), "h:5432/db");
        let e = Connector::parse("host=h sslmode=verify-ca").err().unwrap();
        assert_eq!(
            e.to_string(),
            "PG_CONN_STR is not a valid connection string: sslmode \"verify-ca\" is not supported; use disable, prefer, require or verify-full"
        );
        let e = Connector::parse("host=h sslmode=require sslrootcert=/x.pem")
            .err()
            .unwrap();
        assert!(e.to_string().contains("only used with sslmode=verify-full"));
    }

    #[test]
    fn errors_never_echo_the_password() {
        let e = Connector::parse("host=h password=hunter2 bogus=1")
            .err()
            .unwrap();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = Connector::parse("host=h password='hunter2").err().unwrap();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn a_missing_root_certificate_file_is_named() {
        let e = Connector::parse("host=h sslmode=verify-full sslrootcert=/nonexistent/ca.pem")
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .starts_with("cannot use the root certificate /nonexistent/ca.pem"),
            "{e}"
        );
    }
}
