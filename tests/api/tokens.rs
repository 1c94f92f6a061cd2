//! Every bad token is refused the same way: over HTTP with 401, `UNAUTHENTICATED` and one
//! message that says nothing of which check failed, and in a WebSocket `connection_init` by
//! closing the socket with 4403. `alg: none` in any casing, a wrong secret, RS256/HS256 key
//! confusion, stripped, tampered and borrowed signatures, expiry, `nbf`, missing or wrong
//! `exp`/`iss`/`aud`/`sub`/`role`, unknown roles and scopes, and malformed headers.
//!
//! Each test prints how many tokens it tried and how many were refused.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPublicKey as _;
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use serde_json::{Value, json};

use crate::auth::{agent_claims, now};
use crate::harness::{TestApp, expect_data, pretty};
use crate::ws::WsClient;

/// A query that needs a token: anonymous callers are refused, agents read it.
const CUSTOMERS: &str = "{ customers(first: 1) { totalCount } }";

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims
        .as_object_mut()
        .expect("claims are an object")
        .remove(key);
    claims
}

fn hmac(algorithm: Algorithm, secret: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("sign a token")
}

fn hs256(secret: &str, claims: &Value) -> String {
    hmac(Algorithm::HS256, secret.as_bytes(), claims)
}

fn rsa_signed(algorithm: Algorithm, key: &RsaKeys, claims: &Value) -> String {
    let encoding = EncodingKey::from_rsa_pem(key.private_pem.as_bytes()).expect("an RSA key");
    jsonwebtoken::encode(&Header::new(algorithm), claims, &encoding).expect("sign a token")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The three dot-separated parts of a compact JWT.
fn parts(token: &str) -> (String, String, String) {
    let mut it = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        panic!("not a compact JWT: {token}");
    };
    (h.to_string(), p.to_string(), s.to_string())
}

/// The token with its payload replaced by `claims`, keeping header and signature.
fn with_payload(token: &str, claims: &Value) -> String {
    let (h, _, s) = parts(token);
    format!("{h}.{}.{s}", b64(claims.to_string().as_bytes()))
}

/// The token's claims.
fn payload_of(token: &str) -> Value {
    let (_, p, _) = parts(token);
    let bytes = URL_SAFE_NO_PAD.decode(p).expect("a base64url payload");
    serde_json::from_slice(&bytes).expect("a JSON payload")
}

/// One character in the middle of the signature changed (a middle one: the last character of
/// base64url may carry unused bits).
fn flip_signature(token: &str) -> String {
    let (h, p, s) = parts(token);
    let mut chars: Vec<char> = s.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    format!("{h}.{p}.{}", chars.into_iter().collect::<String>())
}

/// `alg: none` tokens for `claims` with the header's `alg` spelled `alg`: with an empty
/// signature, with no signature part, and keeping the signature of `signed`.
fn alg_none(alg: &str, claims: &Value, signed: &str) -> Vec<(String, String)> {
    let header = b64(json!({ "alg": alg, "typ": "JWT" }).to_string().as_bytes());
    let payload = b64(claims.to_string().as_bytes());
    let (_, _, signature) = parts(signed);
    vec![
        (
            format!("alg {alg:?}, empty signature"),
            format!("{header}.{payload}."),
        ),
        (
            format!("alg {alg:?}, no signature part"),
            format!("{header}.{payload}"),
        ),
        (
            format!("alg {alg:?}, a valid token's signature kept"),
            format!("{header}.{payload}.{signature}"),
        ),
    ]
}

// ---------------------------------------------------------------------- RSA keys

/// A freshly generated RSA key pair, as PEM.
struct RsaKeys {
    private_pem: String,
    /// SubjectPublicKeyInfo ("BEGIN PUBLIC KEY"): what the server is configured with.
    public_pem: String,
    /// The same public key as PKCS#1 ("BEGIN RSA PUBLIC KEY").
    public_pkcs1_pem: String,
}

/// The operating system's randomness, for `rsa`'s key generation.
struct SystemRandom;

