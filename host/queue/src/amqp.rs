//! The RabbitMQ bus, through lapin.
//!
//! # Names
//! Everything this bus creates on the broker is prefixed by its namespace, so several
//! deployments (or test runs) can share one broker:
//! - a topic is the durable queue `"{namespace}.{topic}"`, fed through the default exchange;
//! - a fanout exchange is the durable fanout exchange `"{namespace}.fanout.{exchange}"`; each
//!   subscriber consumes its own exclusive, auto-deleted, server-named queue bound to it;
//! - the replies to this bus's calls arrive on one exclusive, auto-deleted, server-named queue
//!   per connection.
//!
//! # Wire format
//! The AMQP payload is [`Message::body`], unchanged. The envelope travels in headers:
//! [`HEADER_VERSION`] (the envelope version, an integer) and [`HEADER_REQUEST_ID`] (a string).
//! A call sets the `reply_to` and `correlation_id` properties; the reply carries the same
//! `correlation_id`. Every message is persistent (`delivery_mode` 2). [`Message::redelivered`]
//! is the delivery's redelivered flag. A message whose envelope version is not
//! [`crate::ENVELOPE_VERSION`] (or that has none) is logged and dropped.
//!
//! # Delivery guarantees
//! Publisher confirms are on: a publish returns once the broker has taken the message, and a
//! broker nack is an error. Consumers acknowledge manually, after the handler has returned and
//! its reply (if any) has been published, so a message whose consumer dies mid-way is
//! redelivered (with `redelivered` set) to another consumer. A consumer runs at most
//! `prefetch` handlers at once (`basic.qos`). A panicking handler is logged and its message
//! acknowledged: the consumer goes on.
//!
//! # Reconnection
//! A supervisor task owns the connection. When it breaks (the broker restarted, the network
//! failed), the supervisor reconnects with exponential backoff up to `max_backoff`, and opens
//! a new publisher channel and reply queue. Each consumer re-declares its queue (or its bound
//! subscriber queue) and consumes again on the new connection. A publish made while
//! disconnected waits for the reconnection, for [`PUBLISH_WAIT`] at most (a call waits at most
//! its own timeout); a publish whose connection broke before the broker confirmed it is sent
//! again on the next connection (at-least-once). Replies awaited when the connection broke are
//! lost: those calls time out.

use crate::{Bus, Consumer, Handler, Message, QueueError, ENVELOPE_VERSION};
use async_trait::async_trait;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

/// Header carrying [`Message::version`].
pub const HEADER_VERSION: &str = "x-metacloud-envelope-version";
/// Header carrying [`Message::request_id`].
pub const HEADER_REQUEST_ID: &str = "x-metacloud-request-id";
/// How long a connection attempt (TCP, AMQP handshake, channels, reply queue) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a publish waits for a lost connection to come back before it fails.
pub const PUBLISH_WAIT: Duration = Duration::from_secs(30);

/// The first pause between two reconnection attempts; it doubles up to `max_backoff`.
const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
/// The shortest `max_backoff` honoured, so a zero never turns into a busy loop.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// How many times a publish is tried on successive connections before it fails.
const PUBLISH_ATTEMPTS: usize = 3;
/// AMQP reply code for a normal close.
const REPLY_SUCCESS: u16 = 200;

/// Calls waiting for their reply, by correlation id.
type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Message>>>>;

/// The RabbitMQ bus. Dropping it closes its connection and stops its consumers.
pub struct AmqpBus {
    shared: Arc<Shared>,
}

/// State shared by the bus, its supervisor and its consumers.
struct Shared {
    /// The URL to connect to (with its password).
    url: String,
    /// The URL with its password masked, for messages.
    masked_url: String,
    namespace: String,
    prefetch: u16,
    max_backoff: Duration,
    /// The current connection; `None` while reconnecting or after shutdown.
    link: watch::Sender<Option<Arc<Link>>>,
    /// Set once the bus is closed.
    shutdown: watch::Sender<bool>,
    /// Reports a broken connection (by generation) to the supervisor.
    broken: mpsc::UnboundedSender<u64>,
    /// Source of connection generations.
    generations: AtomicU64,
    pending: Pending,
}

/// One live connection and what the bus needs on it.
struct Link {
    /// Unique per connection attempt, so a stale breakage report is ignored.
    generation: u64,
    conn: Connection,
    /// The channel every publish goes through, in confirm mode.
    publisher: Channel,
    /// This connection's reply queue.
    reply_to: String,
    /// Queues (`q:`) and exchanges (`x:`) already declared by a publisher on this connection.
    declared: Mutex<HashSet<String>>,
}

