//! A labelled corpus for measuring a secret scanner: real source text (the crates of the local cargo registry) with planted secrets of every kind the built-in rules cover, in every file type, some base64-encoded or spread over lines, and planted look-alikes (placeholders, hashes, UUIDs, base64 of plain text, public keys, documented sample keys, secret references); every planted item's file and lines are recorded. The corpus test and the benchmark's corpus writer (`examples/corpus.rs`) share it.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

/// One file of the corpus.
#[derive(Debug, Clone)]
pub(crate) struct CorpusFile {
    /// Relative path.
    pub(crate) path: String,
    /// Contents.
    pub(crate) text: String,
}

/// What was planted where.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Label {
    /// The file.
    pub(crate) path: String,
    /// 1-based first line of the planted text.
    pub(crate) line: usize,
    /// How many lines it spans.
    pub(crate) lines: usize,
    /// What it is (`github-token`, `lookalike-uuid`, ...).
    pub(crate) kind: String,
    /// A secret a scanner should find (`true`), or a look-alike it should not (`false`).
    pub(crate) secret: bool,
    /// How it was written: `plain`, `base64` or `multiline`.
    pub(crate) form: String,
}

/// The corpus: files, and the labels of what was planted in them.
#[derive(Debug, Default)]
pub(crate) struct Corpus {
    /// Files.
    pub(crate) files: Vec<CorpusFile>,
    /// Planted secrets and look-alikes.
    pub(crate) labels: Vec<Label>,
    /// Bytes of real source text taken.
    pub(crate) real_bytes: usize,
}

impl Corpus {
    /// The planted text of `label` (its first two lines), with its file.
    pub(crate) fn excerpt(&self, label: &Label) -> String {
        let text = self
            .files
            .iter()
            .find(|f| f.path == label.path)
            .map_or("", |f| f.text.as_str());
        let lines: Vec<&str> = text
            .lines()
            .skip(label.line - 1)
            .take(label.lines.min(2))
            .collect();
        format!("{} [{}] {}", label.path, label.kind, lines.join(" / "))
    }
}

/// The folder of unpacked crate sources in the local cargo registry.
pub(crate) fn registry_sources() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let src = home.join("registry/src");
    let mut indexes: Vec<PathBuf> = std::fs::read_dir(&src)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    indexes.sort();
    indexes.into_iter().next()
}

/// SplitMix64: a small deterministic generator, so a seed gives the same corpus every run.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// `n` characters drawn from `alphabet`.
    fn chars(&mut self, alphabet: &str, n: usize) -> String {
        let a: Vec<char> = alphabet.chars().collect();
        (0..n).map(|_| a[self.below(a.len())]).collect()
    }

    /// `min` to `min + spread - 1` characters drawn from `alphabet`.
    fn chars_n(&mut self, alphabet: &str, min: usize, spread: usize) -> String {
        let n = min + self.below(spread);
        self.chars(alphabet, n)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX: &str = "0123456789abcdef";
const DIGITS: &str = "0123456789";
const PASSWORD: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!%^*_-+";

/// A value and the variable name it is assigned to (the context a reader would see).
struct Value {
    name: &'static str,
    text: String,
}

fn value(name: &'static str, text: String) -> Value {
    Value { name, text }
}

fn pem(rng: &mut Rng, label: &str, bytes: usize) -> String {
    let body = STANDARD.encode(rng.bytes(bytes));
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----",
        lines.join("\n")
    )
}

/// The kinds of secret planted, each with a generator of fresh values in its real format.
const SECRET_KINDS: &[&str] = &[
    "aws-access-key-id",
    "aws-secret-access-key",
    "aws-session-token",
    "github-token",
    "github-oauth-token",
    "github-app-token",
    "github-fine-grained-token",
    "gitlab-token",
    "slack-token",
    "slack-webhook",
    "stripe-secret-key",
    "sendgrid-api-key",
    "npm-token",
    "pypi-token",
    "crates-io-token",
    "twilio-auth-token",
    "twilio-api-key",
    "docker-registry-auth",
    "google-api-key",
    "gcp-service-account-key",
    "azure-storage-connection-string",
    "azure-cosmos-connection-string",
    "azure-service-bus-connection-string",
    "azure-event-hubs-connection-string",
    "azure-sas-url",
    "azure-entra-client-secret",
    "azure-app-configuration",
    "rsa-private-key",
    "ec-private-key",
    "pkcs8-private-key",
    "openssh-private-key",
    "putty-private-key",
    "jwt",
    "url-with-password",
    "postgres-url",
    "sqlserver-connection-string",
    "palisade-client-secret",
    "palisade-api-token",
    "generic-password",
    "generic-api-key",
    "generic-client-secret",
];

