# syntax=docker/dockerfile:1
# Build: the bundled librdkafka needs a C toolchain, make and zlib headers.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake zlib1g-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin switchboard

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/switchboard switchboard \
 && mkdir -p /var/lib/switchboard/data && chown -R switchboard /var/lib/switchboard
COPY --from=build /src/target/release/switchboard /usr/local/bin/switchboard
COPY rules /etc/switchboard/rules
COPY transforms /etc/switchboard/transforms
USER switchboard
WORKDIR /var/lib/switchboard
ENV SWITCHBOARD_RULES=/etc/switchboard/rules SWITCHBOARD_TRANSFORMS=/etc/switchboard/transforms SWITCHBOARD_DATA=/var/lib/switchboard/data
EXPOSE 8080
ENTRYPOINT ["switchboard"]
CMD ["serve", "--listen", "0.0.0.0:8080"]
