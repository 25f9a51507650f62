# syntax=docker/dockerfile:1
# streamsoak container image: one shard of a distributed run (deploy/k8s/),
# or any command:  docker run --rm streamsoak check /scenario/scenario.toml
#
#   docker build -t registry.example.com/streamsoak:0.1.0 .

# ---- build ----
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target/ between builds (BuildKit);
# the binary is copied out of the cached target/ in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
 && install -D -m 0755 target/release/streamsoak /out/streamsoak

# ---- run ----
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 streamsoak \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /reports --shell /usr/sbin/nologin streamsoak \
 && mkdir -p /reports \
 && chown 10001:10001 /reports
COPY --from=builder /out/streamsoak /usr/local/bin/streamsoak
USER 10001:10001
# Default report folder is reports/<name>-<timestamp>/ under the working directory.
WORKDIR /reports
ENTRYPOINT ["streamsoak"]
CMD ["--help"]
