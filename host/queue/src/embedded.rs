//! The in-process bus: all services in one process, AMQP's semantics without a broker.
//!
//! Each topic is a multi-consumer channel created on first use, so a message cast before
//! its consumer starts waits for it, as in a declared queue. Each consumer runs up to
//! `prefetch` handlers at once; a message leaves the bus when its handler has finished.

use crate::{Bus, Consumer, Handler, Message, QueueError};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};

struct Delivery {
    msg: Message,
    reply: Option<oneshot::Sender<Message>>,
}

type Channel = (
    async_channel::Sender<Delivery>,
    async_channel::Receiver<Delivery>,
);

/// The embedded in-process bus.
#[derive(Clone)]
pub struct EmbeddedBus {
    inner: Arc<Inner>,
}

struct Inner {
    topics: Mutex<HashMap<String, Channel>>,
    exchanges: Mutex<HashMap<String, Vec<async_channel::Sender<Delivery>>>>,
    prefetch: usize,
}

impl EmbeddedBus {
    /// A bus whose consumers each run up to `prefetch` handlers concurrently.
    pub fn new(prefetch: usize) -> EmbeddedBus {
        EmbeddedBus {
            inner: Arc::new(Inner {
                topics: Mutex::new(HashMap::new()),
                exchanges: Mutex::new(HashMap::new()),
                prefetch: prefetch.max(1),
            }),
        }
    }

    fn topic(&self, topic: &str) -> Channel {
        let mut topics = self.inner.topics.lock().expect("bus lock");
        topics
            .entry(topic.to_string())
            .or_insert_with(async_channel::unbounded)
            .clone()
    }

    fn consume(
        &self,
        rx: async_channel::Receiver<Delivery>,
        handler: Arc<dyn Handler>,
    ) -> Consumer {
        let (stop_tx, mut stop_rx) = oneshot::channel();
        let permits = Arc::new(Semaphore::new(self.inner.prefetch));
        tokio::spawn(async move {
            loop {
                let permit = tokio::select! {
                    _ = &mut stop_rx => break,
                    p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                };
                let delivery = tokio::select! {
                    _ = &mut stop_rx => break,
                    d = rx.recv() => match d { Ok(d) => d, Err(_) => break },
                };
                let handler = handler.clone();
                tokio::spawn(async move {
                    let reply = handler.handle(delivery.msg).await;
                    if let (Some(tx), Some(reply)) = (delivery.reply, reply) {
                        let _ = tx.send(reply);
                    }
                    drop(permit);
                });
            }
        });
        Consumer::new(stop_tx)
    }
}

#[async_trait]
impl Bus for EmbeddedBus {
    async fn cast(&self, topic: &str, msg: Message) -> Result<(), QueueError> {
        let (tx, _) = self.topic(topic);
        tx.send(Delivery { msg, reply: None })
            .await
            .map_err(|_| QueueError::Closed)
    }

    async fn call(
        &self,
        topic: &str,
        msg: Message,
        timeout: Duration,
    ) -> Result<Message, QueueError> {
        let (tx, _) = self.topic(topic);
        let (reply_tx, reply_rx) = oneshot::channel();
        tx.send(Delivery {
            msg,
            reply: Some(reply_tx),
        })
        .await
        .map_err(|_| QueueError::Closed)?;
        match tokio::time::timeout(timeout, reply_rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(QueueError::Backend(format!(
                "consumer of topic `{topic}` dropped the call without a reply"
            ))),
            Err(_) => Err(QueueError::Timeout {
                topic: topic.to_string(),
                seconds: timeout.as_secs(),
            }),
        }
    }

    async fn fanout(&self, exchange: &str, msg: Message) -> Result<(), QueueError> {
        let subscribers = {
            let mut exchanges = self.inner.exchanges.lock().expect("bus lock");
            let subs = exchanges.entry(exchange.to_string()).or_default();
            subs.retain(|s| !s.is_closed());
            subs.clone()
        };
        for sub in subscribers {
            let _ = sub
                .send(Delivery {
                    msg: msg.clone(),
                    reply: None,
                })
                .await;
        }
        Ok(())
    }

    async fn serve(&self, topic: &str, handler: Arc<dyn Handler>) -> Result<Consumer, QueueError> {
        let (_, rx) = self.topic(topic);
        Ok(self.consume(rx, handler))
    }

    async fn subscribe(
        &self,
        exchange: &str,
        handler: Arc<dyn Handler>,
    ) -> Result<Consumer, QueueError> {
        let (tx, rx) = async_channel::unbounded();
        self.inner
            .exchanges
            .lock()
            .expect("bus lock")
            .entry(exchange.to_string())
            .or_default()
            .push(tx);
        Ok(self.consume(rx, handler))
    }

    fn describe(&self) -> String {
        "embedded in-process bus".into()
    }
}
