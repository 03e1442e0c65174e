//! Semantics every backend shares, run here on the embedded bus; the AMQP backend runs the
//! same checks against RabbitMQ in the workspace tests.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Echo(Arc<AtomicUsize>);

#[async_trait]
impl Handler for Echo {
    async fn handle(&self, msg: Message) -> Option<Message> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let mut body = b"echo:".to_vec();
        body.extend_from_slice(&msg.body);
        Some(Message::new(msg.request_id, body))
    }
}

#[tokio::test]
async fn call_gets_reply_with_request_id() {
    let bus = embedded::EmbeddedBus::new(8);
    let n = Arc::new(AtomicUsize::new(0));
    let _c = bus.serve("t", Arc::new(Echo(n.clone()))).await.unwrap();
    let reply = bus
        .call(
            "t",
            Message::new("req-1", b"hi".to_vec()),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert_eq!(reply.body, b"echo:hi");
    assert_eq!(reply.request_id, "req-1");
}

#[tokio::test]
async fn cast_before_consumer_is_kept_until_served() {
    let bus = embedded::EmbeddedBus::new(8);
    bus.cast("late", Message::new("r", vec![1])).await.unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let _c = bus.serve("late", Arc::new(Echo(n.clone()))).await.unwrap();
    for _ in 0..100 {
        if n.load(Ordering::SeqCst) == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("cast message never handled");
}

#[tokio::test]
async fn call_without_consumer_times_out() {
    let bus = embedded::EmbeddedBus::new(8);
    let err = bus
        .call(
            "nobody",
            Message::new("r", vec![]),
            Duration::from_millis(50),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::Timeout { .. }), "{err}");
}

#[tokio::test]
async fn fanout_reaches_every_subscriber() {
    let bus = embedded::EmbeddedBus::new(8);
    let a = Arc::new(AtomicUsize::new(0));
    let b = Arc::new(AtomicUsize::new(0));
    let _ca = bus
        .subscribe("ex", Arc::new(Echo(a.clone())))
        .await
        .unwrap();
    let _cb = bus
        .subscribe("ex", Arc::new(Echo(b.clone())))
        .await
        .unwrap();
    bus.fanout("ex", Message::new("r", vec![])).await.unwrap();
    for _ in 0..100 {
        if a.load(Ordering::SeqCst) == 1 && b.load(Ordering::SeqCst) == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("fanout did not reach both subscribers");
}

#[tokio::test]
async fn competing_consumers_share_a_topic() {
    let bus = embedded::EmbeddedBus::new(1);
    let a = Arc::new(AtomicUsize::new(0));
    let b = Arc::new(AtomicUsize::new(0));
    let _ca = bus.serve("work", Arc::new(Echo(a.clone()))).await.unwrap();
    let _cb = bus.serve("work", Arc::new(Echo(b.clone()))).await.unwrap();
    for i in 0..50u8 {
        bus.call("work", Message::new("r", vec![i]), Duration::from_secs(2))
            .await
            .unwrap();
    }
    assert_eq!(a.load(Ordering::SeqCst) + b.load(Ordering::SeqCst), 50);
}
