# The astro-deploy container: the binary, git and CA certificates on Debian, for CI systems that
# run jobs in an image (GitLab CI, Bitbucket Pipelines, CircleCI, Jenkins) or `docker run`.
#
#   docker build -t astro-deploy .
#   docker run --rm -e ASTRO_API_TOKEN -v "$PWD:/workspace" astro-deploy deploy --deployment-id ID
#
# DAG deploys need no Docker daemon inside the container. Image deploys build with the builder
# they find (docker, podman or buildah), and this image ships none of them.

# --- build -------------------------------------------------------------------------------------
FROM rust:1-slim-bookworm AS build

WORKDIR /src

# The workspace's manifests name every member (crates/*, tests) and the CLI's test and bench
# targets (tests/, benchmarks/), so cargo needs them all to load the workspace; .dockerignore
# keeps everything else (target/, .test-deps/, .git/) out of the build context.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY tests ./tests
COPY benchmarks ./benchmarks

RUN cargo build --release --locked -p astro-deploy

# --- runtime -----------------------------------------------------------------------------------
FROM debian:bookworm-slim

LABEL org.opencontainers.image.title="astro-deploy" \
    org.opencontainers.image.description="Deploys Apache Airflow projects to Astro from CI" \
    org.opencontainers.image.source="https://github.com/astro-deploy/astro-deploy" \
    org.opencontainers.image.licenses="Apache-2.0"

# Unpinned on purpose: Debian stable serves only the newest build of a package, so an exact
# version pin stops building as soon as a security fix lands. The base image tag is the pin;
# rebuilding the image picks up the fixes.
# git: CI jobs that run in this image check out and compare commits (CircleCI's `checkout`,
# scripts); ca-certificates: HTTPS to Astro and its registry and storage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 astro-deploy \
    && useradd --uid 10001 --gid 10001 --create-home --shell /bin/bash astro-deploy \
    && mkdir /workspace \
    && chown 10001:10001 /workspace

COPY --from=build /src/target/release/astro-deploy /usr/local/bin/astro-deploy

# Numeric, so that a runtime enforcing non-root users (Kubernetes runAsNonRoot) can verify it.
USER 10001:10001
WORKDIR /workspace

ENTRYPOINT ["astro-deploy"]
CMD ["--help"]