impl rsa::rand_core::RngCore for SystemRandom {
    fn next_u32(&mut self) -> u32 {
        rand::random()
    }

    fn next_u64(&mut self) -> u64 {
        rand::random()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand::fill(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for SystemRandom {}

fn generate_rsa() -> RsaKeys {
    let key = RsaPrivateKey::new(&mut SystemRandom, 2048).expect("generate an RSA key");
    let public = key.to_public_key();
    RsaKeys {
        private_pem: key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("encode the private key")
            .to_string(),
        public_pem: public
            .to_public_key_pem(LineEnding::LF)
            .expect("encode the public key"),
        public_pkcs1_pem: public
            .to_pkcs1_pem(LineEnding::LF)
            .expect("encode the public key as PKCS#1"),
    }
}

/// Two key pairs per test process (the server's and a stranger's), generated once: key
/// generation is slow in a debug build.
fn rsa_keys() -> &'static (RsaKeys, RsaKeys) {
    static KEYS: std::sync::OnceLock<(RsaKeys, RsaKeys)> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let server = std::thread::spawn(generate_rsa);
        let stranger = generate_rsa();
        (server.join().expect("generate the server's key"), stranger)
    })
}

/// A server that verifies RS256 tokens against `keys`' public key.
async fn spawn_rs256(keys: &RsaKeys) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::TempDir::new().expect("a directory for the public key");
    let path = dir.path().join("jwt-public.pem");
    std::fs::write(&path, &keys.public_pem).expect("write the public key");
    let app = TestApp::spawn_with(move |config| config.jwt_public_key = Some(path)).await;
    (app, dir)
}

// ---------------------------------------------------------------------- the checks

/// How the server answered one bad token, over HTTP and over a WebSocket.
struct Refusal {
    http_body: Value,
    ws_reason: String,
}

/// POST /graphql with exactly this Authorization header value.
async fn post_with_authorization(app: &TestApp, authorization: &str) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header(reqwest::header::AUTHORIZATION, authorization)
        .json(&json!({ "query": CUSTOMERS }))
        .send()
        .await
        .expect("POST /graphql");
    let status = response.status().as_u16();
    let text = response.text().await.expect("read the body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| {
        panic!("POST /graphql answered {status} with a body that is not JSON:\n{text}")
    });
    (status, body)
}

/// A WebSocket whose `connection_init` carries this `authorization` value; returns the close
/// frame and whatever came before it.
async fn init_with_authorization(
    app: &TestApp,
    authorization: &str,
) -> ((u16, String), Vec<Value>) {
    let mut ws = WsClient::connect_raw(app).await;
    ws.send_json(json!({
        "type": "connection_init",
        "payload": { "authorization": authorization },
    }))
    .await;
    let closed = ws.expect_close(Duration::from_secs(5)).await;
    let mut before = Vec::new();
    while let Some(message) = ws.next_message(Duration::ZERO).await {
        before.push(message);
    }
    (closed, before)
}

/// Sends `authorization` over HTTP and WebSocket and asserts both refuse it as a bad token.
async fn assert_refused(app: &TestApp, case: &str, authorization: &str) -> Refusal {
    let (status, body) = post_with_authorization(app, authorization).await;
    assert_eq!(status, 401, "{case}: HTTP status\n{}", pretty(&body));
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 1, "{case}: one error\n{}", pretty(&body));
    assert_eq!(
        errors[0]["extensions"]["code"],
        "UNAUTHENTICATED",
        "{case}: errors[0].extensions.code\n{}",
        pretty(&body)
    );
    assert!(body["data"].is_null(), "{case}: no data\n{}", pretty(&body));

    let ((code, reason), before) = init_with_authorization(app, authorization).await;
    assert_eq!(
        code, 4403,
        "{case}: connection_init closes the socket with 4403, closed with {code} {reason:?}"
    );
    assert!(
        before.iter().all(|m| m["type"] != "connection_ack"),
        "{case}: no connection_ack before the close: {before:?}"
    );
    Refusal {
        http_body: body,
        ws_reason: reason,
    }
}

