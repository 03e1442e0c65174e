//! The RabbitMQ bus against a real broker (`METACLOUD_TEST_AMQP_URL`, by default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`). Each test works in a namespace of its own and
//! deletes its queues and exchanges at the end. Without a reachable broker the tests say so and
//! pass, unless `METACLOUD_TEST_AMQP_REQUIRED` is set.

use async_trait::async_trait;
use metacloud_queue::amqp::AmqpBus;
use metacloud_queue::{Bus, Handler, Message, QueueError};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const WAIT: Duration = Duration::from_secs(10);

fn url() -> String {
    std::env::var("METACLOUD_TEST_AMQP_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

fn namespace() -> String {
    format!("test-{}", uuid::Uuid::new_v4())
}

/// A bus on the test broker, or `None` (after saying why) when there is none.
async fn bus_at(url: &str, ns: &str, prefetch: u16) -> Option<AmqpBus> {
    match AmqpBus::connect(url, ns, prefetch, Duration::from_secs(1)).await {
        Ok(bus) => Some(bus),
        Err(e @ QueueError::Connect { .. })
            if std::env::var_os("METACLOUD_TEST_AMQP_REQUIRED").is_none() =>
        {
            eprintln!("SKIPPED: no RabbitMQ for the AMQP tests: {e}");
            None
        }
        Err(e) => panic!("cannot connect to the test broker: {e}"),
    }
}

async fn bus(ns: &str, prefetch: u16) -> Option<AmqpBus> {
    bus_at(&url(), ns, prefetch).await
}

/// Replies `echo:<body>` with the same request id.
struct Echo;

#[async_trait]
impl Handler for Echo {
    async fn handle(&self, msg: Message) -> Option<Message> {
        if msg.body == b"boom" {
            panic!("the handler blew up");
        }
        let mut body = b"echo:".to_vec();
        body.extend_from_slice(&msg.body);
        Some(Message::new(msg.request_id, body))
    }
}

/// Forwards every message (tagged with `id`) to the test, after `delay`.
struct Record {
    id: usize,
    delay: Duration,
    tx: mpsc::UnboundedSender<(usize, Message)>,
}

#[async_trait]
impl Handler for Record {
    async fn handle(&self, msg: Message) -> Option<Message> {
        tokio::time::sleep(self.delay).await;
        let _ = self.tx.send((self.id, msg));
        None
    }
}

fn recorder(id: usize, tx: &mpsc::UnboundedSender<(usize, Message)>) -> Arc<Record> {
    Arc::new(Record {
        id,
        delay: Duration::ZERO,
        tx: tx.clone(),
    })
}

/// Tells the test it got the message, then never finishes.
struct Hang(mpsc::UnboundedSender<Message>);

#[async_trait]
impl Handler for Hang {
    async fn handle(&self, msg: Message) -> Option<Message> {
        let _ = self.0.send(msg);
        std::future::pending::<Option<Message>>().await
    }
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no message in time")
        .expect("channel closed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_gets_reply_with_request_id() {
    let ns = namespace();
    let Some(bus) = bus(&ns, 4).await else { return };
    assert!(bus.describe().contains("guest:***@"), "{}", bus.describe());
    assert!(bus.describe().contains(&ns));
    let consumer = bus.serve("echo", Arc::new(Echo)).await.unwrap();
    let reply = bus
        .call(
            "echo",
            Message::new("req-abc", b"hi".to_vec()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(reply.body, b"echo:hi");
    assert_eq!(reply.request_id, "req-abc");
    assert_eq!(reply.version, metacloud_queue::ENVELOPE_VERSION);
    assert!(!reply.redelivered);
    consumer.stop();
    bus.delete_namespace_queues(&["echo"]).await.unwrap();
    bus.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_panic_does_not_kill_the_consumer() {
    let ns = namespace();
    let Some(bus) = bus(&ns, 4).await else { return };
    let consumer = bus.serve("echo", Arc::new(Echo)).await.unwrap();
    let boom = bus
        .call(
            "echo",
            Message::new("req-1", b"boom".to_vec()),
            Duration::from_secs(1),
        )
        .await;
    assert!(matches!(boom, Err(QueueError::Timeout { .. })), "{boom:?}");
    let reply = bus
        .call(
            "echo",
            Message::new("req-2", b"ok".to_vec()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(reply.body, b"echo:ok");
    consumer.stop();
    bus.delete_namespace_queues(&["echo"]).await.unwrap();
    bus.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cast_before_any_consumer_is_kept() {
    let ns = namespace();
    let Some(bus) = bus(&ns, 4).await else { return };
    bus.cast("later", Message::new("req-early", b"kept".to_vec()))
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let consumer = bus.serve("later", recorder(0, &tx)).await.unwrap();
    let (_, msg) = next(&mut rx).await;
    assert_eq!(msg.body, b"kept");
    assert_eq!(msg.request_id, "req-early");
    assert!(!msg.redelivered);
    consumer.stop();
    bus.delete_namespace_queues(&["later"]).await.unwrap();
    bus.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_without_consumer_times_out() {
    let ns = namespace();
    let Some(bus) = bus(&ns, 4).await else { return };
    let started = Instant::now();
    let err = bus
        .call(
            "nobody",
            Message::new("req-1", b"?".to_vec()),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, QueueError::Timeout { topic, seconds: 1 } if topic == "nobody"),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    bus.delete_namespace_queues(&["nobody"]).await.unwrap();
    bus.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_reaches_every_subscriber() {
    let ns = namespace();
    let Some(a) = bus(&ns, 4).await else { return };
    let Some(b) = bus(&ns, 4).await else { return };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sub_a = a.subscribe("events", recorder(1, &tx)).await.unwrap();
    let sub_b = b.subscribe("events", recorder(2, &tx)).await.unwrap();
    a.fanout("events", Message::new("req-f", b"news".to_vec()))
        .await
        .unwrap();
    let mut got = BTreeSet::new();
    for _ in 0..2 {
        let (id, msg) = next(&mut rx).await;
        assert_eq!(msg.body, b"news");
        assert_eq!(msg.request_id, "req-f");
        got.insert(id);
    }
    assert_eq!(got, BTreeSet::from([1, 2]));
    sub_a.stop();
    sub_b.stop();
    a.delete_namespace_exchanges(&["events"]).await.unwrap();
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn competing_consumers_share_a_topic() {
    const N: usize = 30;
    let ns = namespace();
    let Some(a) = bus(&ns, 1).await else { return };
    let Some(b) = bus(&ns, 1).await else { return };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let slow = |id| {
        Arc::new(Record {
            id,
            delay: Duration::from_millis(10),
            tx: tx.clone(),
        })
    };
    let ca = a.serve("work", slow(1)).await.unwrap();
    let cb = b.serve("work", slow(2)).await.unwrap();
    for i in 0..N {
        a.cast(
            "work",
            Message::new(format!("req-{i}"), i.to_string().into_bytes()),
        )
        .await
        .unwrap();
    }
    let mut bodies = Vec::new();
    let mut per_consumer = [0usize; 3];
    for _ in 0..N {
        let (id, msg) = next(&mut rx).await;
        per_consumer[id] += 1;
        bodies.push(String::from_utf8(msg.body).unwrap());
    }
    // Nothing more: each message was handled once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err(), "a message was handled twice");
    let unique: BTreeSet<_> = bodies.iter().cloned().collect();
    assert_eq!(unique.len(), N);
    assert_eq!(
        unique,
        (0..N).map(|i| i.to_string()).collect::<BTreeSet<_>>()
    );
    assert!(
        per_consumer[1] > 0 && per_consumer[2] > 0,
        "{per_consumer:?}"
    );
    ca.stop();
    cb.stop();
    a.delete_namespace_queues(&["work"]).await.unwrap();
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_of_a_dead_consumer_is_redelivered() {
    let ns = namespace();
    let Some(a) = bus(&ns, 4).await else { return };
    let (hang_tx, mut hang_rx) = mpsc::unbounded_channel();
    let _hanging = a.serve("job", Arc::new(Hang(hang_tx))).await.unwrap();
    a.cast("job", Message::new("req-job", b"work".to_vec()))
        .await
        .unwrap();
    let first = next(&mut hang_rx).await;
    assert!(!first.redelivered);
    // The process "dies": its connection goes away without acknowledging.
    a.close().await;

    let Some(b) = bus(&ns, 4).await else { return };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let consumer = b.serve("job", recorder(0, &tx)).await.unwrap();
    let (_, again) = next(&mut rx).await;
    assert_eq!(again.body, b"work");
    assert_eq!(again.request_id, "req-job");
    assert!(again.redelivered);
    consumer.stop();
    b.delete_namespace_queues(&["job"]).await.unwrap();
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_a_closed_port_fails_fast() {
    let url = "amqp://guest:secret@127.0.0.1:1/%2f";
    let started = Instant::now();
    let err = AmqpBus::connect(url, "x", 4, Duration::from_secs(1))
        .await
        .err()
        .expect("connected to a closed port");
    assert!(started.elapsed() < Duration::from_secs(5));
    match err {
        QueueError::Connect { url, reason } => {
            assert_eq!(url, "amqp://guest:***@127.0.0.1:1/%2f");
            assert!(!reason.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

/// A TCP proxy to the broker whose connections can be cut, to simulate a broker restart.
struct Proxy {
    port: u16,
    links: Arc<Mutex<Vec<AbortHandle>>>,
    refusing: Arc<Mutex<bool>>,
    accept: AbortHandle,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let refusing: Arc<Mutex<bool>> = Arc::default();
        let accept = {
            let links = links.clone();
            let refusing = refusing.clone();
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if *refusing.lock().unwrap() {
                        continue; // dropped: the broker is "down"
                    }
                    let upstream = upstream.clone();
                    let task = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    links.lock().unwrap().push(task.abort_handle());
                }
            })
            .abort_handle()
        };
        Proxy {
            port,
            links,
            refusing,
            accept,
        }
    }

    /// Cuts every connection and refuses new ones until [`Proxy::resume`].
    fn cut(&self) {
        *self.refusing.lock().unwrap() = true;
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn resume(&self) {
        *self.refusing.lock().unwrap() = false;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// `url` pointed at `port` on 127.0.0.1, and the `host:port` it pointed at.
fn via_port(url: &str, port: u16) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, rest) = rest.rsplit_once('@').map_or(("", rest), |(u, r)| (u, r));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let at = if userinfo.is_empty() { "" } else { "@" };
    (
        format!("{scheme}://{userinfo}{at}127.0.0.1:{port}/{path}"),
        authority.to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_and_restores_consumers_after_a_connection_loss() {
    let ns = namespace();
    // Check the broker first, so a missing one skips the test.
    let Some(admin) = bus(&ns, 4).await else {
        return;
    };
    let (_, upstream) = via_port(&url(), 0);
    let proxy = Proxy::start(upstream).await;
    let (proxied_url, _) = via_port(&url(), proxy.port);
    let bus = bus_at(&proxied_url, &ns, 4)
        .await
        .expect("connect via the proxy");

    let echo = bus.serve("echo", Arc::new(Echo)).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let events = bus.subscribe("events", recorder(7, &tx)).await.unwrap();
    let reply = bus
        .call("echo", Message::new("req-1", b"a".to_vec()), WAIT)
        .await
        .unwrap();
    assert_eq!(reply.body, b"echo:a");

    // The "broker" goes away for a while; a cast made meanwhile waits for it.
    proxy.cut();
    let cast = {
        let bus = Arc::new(bus);
        let sender = bus.clone();
        let cast = tokio::spawn(async move {
            sender
                .cast("echo", Message::new("req-2", b"during".to_vec()))
                .await
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!cast.is_finished(), "the cast did not wait for the broker");
        proxy.resume();
        (bus, cast)
    };
    let (bus, cast) = cast;
    tokio::time::timeout(WAIT, cast)
        .await
        .expect("the cast never finished")
        .unwrap()
        .unwrap();

    // The reply queue and the topic consumer are back.
    let reply = bus
        .call("echo", Message::new("req-3", b"b".to_vec()), WAIT)
        .await
        .unwrap();
    assert_eq!(reply.body, b"echo:b");
    assert_eq!(reply.request_id, "req-3");

    // So is the fanout subscription (its queue is new: retry until it is bound).
    let deadline = Instant::now() + WAIT;
    loop {
        bus.fanout("events", Message::new("req-4", b"news".to_vec()))
            .await
            .unwrap();
        if let Ok(Some((7, msg))) =
            tokio::time::timeout(Duration::from_millis(500), rx.recv()).await
        {
            assert_eq!(msg.body, b"news");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the subscription never came back"
        );
    }

    echo.stop();
    events.stop();
    admin.delete_namespace_queues(&["echo"]).await.unwrap();
    admin.delete_namespace_exchanges(&["events"]).await.unwrap();
    bus.close().await;
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_lets_the_running_handler_finish_and_acknowledge() {
    let ns = namespace();
    let Some(a) = bus(&ns, 4).await else { return };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let started = Arc::new(tokio::sync::Notify::new());
    struct Slow(
        Arc<tokio::sync::Notify>,
        mpsc::UnboundedSender<(usize, Message)>,
    );
    #[async_trait]
    impl Handler for Slow {
        async fn handle(&self, msg: Message) -> Option<Message> {
            self.0.notify_one();
            tokio::time::sleep(Duration::from_millis(500)).await;
            let _ = self.1.send((1, msg));
            None
        }
    }
    let consumer = a
        .serve("slow", Arc::new(Slow(started.clone(), tx.clone())))
        .await
        .unwrap();
    a.cast("slow", Message::new("req-s", b"one".to_vec()))
        .await
        .unwrap();
    tokio::time::timeout(WAIT, started.notified())
        .await
        .unwrap();
    consumer.stop();
    let (id, msg) = next(&mut rx).await;
    assert_eq!((id, msg.body.as_slice()), (1, b"one".as_slice()));

    // Acknowledged: a new consumer gets nothing.
    let later = a.serve("slow", recorder(2, &tx)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(rx.try_recv().is_err(), "the message came back");
    later.stop();
    a.delete_namespace_queues(&["slow"]).await.unwrap();
    a.close().await;
}
