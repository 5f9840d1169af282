//! Produces and consumes one message on the real broker with rdkafka (bundled librdkafka).
//! Fails, never skips, when the broker is unreachable.
mod common;

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

#[tokio::test]
async fn produce_and_consume_one_message_on_the_real_broker() {
    let bootstrap = common::kafka_bootstrap();
    let topic = common::unique("smoke");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer config");
    let payload = r#"{"eventId":"e1","eventType":"smoke.test"}"#;
    let delivered = producer
        .send(
            FutureRecord::to(&topic)
                .key("k1")
                .payload(payload)
                .headers(OwnedHeaders::new().insert(Header { key: "eventType", value: Some("smoke.test") })),
            Duration::from_secs(20),
        )
        .await;
    let (partition, offset) = match delivered {
        Ok(d) => (d.partition, d.offset),
        Err((e, _)) => panic!("the broker at {bootstrap} did not take the message: {e} (is `scripts/services up` running?)"),
    };
    assert_eq!((partition, offset), (0, 0), "a fresh topic's first message");

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", common::unique("smoke-group"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer config");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let msg = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("no message within 30s")
        .expect("consume error");
    assert_eq!(msg.payload(), Some(payload.as_bytes()));
    assert_eq!(msg.key(), Some(&b"k1"[..]));
    let header = msg.headers().expect("headers").get(0);
    assert_eq!((header.key, header.value), ("eventType", Some(&b"smoke.test"[..])));
}