/// Tries every case over HTTP and WebSocket; all are refused with the same body and the same
/// close reason. Returns how many tokens were tried and refused.
async fn assert_all_refused_alike(app: &TestApp, cases: &[(String, String)]) -> (usize, usize) {
    let mut refusals: Vec<(String, Refusal)> = Vec::new();
    for (case, authorization) in cases {
        let refusal = assert_refused(app, case, authorization).await;
        refusals.push((case.clone(), refusal));
    }
    let (first_case, first) = &refusals[0];
    for (case, refusal) in &refusals {
        assert_eq!(
            refusal.http_body, first.http_body,
            "{case} is refused with another body than {first_case}: a refusal must not tell which check failed"
        );
        assert_eq!(
            refusal.ws_reason, first.ws_reason,
            "{case} closes the socket with another reason than {first_case}"
        );
    }
    let message = first.http_body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    for hint in [
        "expired",
        "signature",
        "algorithm",
        "audience",
        "issuer",
        "role",
        "claim",
        "nbf",
    ] {
        assert!(
            !message.contains(hint),
            "the generic message says which check failed ({hint}): {message:?}"
        );
    }
    // Each case was tried twice: over HTTP and in connection_init.
    (cases.len() * 2, refusals.len() * 2)
}

/// The control: `token` is accepted over HTTP and in connection_init.
async fn assert_accepted(app: &TestApp, what: &str, token: &str) {
    let (status, body) = post_with_authorization(app, &format!("Bearer {token}")).await;
    assert_eq!(
        status,
        200,
        "{what} is accepted over HTTP:\n{}",
        pretty(&body)
    );
    assert!(
        expect_data(&body)["customers"]["totalCount"].is_number(),
        "{what}: {}",
        pretty(&body)
    );
    WsClient::connect(app, Some(token)).await.close().await;
}

fn bearer(cases: Vec<(String, String)>) -> Vec<(String, String)> {
    cases
        .into_iter()
        .map(|(case, token)| (case, format!("Bearer {token}")))
        .collect()
}

// ---------------------------------------------------------------------- HS256 (the default)

