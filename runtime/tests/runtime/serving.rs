//! `palisade_runtime::serve` over real sockets: a client that stalls the TLS handshake or its headers is dropped, a slow handler gets 408, the connection limit holds, handlers see the peer address, and a shutdown lets an in-flight request finish.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use palisade_runtime::secrets::Secret;
use palisade_runtime::serve::{PeerAddress, ServeConfig, serve, tls_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn app() -> Router {
    Router::new()
        .route(
            "/peer",
            get(|peer: PeerAddress| async move { peer.0.ip().to_string() }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(600)).await;
                "done"
            }),
        )
}

fn quick() -> ServeConfig {
    ServeConfig {
        handshake_timeout: Duration::from_millis(300),
        header_read_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(5),
        unready_grace: Duration::from_millis(50),
        ..ServeConfig::default()
    }
}

/// Starts `serve`; the address, and a sender that shuts it down, and its task.
async fn start(
    config: ServeConfig,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, app(), config, async {
        let _ = stopped.await;
    }));
    (address, stop, task)
}

/// Reads until the server closes the connection; how long that took.
async fn closed_within(mut stream: TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn stalled_clients_are_dropped_and_slow_handlers_time_out() {
    // A TLS client that never sends its hello.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let tls = tls_config(&Secret::new(cert.pem()), &Secret::new(key.serialize_pem())).unwrap();
    let (address, _stop, _task) = start(ServeConfig {
        tls: Some(Arc::new(tls)),
        ..quick()
    })
    .await;
    let stalled = TcpStream::connect(&address).await.unwrap();
    assert!(
        closed_within(stalled, Duration::from_secs(5)).await,
        "the handshake timeout drops a silent TLS client"
    );

    // A plain HTTP client that never finishes its headers.
    let (address, _stop, _task) = start(quick()).await;
    let mut partial = TcpStream::connect(&address).await.unwrap();
    partial
        .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(partial, Duration::from_secs(5)).await,
        "the header read timeout drops a client that stalls its headers"
    );

    // A handler slower than the request timeout.
    let (address, _stop, _task) = start(ServeConfig {
        request_timeout: Duration::from_millis(100),
        ..quick()
    })
    .await;
    let status = reqwest::get(format!("http://{address}/slow"))
        .await
        .unwrap()
        .status();
    assert_eq!(status, reqwest::StatusCode::REQUEST_TIMEOUT);

    // Bad TLS material is refused by name.
    let error = tls_config(&Secret::new("not pem"), &Secret::new(key.serialize_pem())).unwrap_err();
    assert!(error.to_string().contains("certificate"), "{error}");
}

#[tokio::test]
async fn the_connection_limit_holds_and_handlers_see_the_peer() {
    let (address, _stop, _task) = start(ServeConfig {
        max_connections: 1,
        header_read_timeout: Duration::from_secs(30),
        ..quick()
    })
    .await;
    let url = format!("http://{address}/peer");
    let client = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap()
    };
    assert_eq!(
        client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "127.0.0.1"
    );
    // One idle connection takes the only slot: another client is not served meanwhile.
    let holder = TcpStream::connect(&address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        client().get(&url).send().await.is_err(),
        "served past the limit"
    );
    drop(holder);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        client().get(&url).send().await.is_ok(),
        "served once the slot is free"
    );
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish() {
    let (address, stop, task) = start(quick()).await;
    let request = tokio::spawn(reqwest::get(format!("http://{address}/slow")));
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.send(()).unwrap();
    let response = request.await.unwrap().unwrap();
    assert_eq!(response.text().await.unwrap(), "done");
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("serve returns after draining")
        .unwrap();
    assert!(
        TcpStream::connect(&address).await.is_err(),
        "no longer listening"
    );
}
