# Apache Kafka 4.x, KRaft, one combined broker+controller on 127.0.0.1:9092,
# assembled from Maven Central jars (no tarball download).
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_HOME="$SB_CACHE/kafka-$KAFKA_VERSION"
KAFKA_RUN="$SB_RUN/kafka"
KAFKA_PORT="${KAFKA_PORT:-9092}"

kafka_describe() { echo "127.0.0.1:$KAFKA_PORT (Kafka $KAFKA_VERSION, log $KAFKA_RUN/kafka.log)"; }

kafka_install() {
  [[ -f "$KAFKA_HOME/.complete" ]] && return 0
  log "assembling Kafka $KAFKA_VERSION from Maven Central into $KAFKA_HOME"
  mkdir -p "$KAFKA_HOME"
  cat > "$KAFKA_HOME/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>switchboard.services</groupId><artifactId>kafka</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <!-- the broker logs through slf4j 1.7; its log4j2 binding is not a transitive dependency -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.25.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.25.3</version></dependency>
  </dependencies>
</project>
POM
  (cd "$KAFKA_HOME" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime) >&2
  cat > "$KAFKA_HOME/log4j2.properties" <<'L4J'
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/kafka.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
L4J
  printf 'status = error\nrootLogger.level = ERROR\n' > "$KAFKA_HOME/tools-log4j2.properties"
  touch "$KAFKA_HOME/.complete"
}

# The command-line tools (format, topics, perf) log errors only, to stderr.
kafka_tool() {
  java -Xmx256m -Dlog4j2.configurationFile="$KAFKA_HOME/tools-log4j2.properties" -cp "$KAFKA_HOME/lib/*" "$@"
}

kafka_java() {
  java -Xms512m -Xmx512m -XX:+UseG1GC -Dkafka.logs.dir="$KAFKA_RUN" \
    -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.properties" -cp "$KAFKA_HOME/lib/*" "$@"
}

kafka_start() {
  mkdir -p "$KAFKA_RUN"
  cat > "$KAFKA_RUN/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$((KAFKA_PORT + 1))
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$((KAFKA_PORT + 1))
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_RUN/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=24
# Each partition's offset and time index is a preallocated sparse file of this size, memory-mapped.
# With the 10 MB default, on this VM's ext4 (large folios, 8 MB block-device readahead) the broker
# spent 87% of its CPU zero-filling index pages in page faults under a 254-topic fan-out, and
# produce latency went to seconds (docs/performance.md, "The broker's index files"). 64 KB indexes
# still hold 8,192 offset (5,461 time) entries, one per 4 KB of log: a segment rolls after ~21 MB
# instead of 1 GB.
log.index.size.max.bytes=65536
PROPS
  if [[ ! -f "$KAFKA_RUN/data/meta.properties" ]]; then
    # static quorum (controller.quorum.voters): format without --standalone
    kafka_tool kafka.tools.StorageTool format -t "$(kafka_tool kafka.tools.StorageTool random-uuid)" \
      -c "$KAFKA_RUN/server.properties" >"$KAFKA_RUN/format.log" 2>&1 \
      || { cat "$KAFKA_RUN/format.log" >&2; return 1; }
  fi
  log "starting Kafka on 127.0.0.1:$KAFKA_PORT"
  nohup bash -c "$(declare -f kafka_java); KAFKA_RUN='$KAFKA_RUN' KAFKA_HOME='$KAFKA_HOME' kafka_java kafka.Kafka '$KAFKA_RUN/server.properties'" \
    >>"$KAFKA_RUN/stdout.log" 2>&1 &
  echo $! > "$KAFKA_RUN/pid"
}

# Ready means a metadata request succeeds: TopicCommand --list goes through the AdminClient.
kafka_ready() {
  [[ -f "$KAFKA_HOME/.complete" ]] || return 1
  (exec 3<>/dev/tcp/127.0.0.1/"$KAFKA_PORT") 2>/dev/null || return 1
  timeout 60 bash -c "$(declare -f kafka_tool); KAFKA_HOME='$KAFKA_HOME' kafka_tool org.apache.kafka.tools.TopicCommand \
    --bootstrap-server 127.0.0.1:$KAFKA_PORT --list" >/dev/null 2>&1
}

kafka_stop() { stop_pidfile "$KAFKA_RUN/pid" Kafka 30; }