#[tokio::test]
async fn every_bad_token_is_refused_alike_by_an_hs256_server() {
    let app = TestApp::spawn().await;
    let secret = app.jwt_secret.clone();
    let (_, stranger_rsa) = rsa_keys();
    let customer = app
        .create_customer(json!({ "email": "token-owner@example.test" }))
        .await;
    let customer_id = customer["id"].as_str().expect("a customer id").to_string();

    // Controls: the same claims, correctly signed, are accepted; so is a customer's token.
    let valid = hs256(&secret, &agent_claims());
    assert_accepted(&app, "a handmade agent token", &valid).await;
    let customer_claims = with(
        with(agent_claims(), "role", json!("customer")),
        "sub",
        json!(customer_id),
    );
    let customer_token = hs256(&secret, &customer_claims);
    let me = app
        .gql(Some(&customer_token), "{ me { id } }", json!({}))
        .await;
    assert_eq!(expect_data(&me)["me"]["id"], json!(customer_id));

    let mut tokens: Vec<(String, String)> = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE"] {
        tokens.extend(alg_none(alg, &agent_claims(), &valid));
        tokens.extend(alg_none(
            alg,
            &with(agent_claims(), "role", json!("admin")),
            &valid,
        ));
    }
    let t = |case: &str, token: String| (case.to_string(), token);
    tokens.extend([
        t(
            "HS256 with another secret",
            hs256("not-the-secret", &agent_claims()),
        ),
        t("HS256 with an empty secret", hs256("", &agent_claims())),
        t(
            "HS384 with the right secret",
            hmac(Algorithm::HS384, secret.as_bytes(), &agent_claims()),
        ),
        t(
            "HS512 with the right secret",
            hmac(Algorithm::HS512, secret.as_bytes(), &agent_claims()),
        ),
        t(
            "RS256 given to an HS256 server",
            rsa_signed(Algorithm::RS256, stranger_rsa, &agent_claims()),
        ),
        t("signature stripped, trailing dot", {
            let (h, p, _) = parts(&valid);
            format!("{h}.{p}.")
        }),
        t("signature stripped, no dot", {
            let (h, p, _) = parts(&valid);
            format!("{h}.{p}")
        }),
        t(
            "one character of the signature flipped",
            flip_signature(&valid),
        ),
        t(
            "role changed customer → admin, signature kept",
            with_payload(
                &customer_token,
                &with(payload_of(&customer_token), "role", json!("admin")),
            ),
        ),
        t(
            "role changed agent → admin, signature kept",
            with_payload(&valid, &with(payload_of(&valid), "role", json!("admin"))),
        ),
        t(
            "sub changed, signature kept",
            with_payload(&valid, &with(payload_of(&valid), "sub", json!("agent-2"))),
        ),
        t(
            "exp extended, signature kept",
            with_payload(
                &valid,
                &with(payload_of(&valid), "exp", json!(now() + 86_400 * 365)),
            ),
        ),
        t("another valid token's signature", {
            let other = hs256(&secret, &with(agent_claims(), "sub", json!("agent-2")));
            let (h, p, _) = parts(&valid);
            let (_, _, s) = parts(&other);
            format!("{h}.{p}.{s}")
        }),
        t(
            "expired an hour ago",
            hs256(
                &secret,
                &with(
                    with(agent_claims(), "iat", json!(now() - 7200)),
                    "exp",
                    json!(now() - 3600),
                ),
            ),
        ),
        t(
            "expired 6 s ago (beyond the 5 s leeway)",
            hs256(&secret, &with(agent_claims(), "exp", json!(now() - 6))),
        ),
        t("no exp", hs256(&secret, &without(agent_claims(), "exp"))),
        t(
            "exp as a string",
            hs256(
                &secret,
                &with(agent_claims(), "exp", json!((now() + 3600).to_string())),
            ),
        ),
        t(
            "wrong aud",
            hs256(&secret, &with(agent_claims(), "aud", json!("another-api"))),
        ),
        t("no aud", hs256(&secret, &without(agent_claims(), "aud"))),
        t(
            "wrong iss",
            hs256(&secret, &with(agent_claims(), "iss", json!("someone-else"))),
        ),
        t("no iss", hs256(&secret, &without(agent_claims(), "iss"))),
        t(
            "nbf ten minutes ahead",
            hs256(&secret, &with(agent_claims(), "nbf", json!(now() + 600))),
        ),
        t("no sub", hs256(&secret, &without(agent_claims(), "sub"))),
        t(
            "an empty sub",
            hs256(&secret, &with(agent_claims(), "sub", json!("  "))),
        ),
        t("no role", hs256(&secret, &without(agent_claims(), "role"))),
        t(
            "an unknown role",
            hs256(&secret, &with(agent_claims(), "role", json!("superuser"))),
        ),
        t(
            "a role in capitals",
            hs256(&secret, &with(agent_claims(), "role", json!("ADMIN"))),
        ),
        t(
            "an empty role",
            hs256(&secret, &with(agent_claims(), "role", json!(""))),
        ),
        t(
            "a customer token whose sub is no customer id",
            hs256(
                &secret,
                &with(customer_claims.clone(), "sub", json!("customer-42")),
            ),
        ),
        t(
            "a service token with an unknown scope",
            hs256(
                &secret,
                &with(
                    with(agent_claims(), "role", json!("service")),
                    "scope",
                    json!("stock everything"),
                ),
            ),
        ),
        t("garbage", "not-a-jwt".to_string()),
        t("four parts", format!("{valid}.{}", b64(b"x"))),
        t("a header that is not JSON", {
            let (_, p, s) = parts(&valid);
            format!("{}.{p}.{s}", b64(b"not json"))
        }),
        t("a payload that is not JSON", {
            let (h, _, s) = parts(&valid);
            format!("{h}.{}.{s}", b64(b"not json"))
        }),
        t("three empty parts", "..".to_string()),
    ]);
    let mut cases = bearer(tokens);
    cases.extend([
        ("an empty header".to_string(), String::new()),
        (
            "\"Bearer\" without a token".to_string(),
            "Bearer".to_string(),
        ),
        (
            "\"Bearer \" and spaces".to_string(),
            "Bearer    ".to_string(),
        ),
        ("the token without \"Bearer\"".to_string(), valid.clone()),
        (
            "Basic credentials".to_string(),
            format!("Basic {}", b64(b"agent:password")),
        ),
        ("two schemes".to_string(), format!("Bearer Bearer {valid}")),
    ]);

    let (tried, refused) = assert_all_refused_alike(&app, &cases).await;
    eprintln!(
        "tokens (HS256 server): {tried} tried, {refused} refused ({} bad tokens, each over HTTP and in connection_init)",
        cases.len()
    );
    assert_eq!(tried, refused);
    // Still fine after all that: the valid token works.
    assert_accepted(&app, "the handmade agent token, afterwards", &valid).await;
}

