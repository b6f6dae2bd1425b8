# syntax=docker/dockerfile:1

# Build stage: a static binary (no cgo).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/crm ./cmd/crm \
 && mkdir -p /out/data

# Runtime stage: distroless, no shell, runs as the unprivileged "nonroot" user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/crm /usr/local/bin/crm
# The data directory (embedded event store, API key file) belongs to nonroot,
# so that a named volume mounted here is writable.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV CRM_DATA_DIR=/data \
    CRM_HTTP_ADDR=0.0.0.0:8080
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/crm", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/crm"]
CMD ["serve"]