/// Where a publish goes.
enum Target<'a> {
    /// A topic queue, declared first, through the default exchange.
    Topic(&'a str),
    /// A fanout exchange, declared first.
    Fanout(&'a str),
    /// A reply queue (exclusive to the caller: never declared here).
    Reply(&'a str),
}

/// What a consumer consumes.
#[derive(Clone)]
enum Source {
    /// A durable topic queue.
    Topic(String),
    /// A fanout exchange, through a private queue bound to it.
    Fanout(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Topic(q) => write!(f, "queue `{q}`"),
            Source::Fanout(x) => write!(f, "fanout exchange `{x}`"),
        }
    }
}

/// A consumer attached to one connection.
struct Attached {
    link: Arc<Link>,
    channel: Channel,
    stream: lapin::Consumer,
    tag: String,
}

/// Why a publish on one connection failed.
enum PublishError {
    /// The broker refused the message.
    Nacked,
    /// No confirmation within the deadline.
    TimedOut,
    /// The client library failed (often: the connection broke).
    Lapin(lapin::Error),
}

impl From<lapin::Error> for PublishError {
    fn from(e: lapin::Error) -> Self {
        PublishError::Lapin(e)
    }
}

impl AmqpBus {
    /// Connects to the broker at `url` (`amqp://user:password@host:port/vhost`).
    ///
    /// Names are prefixed by `namespace`; each consumer runs at most `prefetch` handlers at
    /// once; a lost connection is retried with a backoff growing up to `max_backoff`. The
    /// first connection is not retried: failing it (or taking longer than
    /// [`CONNECT_TIMEOUT`]) is [`QueueError::Connect`], with the password masked.
    pub async fn connect(
        url: &str,
        namespace: &str,
        prefetch: u16,
        max_backoff: Duration,
    ) -> Result<AmqpBus, QueueError> {
        let masked_url = mask_password(url);
        let (broken_tx, broken_rx) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();
        let generations = AtomicU64::new(0);
        let generation = generations.fetch_add(1, Ordering::Relaxed);
        let link = Link::open(
            url,
            namespace,
            generation,
            broken_tx.clone(),
            pending.clone(),
        )
        .await
        .map_err(|reason| QueueError::Connect {
            url: masked_url.clone(),
            reason,
        })?;
        info!(url = %masked_url, namespace, "connected to RabbitMQ");
        let shared = Arc::new(Shared {
            url: url.to_string(),
            masked_url,
            namespace: namespace.to_string(),
            prefetch: prefetch.max(1),
            max_backoff: max_backoff.max(MIN_BACKOFF),
            link: watch::Sender::new(Some(link)),
            shutdown: watch::Sender::new(false),
            broken: broken_tx,
            generations,
            pending,
        });
        tokio::spawn(supervise(shared.clone(), broken_rx));
        Ok(AmqpBus { shared })
    }

    /// The queue name of `topic` in this bus's namespace.
    pub fn queue_name(&self, topic: &str) -> String {
        self.shared.queue_name(topic)
    }

    /// The exchange name of fanout `exchange` in this bus's namespace.
    pub fn exchange_name(&self, exchange: &str) -> String {
        self.shared.exchange_name(exchange)
    }

    /// Deletes the queues of `topics` in this bus's namespace, with their messages and
    /// consumers (for test clean-up). A missing queue is not an error.
    pub async fn delete_namespace_queues(&self, topics: &[&str]) -> Result<(), QueueError> {
        let link = self.shared.current_link(Some(PUBLISH_WAIT)).await?;
        let channel = link.conn.create_channel().await.map_err(backend)?;
        for topic in topics {
            let name = self.shared.queue_name(topic);
            channel
                .queue_delete(&name, QueueDeleteOptions::default())
                .await
                .map_err(backend)?;
            lock(&link.declared).remove(&format!("q:{name}"));
        }
        let _ = channel.close(REPLY_SUCCESS, "OK").await;
        Ok(())
    }

    /// Deletes the fanout exchanges `exchanges` in this bus's namespace (for test clean-up).
    /// A missing exchange is not an error.
    pub async fn delete_namespace_exchanges(&self, exchanges: &[&str]) -> Result<(), QueueError> {
        let link = self.shared.current_link(Some(PUBLISH_WAIT)).await?;
        let channel = link.conn.create_channel().await.map_err(backend)?;
        for exchange in exchanges {
            let name = self.shared.exchange_name(exchange);
            channel
                .exchange_delete(&name, ExchangeDeleteOptions::default())
                .await
                .map_err(backend)?;
            lock(&link.declared).remove(&format!("x:{name}"));
        }
        let _ = channel.close(REPLY_SUCCESS, "OK").await;
        Ok(())
    }

    /// Closes the connection now, without waiting for running handlers: their messages are
    /// not acknowledged, so the broker redelivers them to other consumers (as if this process
    /// had died). The bus is unusable afterwards ([`QueueError::Closed`]).
    pub async fn close(&self) {
        self.shared.begin_shutdown();
        let link = self.shared.link.send_replace(None);
        if let Some(link) = link {
            if let Err(e) = link.conn.close(REPLY_SUCCESS, "bus closed").await {
                debug!(error = %e, "closing the RabbitMQ connection");
            }
        }
    }

    /// Starts a consumer on `source`: attached before this returns, re-attached after
    /// reconnections by its own task.
    async fn consume(
        &self,
        source: Source,
        handler: Arc<dyn Handler>,
    ) -> Result<Consumer, QueueError> {
        let link = self.shared.current_link(Some(PUBLISH_WAIT)).await?;
        let attached = attach(&self.shared, link, &source)
            .await
            .map_err(|e| QueueError::Backend(format!("cannot consume {source}: {e}")))?;
        let (stop_tx, stop_rx) = oneshot::channel();
        tokio::spawn(run_consumer(
            self.shared.clone(),
            source,
            handler,
            attached,
            StopSignal::new(stop_rx),
        ));
        Ok(Consumer::new(stop_tx))
    }
}

impl Drop for AmqpBus {
    fn drop(&mut self) {
        // The supervisor closes the connection; consumers stop when it is gone.
        self.shared.begin_shutdown();
    }
}

#[async_trait]
impl Bus for AmqpBus {
    async fn cast(&self, topic: &str, msg: Message) -> Result<(), QueueError> {
        let queue = self.shared.queue_name(topic);
        let deadline = Instant::now() + PUBLISH_WAIT;
        self.shared
            .publish(
                Target::Topic(&queue),
                &msg.body,
                envelope(&msg),
                false,
                deadline,
            )
            .await
    }

    async fn call(
        &self,
        topic: &str,
        msg: Message,
        timeout: Duration,
    ) -> Result<Message, QueueError> {
        let queue = self.shared.queue_name(topic);
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let (reply_tx, reply_rx) = oneshot::channel();
        lock(&self.shared.pending).insert(correlation_id.clone(), reply_tx);
        // Removes the pending entry however this call ends (reply, error, timeout, drop).
        let _guard = PendingGuard {
            pending: &self.shared.pending,
            correlation_id: &correlation_id,
        };
        let deadline = Instant::now() + timeout;
        let props = envelope(&msg).with_correlation_id(correlation_id.as_str().into());
        let exchange = async {
            self.shared
                .publish(Target::Topic(&queue), &msg.body, props, true, deadline)
                .await?;
            reply_rx.await.map_err(|_| QueueError::Closed)
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Ok(result) => result,
            Err(_) => Err(QueueError::Timeout {
                topic: topic.to_string(),
                seconds: timeout.as_secs(),
            }),
        }
    }

    async fn fanout(&self, exchange: &str, msg: Message) -> Result<(), QueueError> {
        let name = self.shared.exchange_name(exchange);
        let deadline = Instant::now() + PUBLISH_WAIT;
        self.shared
            .publish(
                Target::Fanout(&name),
                &msg.body,
                envelope(&msg),
                false,
                deadline,
            )
            .await
    }

    async fn serve(&self, topic: &str, handler: Arc<dyn Handler>) -> Result<Consumer, QueueError> {
        let queue = self.shared.queue_name(topic);
        self.consume(Source::Topic(queue), handler).await
    }

    async fn subscribe(
        &self,
        exchange: &str,
        handler: Arc<dyn Handler>,
    ) -> Result<Consumer, QueueError> {
        let name = self.shared.exchange_name(exchange);
        self.consume(Source::Fanout(name), handler).await
    }

    fn describe(&self) -> String {
        format!(
            "RabbitMQ at {} (namespace {})",
            self.shared.masked_url, self.shared.namespace
        )
    }
}

impl Shared {
    fn queue_name(&self, topic: &str) -> String {
        if self.namespace.is_empty() {
            topic.to_string()
        } else {
            format!("{}.{topic}", self.namespace)
        }
    }

    fn exchange_name(&self, exchange: &str) -> String {
        if self.namespace.is_empty() {
            format!("fanout.{exchange}")
        } else {
            format!("{}.fanout.{exchange}", self.namespace)
        }
    }

    fn is_shut_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Marks the bus closed, wakes everyone waiting for a connection and fails pending calls.
    fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
        // Wake link waiters even if the value is already `None`.
        self.link.send_modify(|_| {});
        lock(&self.pending).clear();
    }

    /// Tells the supervisor that connection `generation` is broken (duplicates are ignored).
    fn report_broken(&self, generation: u64) {
        let _ = self.broken.send(generation);
    }

    /// The current usable connection, waiting at most `wait` (`None`: as long as it takes)
    /// for a reconnection.
    async fn current_link(&self, wait: Option<Duration>) -> Result<Arc<Link>, QueueError> {
        let mut rx = self.link.subscribe();
        let wait_for_link = async {
            loop {
                if self.is_shut_down() {
                    return Err(QueueError::Closed);
                }
                let current = rx.borrow_and_update().clone();
                if let Some(link) = current {
                    if link.usable() {
                        return Ok(link);
                    }
                    self.report_broken(link.generation);
                }
                if rx.changed().await.is_err() {
                    return Err(QueueError::Closed);
                }
            }
        };
        match wait {
            None => wait_for_link.await,
            Some(wait) => tokio::time::timeout(wait, wait_for_link)
                .await
                .unwrap_or_else(|_| {
                    Err(QueueError::Backend(format!(
                        "not connected to RabbitMQ at {} (gave up waiting for the \
                         reconnection after {} s)",
                        self.masked_url,
                        wait.as_secs()
                    )))
                }),
        }
    }

    /// Publishes with confirmation before `deadline`, on the current connection; retried on
    /// the next one if the connection broke under it. With `reply_to`, the message names the
    /// reply queue of the connection it is sent on.
    async fn publish(
        &self,
        target: Target<'_>,
        payload: &[u8],
        props: BasicProperties,
        reply_to: bool,
        deadline: Instant,
    ) -> Result<(), QueueError> {
        let mut attempt = 1;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let link = self.current_link(Some(wait)).await?;
            let props = if reply_to {
                props.clone().with_reply_to(link.reply_to.as_str().into())
            } else {
                props.clone()
            };
            let error = match link.publish(&target, payload, props, deadline).await {
                Ok(()) => return Ok(()),
                Err(PublishError::Nacked) => {
                    return Err(QueueError::Backend(format!(
                        "RabbitMQ refused the message to {} (nack)",
                        target.describe()
                    )))
                }
                Err(PublishError::TimedOut) => {
                    return Err(QueueError::Backend(format!(
                        "RabbitMQ did not confirm the message to {} in time",
                        target.describe()
                    )))
                }
                Err(PublishError::Lapin(e)) => e,
            };
            if link.usable() || attempt >= PUBLISH_ATTEMPTS {
                return Err(QueueError::Backend(format!(
                    "cannot publish to {}: {error}",
                    target.describe()
                )));
            }
            warn!(%error, target = %target.describe(), attempt,
                "publish failed with the connection; retrying after reconnection");
            self.report_broken(link.generation);
            attempt += 1;
        }
    }

    /// Pause before the next attempt; doubles `backoff` up to the maximum.
    fn next_backoff(&self, backoff: &mut Duration) -> Duration {
        let now = *backoff;
        *backoff = (*backoff * 2).min(self.max_backoff);
        now
    }
}