// ---------------------------------------------------------------------- RS256 (a public key)

#[tokio::test]
async fn every_bad_token_is_refused_alike_by_an_rs256_server() {
    let (server_rsa, stranger_rsa) = rsa_keys();
    let (app, _key_dir) = spawn_rs256(server_rsa).await;

    // The control: RS256 signed with the server's private key is accepted.
    let valid = rsa_signed(Algorithm::RS256, server_rsa, &agent_claims());
    assert_accepted(&app, "an RS256 agent token", &valid).await;

    let mut tokens: Vec<(String, String)> = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE"] {
        tokens.extend(alg_none(alg, &agent_claims(), &valid));
    }
    let t = |case: &str, token: String| (case.to_string(), token);
    tokens.extend([
        // Key confusion: the public key (which anyone may have) used as an HMAC secret.
        t(
            "HS256 with the server's public key PEM as the secret",
            hmac(
                Algorithm::HS256,
                server_rsa.public_pem.as_bytes(),
                &agent_claims(),
            ),
        ),
        t(
            "HS256 with the public key PEM, without its final newline",
            hmac(
                Algorithm::HS256,
                server_rsa.public_pem.trim_end().as_bytes(),
                &agent_claims(),
            ),
        ),
        t(
            "HS256 with the public key as PKCS#1 PEM",
            hmac(
                Algorithm::HS256,
                server_rsa.public_pkcs1_pem.as_bytes(),
                &agent_claims(),
            ),
        ),
        t(
            "HS384 with the public key PEM",
            hmac(
                Algorithm::HS384,
                server_rsa.public_pem.as_bytes(),
                &agent_claims(),
            ),
        ),
        t(
            "HS256 with the default HMAC secret",
            hs256(&app.jwt_secret, &agent_claims()),
        ),
        t(
            "RS256 with another key",
            rsa_signed(Algorithm::RS256, stranger_rsa, &agent_claims()),
        ),
        t(
            "RS512 with the server's key",
            rsa_signed(Algorithm::RS512, server_rsa, &agent_claims()),
        ),
        t(
            "PS256 with the server's key",
            rsa_signed(Algorithm::PS256, server_rsa, &agent_claims()),
        ),
        t("signature stripped, trailing dot", {
            let (h, p, _) = parts(&valid);
            format!("{h}.{p}.")
        }),
        t("signature stripped, no dot", {
            let (h, p, _) = parts(&valid);
            format!("{h}.{p}")
        }),
        t(
            "one character of the signature flipped",
            flip_signature(&valid),
        ),
        t(
            "role changed agent → admin, signature kept",
            with_payload(&valid, &with(payload_of(&valid), "role", json!("admin"))),
        ),
        t(
            "expired 6 s ago (beyond the 5 s leeway)",
            rsa_signed(
                Algorithm::RS256,
                server_rsa,
                &with(agent_claims(), "exp", json!(now() - 6)),
            ),
        ),
        t(
            "no exp",
            rsa_signed(
                Algorithm::RS256,
                server_rsa,
                &without(agent_claims(), "exp"),
            ),
        ),
        t(
            "wrong aud",
            rsa_signed(
                Algorithm::RS256,
                server_rsa,
                &with(agent_claims(), "aud", json!("another-api")),
            ),
        ),
        t(
            "no aud",
            rsa_signed(
                Algorithm::RS256,
                server_rsa,
                &without(agent_claims(), "aud"),
            ),
        ),
        t(
            "wrong iss",
            rsa_signed(
                Algorithm::RS256,
                server_rsa,
                &with(agent_claims(), "iss", json!("someone-else")),
            ),
        ),
        t(
            "no iss",
            rsa_signed(
                Algorithm::RS256,
                server_rsa,
                &without(agent_claims(), "iss"),
            ),
        ),
        t(
            "nbf ten minutes ahead",
            rsa_signed(
                Algorithm::RS256,
                server_rsa,
                &with(agent_claims(), "nbf", json!(now() + 600)),
            ),
        ),
        t(
            "an unknown role",
            rsa_signed(
                Algorithm::RS256,
                server_rsa,
                &with(agent_claims(), "role", json!("root")),
            ),
        ),
        t("garbage", "not-a-jwt".to_string()),
    ]);
    let mut cases = bearer(tokens);
    cases.push((
        "\"Bearer\" without a token".to_string(),
        "Bearer".to_string(),
    ));

    let (tried, refused) = assert_all_refused_alike(&app, &cases).await;
    eprintln!(
        "tokens (RS256 server): {tried} tried, {refused} refused ({} bad tokens, each over HTTP and in connection_init)",
        cases.len()
    );
    assert_eq!(tried, refused);
}

