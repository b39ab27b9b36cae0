//! A stand-alone token issuer for load tests of generated services (`scripts/bench-service.sh`): the runtime's in-process `TestAuthority` served over HTTP (discovery and JWKS); prints its issuer, then access tokens for the given audience, tenant and roles, one per line, then serves until killed.

use palisade_runtime::testing::TestAuthority;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: test_issuer <audience> <tenant> <tokens> <role>...";
    let audience = args.next().expect(usage);
    let tenant = args.next().expect(usage);
    let count: usize = args.next().and_then(|n| n.parse().ok()).expect(usage);
    let roles: Vec<String> = args.collect();
    let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("address"));
    let authority = TestAuthority::new(&issuer, &audience);
    let mut lines = vec![issuer.clone()];
    for n in 0..count {
        let subject = format!("bench-{n}");
        let token = authority.token(&tenant, &subject).roles(&roles);
        lines.push(token.expires_in(3600).sign());
    }
    // The example's one output: what the benchmark script reads.
    #[allow(clippy::print_stdout)]
    {
        println!("{}", lines.join("\n"));
    }
    axum::serve(listener, authority.router())
        .await
        .expect("serve");
}