impl Link {
    /// Connects and opens the publisher channel and the reply queue; any failure (or taking
    /// longer than [`CONNECT_TIMEOUT`]) is described in the error.
    async fn open(
        url: &str,
        namespace: &str,
        generation: u64,
        broken: mpsc::UnboundedSender<u64>,
        pending: Pending,
    ) -> Result<Arc<Link>, String> {
        let setup = async {
            let props = ConnectionProperties::default()
                .with_executor(tokio_executor_trait::Tokio::current())
                .with_reactor(tokio_reactor_trait::Tokio)
                .with_connection_name(format!("metacloud ({namespace})").into());
            let conn = Connection::connect(url, props).await?;
            let on_error = broken.clone();
            conn.on_error(move |e| {
                warn!(error = %e, "RabbitMQ connection lost");
                let _ = on_error.send(generation);
            });
            let publisher = conn.create_channel().await?;
            publisher
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            let replies = conn.create_channel().await?;
            let queue = replies
                .queue_declare(
                    "",
                    QueueDeclareOptions {
                        exclusive: true,
                        auto_delete: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            let reply_to = queue.name().to_string();
            let stream = replies
                .basic_consume(
                    &reply_to,
                    &format!("replies-{}", uuid::Uuid::new_v4()),
                    BasicConsumeOptions {
                        no_ack: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            tokio::spawn(dispatch_replies(
                stream,
                replies,
                pending,
                broken.clone(),
                generation,
            ));
            Ok::<_, lapin::Error>(Link {
                generation,
                conn,
                publisher,
                reply_to,
                declared: Mutex::new(HashSet::new()),
            })
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, setup).await {
            Ok(Ok(link)) => Ok(Arc::new(link)),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())),
        }
    }

    /// Whether this connection and its publisher channel are up.
    fn usable(&self) -> bool {
        self.conn.status().connected() && self.publisher.status().connected()
    }

    /// Declares what `target` needs (once per connection) and publishes, waiting for the
    /// broker's confirmation until `deadline`.
    async fn publish(
        &self,
        target: &Target<'_>,
        payload: &[u8],
        props: BasicProperties,
        deadline: Instant,
    ) -> Result<(), PublishError> {
        let publish = async {
            let (exchange, routing_key) = match target {
                Target::Topic(queue) => {
                    self.ensure_declared(&Source::Topic(queue.to_string()))
                        .await?;
                    ("", *queue)
                }
                Target::Fanout(exchange) => {
                    self.ensure_declared(&Source::Fanout(exchange.to_string()))
                        .await?;
                    (*exchange, "")
                }
                Target::Reply(queue) => ("", *queue),
            };
            let confirm = self
                .publisher
                .basic_publish(
                    exchange,
                    routing_key,
                    BasicPublishOptions::default(),
                    payload,
                    props,
                )
                .await?
                .await?;
            match confirm {
                Confirmation::Ack(_) | Confirmation::NotRequested => Ok(()),
                Confirmation::Nack(_) => Err(PublishError::Nacked),
            }
        };
        tokio::time::timeout_at(deadline, publish)
            .await
            .unwrap_or(Err(PublishError::TimedOut))
    }

    /// Declares the durable topic queue or fanout exchange of `source`, on a channel of its
    /// own (a refused declaration closes its channel: not the publisher's).
    async fn ensure_declared(&self, source: &Source) -> Result<(), lapin::Error> {
        let key = match source {
            Source::Topic(q) => format!("q:{q}"),
            Source::Fanout(x) => format!("x:{x}"),
        };
        if lock(&self.declared).contains(&key) {
            return Ok(());
        }
        let channel = self.conn.create_channel().await?;
        match source {
            Source::Topic(q) => declare_topic(&channel, q).await?,
            Source::Fanout(x) => declare_fanout(&channel, x).await?,
        }
        let _ = channel.close(REPLY_SUCCESS, "OK").await;
        lock(&self.declared).insert(key);
        Ok(())
    }
}

impl Target<'_> {
    fn describe(&self) -> String {
        match self {
            Target::Topic(q) => format!("queue `{q}`"),
            Target::Fanout(x) => format!("fanout exchange `{x}`"),
            Target::Reply(q) => format!("reply queue `{q}`"),
        }
    }
}

/// Removes a call's pending entry when the call ends.
struct PendingGuard<'a> {
    pending: &'a Pending,
    correlation_id: &'a str,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(self.pending).remove(self.correlation_id);
    }
}