#[tokio::test]
async fn an_hs256_and_an_rs256_server_refuse_with_the_same_body() {
    // Which kind of key a deployment uses is not given away by its refusals either.
    let (server_rsa, _) = rsa_keys();
    let hs = TestApp::spawn().await;
    let (rs, _key_dir) = spawn_rs256(server_rsa).await;
    let (hs_status, hs_body) = post_with_authorization(&hs, "Bearer not-a-jwt").await;
    let (rs_status, rs_body) = post_with_authorization(&rs, "Bearer not-a-jwt").await;
    assert_eq!((hs_status, rs_status), (401, 401));
    assert_eq!(hs_body, rs_body);
    eprintln!("tokens (HS256 vs RS256 body): 2 tried, 2 refused");
}

// ---------------------------------------------------------------------- WebSocket payloads

#[tokio::test]
async fn a_connection_init_with_a_malformed_authorization_closes_with_4403() {
    let app = TestApp::spawn().await;
    let valid = hs256(&app.jwt_secret, &agent_claims());
    // Not a string, or a string without the scheme: each is a bad token, not an anonymous caller.
    let payloads = [
        json!({ "authorization": null }),
        json!({ "authorization": 42 }),
        json!({ "authorization": { "Bearer": valid } }),
        json!({ "authorization": [format!("Bearer {valid}")] }),
        json!({ "authorization": valid }),
        json!({ "Authorization": "Bearer not-a-jwt" }),
    ];
    let mut reasons = Vec::new();
    for payload in &payloads {
        let mut ws = WsClient::connect_raw(&app).await;
        ws.send_json(json!({ "type": "connection_init", "payload": payload }))
            .await;
        let (code, reason) = ws.expect_close(Duration::from_secs(5)).await;
        assert_eq!(code, 4403, "{payload}: closed with {code} {reason:?}");
        reasons.push(reason);
    }
    assert!(
        reasons.windows(2).all(|w| w[0] == w[1]),
        "one close reason for every refusal: {reasons:?}"
    );
    eprintln!(
        "tokens (connection_init payloads): {} tried, {} refused",
        payloads.len(),
        reasons.len()
    );
}
