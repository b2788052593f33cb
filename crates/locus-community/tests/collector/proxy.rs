//! `--trusted-proxy` and read limits (issue 20): reads are rate-limited per client like
//! ingest; behind a trusted proxy each forwarded client has its own bucket, while
//! `X-Forwarded-For` from anyone else is ignored (no escaping the limit by forging it).

use std::net::IpAddr;

use crate::common::{client_from, Backend, Server, TestDb};

async fn get_as(c: &reqwest::Client, s: &Server, forwarded: &str) -> u16 {
    c.get(s.url("/v1/versions"))
        .header("x-forwarded-for", forwarded)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn forwarded_clients_get_their_own_limits(b: Backend) {
    let db = TestDb::new(b).await;
    let s = Server::start(
        &db,
        &[
            "--rate-limit-per-client",
            "2",
            "--trusted-proxy",
            "127.0.9.0/24",
        ],
    );
    let proxy = client_from(IpAddr::from([127, 0, 9, 1]));
    let stranger = client_from(IpAddr::from([127, 0, 8, 1]));

    // Through the proxy: two reads per forwarded client, then 429; another client is fresh.
    assert_eq!(get_as(&proxy, &s, "198.51.100.1").await, 200);
    assert_eq!(get_as(&proxy, &s, "198.51.100.1").await, 200);
    assert_eq!(get_as(&proxy, &s, "198.51.100.1").await, 429);
    assert_eq!(get_as(&proxy, &s, "198.51.100.2").await, 200);
    // A forged leftmost entry changes nothing: the proxy appended the real address.
    assert_eq!(get_as(&proxy, &s, "10.9.9.9, 198.51.100.1").await, 429);

    // Not a trusted proxy: the header is ignored, the peer is the client.
    assert_eq!(get_as(&stranger, &s, "203.0.113.1").await, 200);
    assert_eq!(get_as(&stranger, &s, "203.0.113.2").await, 200);
    assert_eq!(get_as(&stranger, &s, "203.0.113.3").await, 429);
}

both_backends!(forwarded_clients_get_their_own_limits);
