# hookbridge: multi-stage build, small non-root runtime image.
#   docker build -t hookbridge .
#   docker run -p 8080:8080 -v hookbridge-data:/var/lib/hookbridge \
#     -e WEBHOOK_SECRET=... -e SLACK_BOT_TOKEN=... hookbridge
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY templates ./templates
COPY benches ./benches
RUN cargo build --release --locked --bin hookbridge

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/hookbridge --shell /usr/sbin/nologin hookbridge \
 && mkdir -p /etc/hookbridge /var/lib/hookbridge \
 && chown hookbridge:hookbridge /var/lib/hookbridge
COPY --from=build /src/target/release/hookbridge /usr/local/bin/hookbridge
COPY bridge.toml /etc/hookbridge/bridge.toml
COPY templates /etc/hookbridge/templates
ENV HOOKBRIDGE_CONFIG=/etc/hookbridge/bridge.toml \
    HOOKBRIDGE_LISTEN=0.0.0.0:8080 \
    HOOKBRIDGE_STORE=/var/lib/hookbridge/hookbridge.db
USER hookbridge
WORKDIR /var/lib/hookbridge
VOLUME ["/var/lib/hookbridge"]
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/hookbridge"]
CMD ["serve"]