fn secret(rng: &mut Rng, kind: &str) -> Value {
    match kind {
        "aws-access-key-id" => value(
            "aws_access_key_id",
            format!(
                "{}{}",
                rng.pick(&["AKIA", "ASIA"]),
                rng.chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
            ),
        ),
        "aws-secret-access-key" => value("aws_secret_access_key", rng.chars(B64, 40)),
        "aws-session-token" => value(
            "aws_session_token",
            format!("IQoJb3JpZ2luX2VjE{}", rng.chars(B64, 280)),
        ),
        "github-token" => value("github_token", format!("ghp_{}", rng.chars(ALNUM, 36))),
        "github-oauth-token" => value("oauth_token", format!("gho_{}", rng.chars(ALNUM, 36))),
        "github-app-token" => value(
            "installation_token",
            format!("ghs_{}", rng.chars(ALNUM, 36)),
        ),
        "github-fine-grained-token" => value(
            "gh_pat",
            format!(
                "github_pat_11{}_{}",
                rng.chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 20),
                rng.chars(ALNUM, 59)
            ),
        ),
        "gitlab-token" => value(
            "gitlab_token",
            format!("glpat-{}", rng.chars(&format!("{ALNUM}_-"), 20)),
        ),
        "slack-token" => value(
            "slack_bot_token",
            format!(
                "xoxb-{}-{}-{}",
                rng.chars(DIGITS, 12),
                rng.chars(DIGITS, 13),
                rng.chars(ALNUM, 24)
            ),
        ),
        "slack-webhook" => value(
            "slack_webhook_url",
            format!(
                "https://hooks.slack.com/services/T{}/B{}/{}",
                rng.chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 10),
                rng.chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 10),
                rng.chars(ALNUM, 24)
            ),
        ),
        "stripe-secret-key" => value(
            "stripe_key",
            format!(
                "{}_live_{}",
                rng.pick(&["sk", "rk"]),
                rng.chars_n(ALNUM, 24, 76)
            ),
        ),
        "sendgrid-api-key" => value(
            "sendgrid_key",
            format!(
                "SG.{}.{}",
                rng.chars(&format!("{ALNUM}_-"), 22),
                rng.chars(&format!("{ALNUM}_-"), 43)
            ),
        ),
        "npm-token" => value("npm_auth", format!("npm_{}", rng.chars(ALNUM, 36))),
        "pypi-token" => value(
            "pypi_upload",
            format!("pypi-AgEIcHlwaS5vcmc{}", rng.chars_n(B64URL, 70, 100)),
        ),
        "crates-io-token" => value("cargo_registry", format!("cio{}", rng.chars(ALNUM, 32))),
        "twilio-auth-token" => value("twilio_auth_token", rng.chars(HEX, 32)),
        "twilio-api-key" => value("twilio_sid", format!("SK{}", rng.chars(HEX, 32))),
        "docker-registry-auth" => {
            let auth = STANDARD.encode(format!("deploy:{}", rng.chars(ALNUM, 20)));
            value(
                "docker_config",
                format!("{{\"auths\":{{\"registry.acme.io\":{{\"auth\":\"{auth}\"}}}}}}"),
            )
        }
        "google-api-key" => value(
            "maps_key",
            format!("AIza{}", rng.chars(&format!("{ALNUM}_-"), 35)),
        ),
        "gcp-service-account-key" => {
            let key = pem(rng, "PRIVATE KEY", 600).replace('\n', "\\n");
            value(
                "service_account",
                format!(
                    "{{\n  \"type\": \"service_account\",\n  \"project_id\": \"acme-prod\",\n  \"private_key_id\": \"{}\",\n  \"private_key\": \"{key}\\n\",\n  \"client_email\": \"deploy@acme-prod.iam.gserviceaccount.com\"\n}}",
                    rng.chars(HEX, 40)
                ),
            )
        }
        "azure-storage-connection-string" => value(
            "storage_connection",
            format!(
                "DefaultEndpointsProtocol=https;AccountName=acme{};AccountKey={}==;EndpointSuffix=core.windows.net",
                rng.chars("abcdefghijklmnopqrstuvwxyz", 6),
                rng.chars(B64, 86)
            ),
        ),
        "azure-cosmos-connection-string" => value(
            "cosmos_connection",
            format!(
                "AccountEndpoint=https://acme-{}.documents.azure.com:443/;AccountKey={}==;",
                rng.chars("abcdefghijklmnopqrstuvwxyz", 5),
                rng.chars(B64, 86)
            ),
        ),
        "azure-service-bus-connection-string" | "azure-event-hubs-connection-string" => value(
            "bus_connection",
            format!(
                "Endpoint=sb://acme-{}.servicebus.windows.net/;SharedAccessKeyName={};SharedAccessKey={}={}",
                rng.chars("abcdefghijklmnopqrstuvwxyz", 5),
                rng.pick(&["RootManageSharedAccessKey", "send", "listen"]),
                rng.chars(B64, 43),
                if kind.contains("hubs") {
                    ";EntityPath=orders"
                } else {
                    ""
                }
            ),
        ),
        "azure-sas-url" => value(
            "blob_sas_url",
            format!(
                "https://acme{}.blob.core.windows.net/exports?sv=2022-11-02&ss=b&srt=co&sp=rl&se=2027-01-01T00:00:00Z&spr=https&sig={}%3D",
                rng.chars("abcdefghijklmnopqrstuvwxyz", 5),
                rng.chars(ALNUM, 43)
            ),
        ),
        "azure-entra-client-secret" => value(
            "azure_client_secret",
            format!(
                "{}{}Q~{}",
                rng.chars(ALNUM, 3),
                rng.chars(DIGITS, 1),
                rng.chars(&format!("{ALNUM}_.~-"), 34)
            ),
        ),
        "azure-app-configuration" => value(
            "appconfig_connection",
            format!(
                "Endpoint=https://acme-{}.azconfig.io;Id={}-l0-s0:{};Secret={}=",
                rng.chars("abcdefghijklmnopqrstuvwxyz", 5),
                rng.chars(ALNUM, 4),
                rng.chars(ALNUM, 20),
                rng.chars(B64, 43)
            ),
        ),
        "rsa-private-key" => value("tls_key", pem(rng, "RSA PRIVATE KEY", 900)),
        "ec-private-key" => value("signing_key_pem", pem(rng, "EC PRIVATE KEY", 120)),
        "pkcs8-private-key" => value("private_key_pem", pem(rng, "PRIVATE KEY", 600)),
        "openssh-private-key" => {
            let mut bytes = b"openssh-key-v1\0\0\0\0".to_vec();
            bytes.extend(rng.bytes(380));
            let body = STANDARD.encode(bytes);
            let lines: Vec<&str> = body
                .as_bytes()
                .chunks(70)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            value(
                "deploy_key",
                format!(
                    "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----",
                    lines.join("\n")
                ),
            )
        }
        "putty-private-key" => value(
            "putty_key",
            format!(
                "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy@acme\nPublic-Lines: 2\n{}\n{}\nPrivate-Lines: 1\n{}\nPrivate-MAC: {}",
                rng.chars(B64, 64),
                rng.chars(B64, 4),
                rng.chars(B64, 44),
                rng.chars(HEX, 64)
            ),
        ),
        "jwt" => {
            let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#);
            let claims = URL_SAFE_NO_PAD.encode(format!(
                r#"{{"iss":"https://login.acme.io","sub":"{}","aud":"billing","tenant_id":"t-{}","exp":{}}}"#,
                rng.chars(HEX, 16),
                rng.chars(DIGITS, 6),
                1_800_000_000 + rng.below(100_000_000)
            ));
            let signature = URL_SAFE_NO_PAD.encode(rng.bytes(256));
            value("bearer", format!("{header}.{claims}.{signature}"))
        }
        "url-with-password" => value(
            "remote",
            format!(
                "{}://{}:{}@{}.acme.internal/{}",
                rng.pick(&["https", "amqp", "redis", "mongodb"]),
                rng.pick(&["deploy", "svc", "ci", "admin"]),
                rng.chars_n(ALNUM, 14, 10),
                rng.pick(&["git", "mq", "cache", "docs"]),
                rng.pick(&["repo.git", "vhost", "0", "app"])
            ),
        ),
        "postgres-url" => value(
            "database_url",
            format!(
                "postgres://app:{}@db-{}.acme.internal:5432/app",
                rng.chars_n(ALNUM, 16, 8),
                rng.below(10)
            ),
        ),
        "sqlserver-connection-string" => value(
            "sql_connection",
            format!(
                "Server=tcp:acme-{}.database.windows.net,1433;Database=app;User ID=app;Password={};Encrypt=true;",
                rng.chars("abcdefghijklmnopqrstuvwxyz", 5),
                rng.chars_n(PASSWORD, 16, 8)
            ),
        ),
        "palisade-client-secret" => value(
            "client_secret",
            format!("plsd_cs_{}", rng.chars(B64URL, 43)),
        ),
        "palisade-api-token" => value("api_token", format!("plsd_at_{}", rng.chars(B64URL, 43))),
        "generic-password" => value("password", rng.chars_n(PASSWORD, 14, 12)),
        "generic-api-key" => value("api_key", rng.chars_n(ALNUM, 24, 16)),
        "generic-client-secret" => value("client_secret", rng.chars(ALNUM, 32)),
        other => unreachable!("no generator for {other}"),
    }
}

