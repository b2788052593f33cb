//! Fail fast (issue 20): while PostgreSQL is unreachable, every request is answered 503
//! (within about the one-second pool acquire timeout: the elapsed time is printed, not
//! asserted), nothing of a failed batch is written, and once the database is back the
//! same reports are stored exactly once. The outage is a TCP proxy between the collector
//! and PostgreSQL that the test cuts and restores.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::common::{client, get_json, post, report, Backend, Server, TestDb};

struct Proxy {
    addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (c, cs) = (cut.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    drop(down); // unreachable: the connection closes at once
                    continue;
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut up) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
                cs.lock().unwrap().push(task.abort_handle());
            }
        });
        Proxy { addr, cut, conns }
    }

    /// Cuts every open connection and refuses new ones until [`Proxy::restore`].
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_answered_503_and_loses_nothing() {
    let db = TestDb::new(Backend::Postgres).await;
    // postgres://user@HOST:PORT/db → the same through the proxy.
    let at = db.url.find('@').unwrap() + 1;
    let slash = at + db.url[at..].find('/').unwrap();
    let proxy = Proxy::start(db.url[at..slash].to_string()).await;
    let url = format!("{}{}{}", &db.url[..at], proxy.addr, &db.url[slash..]);
    let s = Server::start_url(&url, &["--k", "1"]);
    let c = client();

    let first = report(1, "1.0.0", 2, 0, 0, vec![], 2);
    assert_eq!(post(&c, &s, &first).await.0, 202);

    proxy.cut();
    let during: Vec<_> = (2..8)
        .map(|d| report(d, "1.0.0", 1, 1, 0, vec![], 1))
        .collect();
    let started = std::time::Instant::now();
    let mut answers = Vec::new();
    for r in &during {
        answers.push(post(&c, &s, r).await);
    }
    for (status, body) in &answers {
        assert_eq!(*status, 503, "{body}");
        assert_eq!(body["error"], "storage_unavailable", "{body}");
    }
    println!(
        "outage: {} reports answered 503 in {:?}",
        answers.len(),
        started.elapsed()
    );
    let started = std::time::Instant::now();
    assert_eq!(get_json(&c, &s, "/v1/versions").await.0, 503);
    assert_eq!(get_json(&c, &s, "/healthz").await.0, 503);
    println!("outage: reads answered 503 in {:?}", started.elapsed());

    proxy.restore();
    for r in &during {
        // Nothing of the failed batches was written: the retry is a first store.
        let (status, body) = post(&c, &s, r).await;
        assert_eq!(status, 202, "{body}");
    }
    assert_eq!(db.store().await.report_count().await.unwrap(), 7);
    let (status, v) = get_json(&c, &s, "/v1/versions/1.0.0").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["sessions"], 2 + 2 * 6);
}
