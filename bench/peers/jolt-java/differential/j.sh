#!/bin/sh
# The reference's side: JSON-lines cases on stdin, one JSON-lines answer each (one JVM).
here="$(cd "$(dirname "$0")" && pwd)"
exec java -cp "$here/java/target/classes:$(cat "$here/java/target/classpath.txt")" jdiff.Cli "$@"