/// The stop request of one consumer: fired by [`Consumer::stop`], never by dropping it.
struct StopSignal {
    rx: oneshot::Receiver<()>,
    state: StopState,
}

#[derive(PartialEq)]
enum StopState {
    Armed,
    Requested,
    /// The [`Consumer`] was dropped: the consumer runs until the bus closes.
    Detached,
}

impl StopSignal {
    fn new(rx: oneshot::Receiver<()>) -> StopSignal {
        StopSignal {
            rx,
            state: StopState::Armed,
        }
    }

    /// Resolves once a stop is requested (never if the [`Consumer`] was dropped).
    async fn requested(&mut self) {
        if self.state == StopState::Armed {
            self.state = match (&mut self.rx).await {
                Ok(()) => StopState::Requested,
                Err(_) => StopState::Detached,
            };
        }
        if self.state != StopState::Requested {
            std::future::pending::<()>().await;
        }
    }

    /// Whether a stop was requested, without waiting.
    fn is_requested(&mut self) -> bool {
        if self.state == StopState::Armed {
            match self.rx.try_recv() {
                Ok(()) => self.state = StopState::Requested,
                Err(oneshot::error::TryRecvError::Closed) => self.state = StopState::Detached,
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
        }
        self.state == StopState::Requested
    }
}

/// Owns the connection: on a breakage report, reconnects with backoff; on shutdown, closes.
async fn supervise(shared: Arc<Shared>, mut broken: mpsc::UnboundedReceiver<u64>) {
    let mut shutdown = shared.shutdown.subscribe();
    'supervise: loop {
        let generation = tokio::select! {
            _ = shutdown.wait_for(|down| *down) => break,
            g = broken.recv() => match g {
                Some(g) => g,
                None => break,
            },
        };
        let current = shared.link.borrow().clone();
        match current {
            Some(link) if link.generation == generation => {
                shared.link.send_replace(None);
                warn!(url = %shared.masked_url, "lost the connection to RabbitMQ; reconnecting");
                tokio::spawn(async move {
                    // Usually already closed; otherwise (a channel failed) close it for good.
                    let _ = link.conn.close(REPLY_SUCCESS, "reconnecting").await;
                });
            }
            _ => continue, // a stale report, about a connection already replaced
        }
        let mut backoff = INITIAL_BACKOFF.min(shared.max_backoff);
        let mut attempt = 1u32;
        loop {
            if shared.is_shut_down() {
                break 'supervise;
            }
            let generation = shared.generations.fetch_add(1, Ordering::Relaxed);
            info!(url = %shared.masked_url, attempt, "reconnecting to RabbitMQ");
            match Link::open(
                &shared.url,
                &shared.namespace,
                generation,
                shared.broken.clone(),
                shared.pending.clone(),
            )
            .await
            {
                Ok(link) => {
                    if shared.is_shut_down() {
                        let _ = link.conn.close(REPLY_SUCCESS, "bus closed").await;
                        break 'supervise;
                    }
                    info!(url = %shared.masked_url, attempt, "reconnected to RabbitMQ");
                    shared.link.send_replace(Some(link));
                    break;
                }
                Err(reason) => {
                    let pause = shared.next_backoff(&mut backoff);
                    warn!(url = %shared.masked_url, attempt, %reason,
                        "cannot reconnect to RabbitMQ; next attempt in {pause:?}");
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = shutdown.wait_for(|down| *down) => break 'supervise,
                    }
                }
            }
            attempt += 1;
        }
    }
    if let Some(link) = shared.link.send_replace(None) {
        if let Err(e) = link.conn.close(REPLY_SUCCESS, "bus closed").await {
            debug!(error = %e, "closing the RabbitMQ connection");
        }
    }
}

