# Apache Cassandra 5.0, one node on 127.0.0.1:9042 (CQL native protocol), assembled from
# Maven Central jars (org.apache.cassandra:cassandra-all and its runtime dependencies; no tarball).
# The JVM flags are those of Cassandra's own conf/jvm17-server.options and bin/cassandra.in.sh
# (JPMS exports/opens, the jamm javaagent), with a 1 GB heap and a minimal cassandra.yaml.
CASSANDRA_VERSION="${CASSANDRA_VERSION:-5.0.8}"
CASSANDRA_HOME="$SB_CACHE/cassandra-$CASSANDRA_VERSION"
CASSANDRA_RUN="$SB_RUN/cassandra"
CASSANDRA_PORT="${CASSANDRA_PORT:-9042}"
CASSANDRA_STORAGE_PORT="${CASSANDRA_STORAGE_PORT:-7010}"

cassandra_describe() { echo "127.0.0.1:$CASSANDRA_PORT (Cassandra $CASSANDRA_VERSION, log $CASSANDRA_RUN/cassandra.log)"; }

cassandra_install() {
  [[ -f "$CASSANDRA_HOME/.complete" ]] && return 0
  log "assembling Cassandra $CASSANDRA_VERSION from Maven Central into $CASSANDRA_HOME"
  mkdir -p "$CASSANDRA_HOME"
  cat > "$CASSANDRA_HOME/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>switchboard.services</groupId><artifactId>cassandra</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.cassandra</groupId><artifactId>cassandra-all</artifactId><version>$CASSANDRA_VERSION</version></dependency>
  </dependencies>
</project>
POM
  (cd "$CASSANDRA_HOME" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime) >&2
  # bin/cassandra.in.sh passes -javaagent:lib/jamm-*.jar: jamm measures object sizes for memtables.
  ls "$CASSANDRA_HOME"/lib/jamm-*.jar >/dev/null || { log "jamm jar missing from the Cassandra dependencies"; return 1; }
  cat > "$CASSANDRA_HOME/logback.xml" <<'LOGBACK'
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${cassandra.logdir}/cassandra.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
LOGBACK
  touch "$CASSANDRA_HOME/.complete"
}

# The flags of conf/jvm17-server.options (JPMS section and Netty settings) and cassandra.in.sh.
cassandra_jvm_flags() {
  local jamm; jamm=$(ls "$CASSANDRA_HOME"/lib/jamm-*.jar | head -n 1)
  printf '%s\n' \
    -Xms1G -Xmx1G -Xss256k -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 \
    -XX:G1HeapRegionSize=16m -XX:MaxGCPauseMillis=300 -XX:+ExitOnOutOfMemoryError \
    -Djdk.attach.allowAttachSelf=true \
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED \
    --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED \
    --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED \
    --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED \
    --add-exports java.sql/java.sql=ALL-UNNAMED \
    --add-exports java.base/java.lang.ref=ALL-UNNAMED \
    --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED \
    --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED \
    --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED \
    --add-opens java.base/java.lang.module=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.loader=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.ref=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.math=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.module=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED \
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED \
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED \
    --add-opens java.base/java.io=ALL-UNNAMED \
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED \
    --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED \
    --add-opens java.base/java.lang=ALL-UNNAMED \
    --add-opens java.base/java.util=ALL-UNNAMED \
    -Dio.netty.tryReflectionSetAccessible=true \
    -Dio.netty.allocator.useCacheForAllThreads=true -Dio.netty.allocator.maxOrder=11 \
    "-javaagent:$jamm"
}

cassandra_start() {
  mkdir -p "$CASSANDRA_RUN/data"
  # Minimal single-node config: loopback only, no auth, small memtables, one token (no vnode
  # allocation at first start), no waiting for a ring of peers that does not exist.
  cat > "$CASSANDRA_RUN/cassandra.yaml" <<YAML
cluster_name: switchboard-test
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
auto_bootstrap: false
data_file_directories: [$CASSANDRA_RUN/data/data]
commitlog_directory: $CASSANDRA_RUN/data/commitlog
saved_caches_directory: $CASSANDRA_RUN/data/saved_caches
hints_directory: $CASSANDRA_RUN/data/hints
cdc_raw_directory: $CASSANDRA_RUN/data/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:$CASSANDRA_STORAGE_PORT"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: $CASSANDRA_STORAGE_PORT
native_transport_port: $CASSANDRA_PORT
start_native_transport: true
endpoint_snitch: SimpleSnitch
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
role_manager: CassandraRoleManager
memtable_heap_space: 128MiB
memtable_offheap_space: 128MiB
key_cache_size: 16MiB
concurrent_reads: 8
concurrent_writes: 16
concurrent_counter_writes: 8
disk_access_mode: mmap_index_only
read_request_timeout: 10000ms
write_request_timeout: 10000ms
cas_contention_timeout: 5000ms
request_timeout: 20000ms
compaction_throughput: 64MiB/s
snapshot_before_compaction: false
auto_snapshot: false
YAML
  log "starting Cassandra on 127.0.0.1:$CASSANDRA_PORT"
  local flags; mapfile -t flags < <(cassandra_jvm_flags)
  nohup java "${flags[@]}" \
    -Dcassandra.config="file://$CASSANDRA_RUN/cassandra.yaml" \
    -Dcassandra.storagedir="$CASSANDRA_RUN/data" \
    -Dcassandra.logdir="$CASSANDRA_RUN" \
    -Dlogback.configurationFile="$CASSANDRA_HOME/logback.xml" \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=100 \
    -Dcassandra.superuser_setup_delay_ms=0 \
    -cp "$CASSANDRA_HOME/lib/*" org.apache.cassandra.service.CassandraDaemon -f \
    >>"$CASSANDRA_RUN/stdout.log" 2>&1 &
  echo $! > "$CASSANDRA_RUN/pid"
}

# Ready means the CQL native protocol answers: an OPTIONS frame (protocol v4) must get SUPPORTED
# back and a STARTUP must get READY. Raw socket in python3's standard library: no driver needed.
cassandra_ready() {
  [[ -f "$CASSANDRA_HOME/.complete" ]] || return 1
  python3 - "$CASSANDRA_PORT" <<'PY'
import socket, struct, sys
def frame(stream, opcode, body=b""):
    return struct.pack(">BBhBI", 4, 0, stream, opcode, len(body)) + body
def reply(sock):
    head = b""
    while len(head) < 9:
        chunk = sock.recv(9 - len(head))
        if not chunk: sys.exit(1)
        head += chunk
    _, _, _, opcode, length = struct.unpack(">BBhBI", head)
    left = length
    while left > 0:
        chunk = sock.recv(left)
        if not chunk: sys.exit(1)
        left -= len(chunk)
    return opcode
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
    s.sendall(frame(1, 0x05))                      # OPTIONS
    if reply(s) != 0x06: sys.exit(1)               # SUPPORTED
    body = struct.pack(">H", 1) + struct.pack(">H", 11) + b"CQL_VERSION" + struct.pack(">H", 5) + b"3.0.0"
    s.sendall(frame(2, 0x01, body))                # STARTUP
    sys.exit(0 if reply(s) == 0x02 else 1)         # READY
except OSError:
    sys.exit(1)
PY
}

cassandra_stop() { stop_pidfile "$CASSANDRA_RUN/pid" Cassandra 30; }
