# An S3-compatible server for the archiver's tests: s3s-fs (the s3s project's file-system
# backed S3 server, real S3 protocol with SigV4 authentication) on 127.0.0.1:9000, built from
# crates.io with `cargo install` (about 4.5 minutes on 2 cores, once; cached in $SB_CACHE/s3).
# The bucket is a directory under the server's root; it is created before the server starts.
# s3s-fs 0.15+ needs rustc 1.96; 0.14.1 builds on the workspace's 1.95.
S3S_VERSION="${S3S_VERSION:-0.14.1}"
S3_HOME="$SB_CACHE/s3"
S3_RUN="$SB_RUN/s3"
S3_PORT="${S3_PORT:-9000}"
S3_BUCKET="${S3_BUCKET:-switchboard-test}"
# Fixed test credentials (loopback only); the tests read the same values by default.
S3_ACCESS_KEY="${S3_ACCESS_KEY:-switchboard}"
S3_SECRET_KEY="${S3_SECRET_KEY:-switchboard-secret}"

s3_describe() { echo "http://127.0.0.1:$S3_PORT bucket $S3_BUCKET (s3s-fs $S3S_VERSION, log $S3_RUN/s3.log)"; }

s3_install() {
  [[ -x "$S3_HOME/bin/s3s-fs" ]] && "$S3_HOME/bin/s3s-fs" --version 2>/dev/null | grep -q "$S3S_VERSION" && return 0
  log "building s3s-fs $S3S_VERSION into $S3_HOME (cargo install, a few minutes)"
  mkdir -p "$S3_HOME"
  # A target dir of its own under the cache, so the build never touches a workspace's target/.
  CARGO_TARGET_DIR="$S3_HOME/build" cargo install s3s-fs --version "$S3S_VERSION" --features binary \
    --locked --root "$S3_HOME" >&2
  rm -rf "$S3_HOME/build"
}

s3_start() {
  mkdir -p "$S3_RUN/data/$S3_BUCKET"
  log "starting s3s-fs on 127.0.0.1:$S3_PORT (bucket $S3_BUCKET)"
  nohup "$S3_HOME/bin/s3s-fs" --host 127.0.0.1 --port "$S3_PORT" \
    --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" "$S3_RUN/data" >>"$S3_RUN/s3.log" 2>&1 &
  echo $! > "$S3_RUN/pid"
}

# Ready means a signed HEAD of the test bucket succeeds: the server answers S3 and the bucket is there.
s3_ready() {
  [[ -x "$S3_HOME/bin/s3s-fs" ]] || return 1
  # s3s insists on the payload hash header; this one is the SHA-256 of the empty body.
  curl -sf -o /dev/null -I --max-time 5 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
    -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
    "http://127.0.0.1:$S3_PORT/$S3_BUCKET"
}

# Also any s3s-fs still serving this cache's data directory whose pid file was overwritten (a start
# that failed because it held the port).
s3_stop() {
  stop_pidfile "$S3_RUN/pid" s3s-fs 10
  pkill -f -- "$S3_HOME/bin/s3s-fs --host 127.0.0.1 --port $S3_PORT .* $S3_RUN/data" 2>/dev/null || true
}
