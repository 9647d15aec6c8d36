//! MSK IAM authentication: the OAUTHBEARER token MSK expects is a SigV4-presigned
//! `kafka-cluster:Connect` request (`https://kafka.REGION.amazonaws.com/?Action=...`),
//! base64url-encoded without padding. librdkafka asks for a token from its own thread through
//! the client context; credentials are cached and only loaded (from the standard AWS chain) when
//! missing or about to expire, on a private runtime, so the async runtime is never blocked.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials as _;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use rdkafka::client::OAuthToken;

/// How long a token is valid (MSK accepts up to 15 minutes).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);
/// Credentials closer than this to their expiry are loaded again.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Makes tokens for one cluster connection.
pub struct IamTokenSource {
    region: Option<String>,
    credentials: Mutex<Option<Credentials>>,
}

impl IamTokenSource {
    pub fn new(region: Option<String>) -> Self {
        IamTokenSource {
            region,
            credentials: Mutex::new(None),
        }
    }

    /// A source with fixed credentials (tests, or credentials resolved by the caller).
    pub fn with_credentials(region: &str, credentials: Credentials) -> Self {
        IamTokenSource {
            region: Some(region.to_owned()),
            credentials: Mutex::new(Some(credentials)),
        }
    }

    /// The region as configured (`None`: taken from the environment when a token is made).
    pub fn region_setting(&self) -> Option<String> {
        self.region.clone()
    }

    fn region(&self) -> Result<String, String> {
        self.region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                "MSK IAM authentication needs a region: set aws_region in the cluster block or AWS_REGION".to_owned()
            })
    }

    fn current_credentials(&self) -> Result<Credentials, String> {
        let mut cached = self
            .credentials
            .lock()
            .map_err(|_| "the credential cache is poisoned".to_owned())?;
        let fresh = cached.as_ref().is_some_and(|credentials| {
            credentials
                .expiry()
                .is_none_or(|expiry| expiry > SystemTime::now() + REFRESH_MARGIN)
        });
        if !fresh {
            *cached = Some(load_credentials()?);
        }
        cached
            .clone()
            .ok_or_else(|| "no AWS credentials".to_owned())
    }

    /// A new token, valid for [`TOKEN_LIFETIME`].
    pub fn token(&self) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        let region = self.region()?;
        let credentials = self.current_credentials()?;
        let now = SystemTime::now();
        let token = presigned_token(&region, &credentials, now)?;
        let expiry = now + TOKEN_LIFETIME;
        let lifetime_ms = expiry
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(|error| error.to_string())?
            .as_millis();
        Ok(OAuthToken {
            token,
            principal_name: credentials.access_key_id().to_owned(),
            lifetime_ms: i64::try_from(lifetime_ms).map_err(|error| error.to_string())?,
        })
    }
}

/// Loads credentials from the standard chain on a private single-threaded runtime: this runs
/// on librdkafka's thread, never on the async runtime's.
fn load_credentials() -> Result<Credentials, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start a runtime for AWS credentials: {error}"))?;
    runtime.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let provider = config
            .credentials_provider()
            .ok_or_else(|| "no AWS credentials provider is configured".to_owned())?;
        tokio::time::timeout(Duration::from_secs(30), provider.provide_credentials())
            .await
            .map_err(|_| "loading AWS credentials timed out after 30s".to_owned())?
            .map_err(|error| format!("cannot load AWS credentials: {error}"))
    })
}

/// The token: the presigned URL of `kafka-cluster:Connect`, base64url without padding.
pub fn presigned_token(
    region: &str,
    credentials: &Credentials,
    time: SystemTime,
) -> Result<String, String> {
    let host = format!("kafka.{region}.amazonaws.com");
    let url = format!("https://{host}/?Action=kafka-cluster%3AConnect");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("kafka-cluster")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|error| format!("cannot sign the MSK IAM token: {error}"))?
        .into();
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        std::iter::once(("host", host.as_str())),
        SignableBody::Bytes(&[]),
    )
    .map_err(|error| format!("cannot sign the MSK IAM token: {error}"))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|error| format!("cannot sign the MSK IAM token: {error}"))?
        .into_parts();
    let mut signed = url;
    for (name, value) in instructions.params() {
        signed.push('&');
        signed.push_str(name);
        signed.push('=');
        signed.push_str(&percent_encode(value));
    }
    signed.push_str("&User-Agent=");
    signed.push_str(&percent_encode(&format!(
        "cutover/{}",
        env!("CARGO_PKG_VERSION")
    )));
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signed))
}

/// RFC 3986 unreserved characters stay, everything else is %XX.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(token: &str) -> String {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .expect("base64url without padding");
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn token_is_a_presigned_connect_url() {
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            Some("session".into()),
            None,
            "test",
        );
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let token = presigned_token("us-west-2", &credentials, time).unwrap();
        assert!(!token.contains('=') && !token.contains('+') && !token.contains('/'));
        let url = decode(&token);
        assert!(
            url.starts_with(
                "https://kafka.us-west-2.amazonaws.com/?Action=kafka-cluster%3AConnect&"
            ),
            "{url}"
        );
        for expected in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Fus-west-2%2Fkafka-cluster%2Faws4_request",
            "X-Amz-Date=20231114T221320Z",
            "X-Amz-Expires=900",
            "X-Amz-SignedHeaders=host",
            "X-Amz-Security-Token=session",
            "X-Amz-Signature=",
            "User-Agent=cutover%2F",
        ] {
            assert!(url.contains(expected), "{url} lacks {expected}");
        }
        assert!(!url.contains("secret"));
        // Deterministic: the same inputs sign the same; another key signs differently.
        assert_eq!(
            token,
            presigned_token("us-west-2", &credentials, time).unwrap()
        );
        let other = Credentials::new("AKIDEXAMPLE", "other", Some("session".into()), None, "test");
        assert_ne!(token, presigned_token("us-west-2", &other, time).unwrap());
    }

    #[test]
    fn tokens_from_fixed_credentials_carry_lifetime_and_principal() {
        let source = IamTokenSource::with_credentials(
            "eu-west-1",
            Credentials::new("AKID2", "secret", None, None, "test"),
        );
        let token = source.token().unwrap();
        assert_eq!(token.principal_name, "AKID2");
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let remaining = token.lifetime_ms - now_ms;
        assert!((800_000..=900_000).contains(&remaining), "{remaining}");
        assert!(decode(&token.token).contains("kafka.eu-west-1.amazonaws.com"));
    }
}
