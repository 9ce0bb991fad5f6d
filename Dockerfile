# Build: docker build -t scimgate .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p scimgate

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/scimgate scimgate && mkdir -p /var/lib/scimgate && chown scimgate /var/lib/scimgate
COPY --from=build /src/target/release/scimgate /usr/local/bin/scimgate
USER scimgate
WORKDIR /var/lib/scimgate
ENV SCIMGATE_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["scimgate"]
CMD ["serve"]