/// Look-alikes: text in the shape of a secret that is not one.
const LOOKALIKE_KINDS: &[&str] = &[
    "lookalike-placeholder",
    "lookalike-env-reference",
    "lookalike-keyvault-reference",
    "lookalike-sha256",
    "lookalike-git-sha",
    "lookalike-integrity",
    "lookalike-uuid",
    "lookalike-base64-text",
    "lookalike-public-key",
    "lookalike-certificate",
    "lookalike-documented-sample",
    "lookalike-code-reference",
    "lookalike-masked-token",
    "lookalike-marked-test-vector",
];

fn lookalike(rng: &mut Rng, kind: &str) -> Value {
    let uuid = |rng: &mut Rng| {
        format!(
            "{}-{}-4{}-{}{}-{}",
            rng.chars(HEX, 8),
            rng.chars(HEX, 4),
            rng.chars(HEX, 3),
            rng.pick(&["8", "9", "a", "b"]),
            rng.chars(HEX, 3),
            rng.chars(HEX, 12)
        )
    };
    match kind {
        "lookalike-placeholder" => {
            let name = rng.pick(&[
                "password",
                "api_key",
                "client_secret",
                "token",
                "github_token",
            ]);
            let text = match rng.below(6) {
                0 => "changeme".to_owned(),
                1 => format!("<your-{}>", name.replace('_', "-")),
                2 => format!("${{{}}}", name.to_ascii_uppercase()),
                3 => "x".repeat(24 + rng.below(16)),
                4 => format!("ghp_{}", "x".repeat(36)),
                _ => format!("your-{}-here", name.replace('_', "-")),
            };
            value(name, text)
        }
        "lookalike-env-reference" => {
            let name = rng.pick(&["password", "client_secret", "api_key"]);
            value(name, format!("env://{}", name.to_ascii_uppercase()))
        }
        "lookalike-keyvault-reference" => {
            let name = rng.pick(&["password", "client_secret", "storage_key"]);
            let text = if rng.below(2) == 0 {
                format!(
                    "keyvault://acme-{}/{}",
                    rng.chars("abcdefghijklmnopqrstuvwxyz", 4),
                    name.replace('_', "-")
                )
            } else {
                format!(
                    "@Microsoft.KeyVault(SecretUri=https://acme-{}.vault.azure.net/secrets/{}/)",
                    rng.chars("abcdefghijklmnopqrstuvwxyz", 4),
                    name.replace('_', "-")
                )
            };
            value(name, text)
        }
        "lookalike-sha256" => value(
            rng.pick(&["checksum", "sha256", "digest"]),
            rng.chars(HEX, 64),
        ),
        "lookalike-git-sha" => value(rng.pick(&["rev", "commit", "revision"]), rng.chars(HEX, 40)),
        "lookalike-integrity" => value("integrity", format!("sha512-{}==", rng.chars(B64, 86))),
        "lookalike-uuid" => value(
            rng.pick(&["tenant_id", "client_id", "request_id", "subscription"]),
            uuid(rng),
        ),
        "lookalike-base64-text" => {
            let sentence = rng.pick(&[
                "The quick brown fox jumps over the lazy dog again and again.",
                "Configuration for the staging environment, reviewed by the platform team.",
                "Nothing to see here: this is the description of a release note entry.",
            ]);
            value(
                rng.pick(&["description", "banner", "motd"]),
                STANDARD.encode(sentence),
            )
        }
        "lookalike-public-key" => value("public_key", pem(rng, "PUBLIC KEY", 294)),
        "lookalike-certificate" => value("ca_certificate", pem(rng, "CERTIFICATE", 700)),
        "lookalike-documented-sample" => {
            let (name, text) = rng.pick(&[
                ("aws_access_key_id", "AKIAIOSFODNN7EXAMPLE"),
                ("aws_secret_access_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                ("token", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),
            ]);
            value(name, text.to_owned())
        }
        "lookalike-code-reference" => value(
            rng.pick(&["password", "token", "api_key", "secret"]),
            rng.pick(&[
                "read_password(&prompt)?",
                "config.api_key.clone()",
                "std::env::var(\"API_TOKEN\")?",
                "secrets.get(\"db\").await?",
                "request.headers().get(AUTHORIZATION)",
            ])
            .to_string(),
        ),
        "lookalike-marked-test-vector" => {
            let kind = rng.pick(&[
                "github-token",
                "stripe-secret-key",
                "npm-token",
                "gitlab-token",
            ]);
            secret(rng, kind)
        }
        "lookalike-masked-token" => value(
            rng.pick(&["token", "api_key"]),
            format!(
                "{}****************{}",
                rng.chars(ALNUM, 4),
                rng.chars(ALNUM, 4)
            ),
        ),
        other => unreachable!("no generator for {other}"),
    }
}

/// How a value is written into a file of a given type.
fn render(
    rng: &mut Rng,
    extension: &str,
    v: &Value,
    code_reference: bool,
) -> (String, &'static str) {
    let multiline = v.text.contains('\n');
    let name = v.name;
    let upper = name.to_ascii_uppercase();
    let text = &v.text;
    if code_reference {
        return match extension {
            "rs" => (format!("    let {name} = {text};"), "plain"),
            "py" => (format!("{name} = {text}"), "plain"),
            _ => (format!("{name}: {text}"), "plain"),
        };
    }
    match extension {
        "rs" if multiline => (format!("const {upper}: &str = r#\"{text}\"#;"), "multiline"),
        "rs" => match rng.below(3) {
            0 => (format!("const {upper}: &str = \"{text}\";"), "plain"),
            1 => (format!("    let {name} = \"{text}\";"), "plain"),
            _ => (format!("        .{name}(\"{text}\")"), "plain"),
        },
        "toml" if multiline => (format!("{name} = '''\n{text}\n'''"), "multiline"),
        "toml" => (format!("{name} = \"{text}\""), "plain"),
        "yml" | "yaml" if multiline => (
            format!(
                "{name}: |\n{}",
                text.lines()
                    .map(|l| format!("  {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            "multiline",
        ),
        "yml" | "yaml" => (format!("  {name}: \"{text}\""), "plain"),
        "json" if multiline && text.starts_with('{') => {
            (format!("\"{name}\": {text},"), "multiline")
        }
        "json" => (
            format!(
                "  \"{name}\": \"{}\",",
                text.replace('\n', "\\n").replace('"', "\\\"")
            ),
            "plain",
        ),
        "env" if multiline => (format!("{upper}=\"{text}\""), "multiline"),
        "env" => (format!("{upper}={text}"), "plain"),
        "sh" if multiline => (
            format!("cat > /run/secrets/{name} <<'EOF'\n{text}\nEOF"),
            "multiline",
        ),
        "sh" => (format!("export {upper}=\"{text}\""), "plain"),
        "py" if multiline => (format!("{upper} = \"\"\"{text}\"\"\""), "multiline"),
        "py" => (format!("{upper} = \"{text}\""), "plain"),
        _ if multiline => (format!("```\n{text}\n```"), "multiline"),
        _ => (
            format!("Set `{upper}` to `{text}` before running."),
            "plain",
        ),
    }
}

/// The same value as a Kubernetes secret carries it: base64 under `data:`.
fn render_base64(v: &Value) -> String {
    format!("data:\n  {}: {}", v.name, STANDARD.encode(&v.text))
}

/// Real source files under `root`, sorted, up to `budget` bytes: text files of the types the
/// corpus covers, none of which a scanner skips by path (lock files and VCS info are left out).
fn real_files(root: &Path, budget: usize) -> Vec<CorpusFile> {
    let mut paths = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                paths.push(path);
            }
        }
    }
    paths.sort();
    let mut files = Vec::new();
    let mut total = 0;
    for path in paths {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let extension = path.extension().unwrap_or_default().to_string_lossy();
        if !["rs", "toml", "md", "json", "yml", "yaml", "py", "sh"].contains(&extension.as_ref())
            || name.starts_with('.')
            || name == "Cargo.lock"
            || name == "package-lock.json"
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if text.len() > 256 * 1024 || text.contains('\0') {
            continue;
        }
        total += text.len();
        let relative = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        files.push(CorpusFile {
            path: format!("crates/{relative}"),
            text,
        });
        if total >= budget {
            break;
        }
    }
    files
}

/// Builds a corpus of about `budget` bytes of real source from `root` (the registry's sources),
/// planting one item per `spacing` bytes on average, secrets and look-alikes in turn, and
/// synthetic `.env` and shell files holding a share of them.
pub(crate) fn build(root: &Path, budget: usize, spacing: usize, seed: u64) -> Corpus {
    let mut rng = Rng::new(seed);
    let mut corpus = Corpus::default();
    let mut files = real_files(root, budget);
    corpus.real_bytes = files.iter().map(|f| f.text.len()).sum();
    // Synthetic configuration files: one per 64 real files, a few ordinary lines each.
    let synthetic = files.len() / 64 + 2;
    for i in 0..synthetic {
        let (path, text) = if i % 2 == 0 {
            (
                format!("deploy/env/{i:03}.env"),
                "RUST_LOG=info\nPORT=8080\nREGION=westeurope\n# settings for the worker\nWORKERS=4\n".to_owned(),
            )
        } else {
            (
                format!("deploy/scripts/{i:03}.sh"),
                "#!/bin/sh\nset -eu\necho \"deploying $1\"\n# the build reads these\nexport RUST_LOG=info\n".to_owned(),
            )
        };
        files.push(CorpusFile { path, text });
    }
    let mut secret_turn = true;
    let (mut next_secret, mut next_lookalike) = (0usize, 0usize);
    for file in &mut files {
        let extension = file.path.rsplit('.').next().unwrap_or("").to_owned();
        let planted = if file.path.starts_with("deploy/") {
            3
        } else {
            file.text.len() / spacing
        };
        if planted == 0 {
            continue;
        }
        let mut lines: Vec<String> = file.text.lines().map(str::to_owned).collect();
        let mut inserts: Vec<(usize, String, String, bool, &'static str)> = Vec::new();
        for _ in 0..planted {
            let at = rng.below(lines.len() + 1);
            let (kind, v, code) = if secret_turn {
                let kind = SECRET_KINDS[next_secret % SECRET_KINDS.len()];
                next_secret += 1;
                (kind, secret(&mut rng, kind), false)
            } else {
                let kind = LOOKALIKE_KINDS[next_lookalike % LOOKALIKE_KINDS.len()];
                next_lookalike += 1;
                (
                    kind,
                    lookalike(&mut rng, kind),
                    kind == "lookalike-code-reference",
                )
            };
            // One secret in ten (single-line ones) is written base64-encoded.
            let (text, form) = if secret_turn && !v.text.contains('\n') && rng.below(10) == 0 {
                (render_base64(&v), "base64")
            } else if kind == "lookalike-marked-test-vector" {
                let (text, form) = render(&mut rng, &extension, &v, false);
                let comment = match extension.as_str() {
                    "rs" => " // test vector: a revoked key from the provider's documentation",
                    "json" => " \"note\": \"test vector\",",
                    "md" => " (test vector)",
                    _ => " # test vector: a revoked key from the provider's documentation",
                };
                (format!("{text}{comment}"), form)
            } else {
                render(&mut rng, &extension, &v, code)
            };
            inserts.push((at, kind.to_owned(), text, secret_turn, form));
            secret_turn = !secret_turn;
        }
        // Insert from the end so earlier positions stay valid, then number the lines.
        inserts.sort_by_key(|(at, ..)| std::cmp::Reverse(*at));
        let mut markers: Vec<(usize, String, bool, &'static str, usize)> = Vec::new();
        for (at, kind, text, secret, form) in inserts {
            let new: Vec<String> = text.lines().map(str::to_owned).collect();
            let count = new.len();
            lines.splice(at..at, new);
            // Positions of markers already placed (later in the file) shift down.
            for marker in &mut markers {
                marker.0 += count;
            }
            markers.push((at, kind, secret, form, count));
        }
        for (at, kind, secret, form, count) in markers {
            corpus.labels.push(Label {
                path: file.path.clone(),
                line: at + 1,
                lines: count,
                kind,
                secret,
                form: form.to_owned(),
            });
        }
        file.text = lines.join("\n") + "\n";
    }
    corpus.files = files;
    corpus
}

/// What a scanner's findings (file and line) score against the labels.
#[derive(Debug, Default, Clone, Serialize)]
pub(crate) struct Score {
    /// Planted secrets.
    pub(crate) secrets: usize,
    /// Planted secrets found.
    pub(crate) found: usize,
    /// Look-alikes planted.
    pub(crate) lookalikes: usize,
    /// Look-alikes flagged.
    pub(crate) lookalikes_flagged: usize,
    /// Findings outside anything planted: in the real source.
    pub(crate) real_code_findings: usize,
    /// The kinds of the secrets missed, with counts.
    pub(crate) missed: std::collections::BTreeMap<String, usize>,
    /// The kinds of the look-alikes flagged, with counts.
    pub(crate) flagged: std::collections::BTreeMap<String, usize>,
    /// Findings outside anything planted (in the real source), by file and line.
    pub(crate) real_code: Vec<(String, usize)>,
    /// The first line of a few of the items scored wrong, to see why.
    pub(crate) wrong_examples: Vec<String>,
}

impl Score {
    /// Recall: planted secrets found over planted secrets.
    pub(crate) fn recall(&self) -> f64 {
        self.found as f64 / self.secrets.max(1) as f64
    }

    /// The share of look-alikes flagged.
    pub(crate) fn lookalike_rate(&self) -> f64 {
        self.lookalikes_flagged as f64 / self.lookalikes.max(1) as f64
    }
}

/// Scores findings given as (path, line).
pub(crate) fn score(corpus: &Corpus, findings: &[(String, usize)]) -> Score {
    let mut hit = vec![false; corpus.labels.len()];
    let mut score = Score::default();
    let mut by_path: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for (i, label) in corpus.labels.iter().enumerate() {
        by_path.entry(label.path.as_str()).or_default().push(i);
    }
    let label_at = |path: &str, line: usize| {
        by_path.get(path).and_then(|labels| {
            labels.iter().copied().find(|&i| {
                let l = &corpus.labels[i];
                (l.line..l.line + l.lines).contains(&line)
            })
        })
    };
    for (path, line) in findings {
        match label_at(path, *line) {
            Some(i) => hit[i] = true,
            None => {
                score.real_code_findings += 1;
                score.real_code.push((path.clone(), *line));
            }
        }
    }
    for (label, hit) in corpus.labels.iter().zip(hit) {
        if label.secret {
            score.secrets += 1;
            if hit {
                score.found += 1;
            } else {
                *score
                    .missed
                    .entry(format!("{} ({})", label.kind, label.form))
                    .or_default() += 1;
                score.wrong_examples.push(corpus.excerpt(label));
            }
        } else {
            score.lookalikes += 1;
            if hit {
                score.lookalikes_flagged += 1;
                *score.flagged.entry(label.kind.clone()).or_default() += 1;
                score.wrong_examples.push(corpus.excerpt(label));
            }
        }
    }
    score
}

/// Whether `kind` names a secret kind (for the test's coverage check).
pub(crate) fn secret_kinds() -> &'static [&'static str] {
    SECRET_KINDS
}