/// Hands each reply to the call waiting for its correlation id, until the connection ends.
async fn dispatch_replies(
    mut stream: lapin::Consumer,
    _channel: Channel,
    pending: Pending,
    broken: mpsc::UnboundedSender<u64>,
    generation: u64,
) {
    while let Some(delivery) = stream.next().await {
        let delivery = match delivery {
            Ok(delivery) => delivery,
            Err(e) => {
                debug!(error = %e, "reply consumer ended");
                continue;
            }
        };
        let Some(correlation_id) = delivery.properties.correlation_id().clone() else {
            warn!("dropping a reply without a correlation id");
            continue;
        };
        let reply = match decode(delivery) {
            Ok(reply) => reply,
            Err(reason) => {
                warn!(%reason, "dropping a reply");
                continue;
            }
        };
        match lock(&pending).remove(correlation_id.as_str()) {
            Some(waiter) => {
                let _ = waiter.send(reply);
            }
            None => debug!(
                correlation_id = correlation_id.as_str(),
                "dropping a reply nobody waits for (the call timed out)"
            ),
        }
    }
    // Without its reply queue the connection is no use for calls: replace it.
    let _ = broken.send(generation);
}

/// Declares the durable queue of a topic.
async fn declare_topic(channel: &Channel, queue: &str) -> Result<(), lapin::Error> {
    channel
        .queue_declare(
            queue,
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map(|_| ())
}

/// Declares a durable fanout exchange.
async fn declare_fanout(channel: &Channel, exchange: &str) -> Result<(), lapin::Error> {
    channel
        .exchange_declare(
            exchange,
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
}

/// Opens a channel on `link` and consumes `source` on it, with manual acknowledgement.
async fn attach(
    shared: &Shared,
    link: Arc<Link>,
    source: &Source,
) -> Result<Attached, lapin::Error> {
    let channel = link.conn.create_channel().await?;
    channel
        .basic_qos(shared.prefetch, BasicQosOptions::default())
        .await?;
    let queue = match source {
        Source::Topic(queue) => {
            declare_topic(&channel, queue).await?;
            queue.clone()
        }
        Source::Fanout(exchange) => {
            declare_fanout(&channel, exchange).await?;
            let queue = channel
                .queue_declare(
                    "",
                    QueueDeclareOptions {
                        exclusive: true,
                        auto_delete: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            let queue = queue.name().to_string();
            channel
                .queue_bind(
                    &queue,
                    exchange,
                    "",
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            queue
        }
    };
    let tag = format!("{}.{}", shared.namespace, uuid::Uuid::new_v4());
    let stream = channel
        .basic_consume(
            &queue,
            &tag,
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    debug!(%source, queue, tag, "consumer attached");
    Ok(Attached {
        link,
        channel,
        stream,
        tag,
    })
}

/// Runs one consumer: spawns a task per delivery, re-attaches after a reconnection, and on
/// stop cancels, lets running handlers finish, then closes its channel.
async fn run_consumer(
    shared: Arc<Shared>,
    source: Source,
    handler: Arc<dyn Handler>,
    mut attached: Attached,
    mut stop: StopSignal,
) {
    let source_name: Arc<str> = source.to_string().into();
    let mut running = JoinSet::new();
    loop {
        let stopped = loop {
            tokio::select! {
                _ = stop.requested() => break true,
                Some(_) = running.join_next(), if !running.is_empty() => {}
                delivery = attached.stream.next() => match delivery {
                    Some(Ok(delivery)) => {
                        running.spawn(process(
                            shared.clone(),
                            handler.clone(),
                            delivery,
                            source_name.clone(),
                        ));
                    }
                    Some(Err(e)) => debug!(source = %source_name, error = %e, "consumer error"),
                    None => break stop.is_requested(),
                },
            }
        };
        if stopped {
            if let Err(e) = attached
                .channel
                .basic_cancel(&attached.tag, BasicCancelOptions::default())
                .await
            {
                debug!(source = %source_name, error = %e, "cancelling the consumer");
            }
            while running.join_next().await.is_some() {}
            let _ = attached
                .channel
                .close(REPLY_SUCCESS, "consumer stopped")
                .await;
            debug!(source = %source_name, "consumer stopped");
            return;
        }
        if shared.is_shut_down() {
            return;
        }
        // The connection broke, or the broker cancelled the consumer (its queue was deleted).
        if !attached.link.usable() {
            shared.report_broken(attached.link.generation);
        }
        info!(source = %source_name, "consumer interrupted; re-attaching");
        let mut backoff = INITIAL_BACKOFF.min(shared.max_backoff);
        attached = loop {
            let link = tokio::select! {
                _ = stop.requested() => {
                    while running.join_next().await.is_some() {}
                    return;
                }
                link = shared.current_link(None) => match link {
                    Ok(link) => link,
                    Err(_) => return, // the bus is closed
                },
            };
            match attach(&shared, link, &source).await {
                Ok(attached) => {
                    info!(source = %source_name, "consumer re-attached");
                    break attached;
                }
                Err(e) => {
                    let pause = shared.next_backoff(&mut backoff);
                    warn!(source = %source_name, error = %e,
                        "cannot re-attach the consumer; next attempt in {pause:?}");
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = stop.requested() => {
                            while running.join_next().await.is_some() {}
                            return;
                        }
                    }
                }
            }
        };
    }
}

/// Handles one delivery: runs the handler in a task of its own (a panic is contained), then
/// publishes the reply if the sender waits for one, then acknowledges.
async fn process(
    shared: Arc<Shared>,
    handler: Arc<dyn Handler>,
    delivery: Delivery,
    source: Arc<str>,
) {
    let reply_to = delivery.properties.reply_to().clone();
    let correlation_id = delivery.properties.correlation_id().clone();
    let acker = delivery.acker.clone();
    match decode(delivery) {
        Err(reason) => warn!(%source, %reason, "refusing a message"),
        Ok(msg) => {
            let request_id = msg.request_id.clone();
            let outcome = tokio::spawn(async move { handler.handle(msg).await }).await;
            match (outcome, reply_to) {
                (Ok(Some(reply)), Some(reply_to)) => {
                    let mut props = envelope(&reply);
                    if let Some(correlation_id) = correlation_id {
                        props = props.with_correlation_id(correlation_id);
                    }
                    let deadline = Instant::now() + PUBLISH_WAIT;
                    if let Err(e) = shared
                        .publish(
                            Target::Reply(reply_to.as_str()),
                            &reply.body,
                            props,
                            false,
                            deadline,
                        )
                        .await
                    {
                        warn!(%source, request_id, error = %e, "cannot send the reply");
                    }
                }
                (Ok(None), Some(_)) => {
                    debug!(%source, request_id, "the handler gave no reply to a call");
                }
                (Ok(_), None) => {}
                (Err(e), _) => error!(
                    %source, request_id, error = %e,
                    "the handler failed; its message is acknowledged and dropped"
                ),
            }
        }
    }
    if let Err(e) = acker.ack(BasicAckOptions::default()).await {
        warn!(%source, error = %e, "cannot acknowledge a message; the broker will redeliver it");
    }
}

/// The AMQP properties of `msg`: persistent, with its envelope in headers.
fn envelope(msg: &Message) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(
        HEADER_VERSION.into(),
        AMQPValue::LongLongInt(i64::from(msg.version)),
    );
    headers.insert(
        HEADER_REQUEST_ID.into(),
        AMQPValue::LongString(msg.request_id.as_str().into()),
    );
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_headers(headers)
}

/// The message of a delivery, or why it is refused.
fn decode(delivery: Delivery) -> Result<Message, String> {
    let Delivery {
        properties,
        data,
        redelivered,
        ..
    } = delivery;
    let headers = properties.headers().as_ref().map(|h| h.inner());
    let version = headers
        .and_then(|h| h.get(HEADER_VERSION))
        .ok_or_else(|| format!("no `{HEADER_VERSION}` header"))?;
    let version = as_u32(version).ok_or_else(|| format!("bad envelope version {version:?}"))?;
    if version != ENVELOPE_VERSION {
        return Err(format!(
            "envelope version {version}, this build speaks version {ENVELOPE_VERSION}"
        ));
    }
    let request_id = match headers.and_then(|h| h.get(HEADER_REQUEST_ID)) {
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        Some(AMQPValue::ShortString(s)) => s.as_str().to_string(),
        _ => String::new(),
    };
    Ok(Message {
        version,
        request_id,
        body: data,
        redelivered,
    })
}

/// An integer header as `u32`, whatever integer type carried it.
fn as_u32(value: &AMQPValue) -> Option<u32> {
    match value {
        AMQPValue::ShortShortUInt(v) => Some(u32::from(*v)),
        AMQPValue::ShortUInt(v) => Some(u32::from(*v)),
        AMQPValue::LongUInt(v) => Some(*v),
        AMQPValue::ShortShortInt(v) => u32::try_from(*v).ok(),
        AMQPValue::ShortInt(v) => u32::try_from(*v).ok(),
        AMQPValue::LongInt(v) => u32::try_from(*v).ok(),
        AMQPValue::LongLongInt(v) => u32::try_from(*v).ok(),
        _ => None,
    }
}

/// `url` with the password of its user info replaced by `***`.
pub fn mask_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    match authority[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..rest_start],
            &authority[..colon],
            &rest[at..]
        ),
        None => url.to_string(),
    }
}

fn backend(e: lapin::Error) -> QueueError {
    QueueError::Backend(e.to_string())
}

/// Locks `mutex`, ignoring poisoning (the data stays consistent: every critical section is a
/// single map operation).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn masks_the_password() {
        assert_eq!(
            mask_password("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(
            mask_password("amqp://user:p@ss@host/vhost"),
            "amqp://user:***@host/vhost"
        );
        assert_eq!(
            mask_password("amqp://127.0.0.1:5672/%2f"),
            "amqp://127.0.0.1:5672/%2f"
        );
        assert_eq!(mask_password("amqp://user@host"), "amqp://user@host");
    }

    #[test]
    fn envelope_headers_round_trip() {
        let msg = Message::new("req-1", b"x".to_vec());
        let props = envelope(&msg);
        let headers = props.headers().as_ref().map(|h| h.inner().clone());
        let headers = headers.unwrap_or_default();
        assert_eq!(headers.get(HEADER_VERSION).and_then(as_u32), Some(1));
        assert!(matches!(
            headers.get(HEADER_REQUEST_ID),
            Some(AMQPValue::LongString(s)) if s.as_bytes() == b"req-1"
        ));
        assert_eq!(props.delivery_mode(), &Some(2));
    }
}
