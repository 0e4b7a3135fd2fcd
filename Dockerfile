# planform in a small image that runs as a non-root user.
#
#   docker build -t planform .
#   docker run --rm -v "$PWD:/work" planform plan
#
# The build stage compiles a static (musl) binary on Alpine; the image is Alpine with CA
# certificates (for the clouds' HTTPS endpoints), the binary and a user without privileges.

FROM rust:1.95-alpine3.22 AS build
# aws-lc-sys (TLS for the AWS SDK) builds C code: a compiler, cmake and perl.
RUN apk add --no-cache musl-dev build-base cmake perl
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p planform \
    && cp target/release/planform /usr/local/bin/planform

FROM alpine:3.22
RUN apk add --no-cache ca-certificates \
    && adduser -D -H -u 10001 planform
COPY --from=build /usr/local/bin/planform /usr/local/bin/planform
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/planform"]
CMD ["--help"]
