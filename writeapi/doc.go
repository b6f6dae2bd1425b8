// Package writeapi is the command side of the HTTP API (DESIGN §8): Gin
// routes for every command endpoint under /v1, strict decoding and
// validation of the request bodies (problem+json naming every bad field by
// its body name), the Idempotency-Key and If-Match headers, the role
// matrix, and the {id, stream, revision, position} replies with the
// X-Event-Position header.
//
// Import rule: commands, domain and internal/... (httpx); never projections,
// readapi or cmd, and no flags or environment variables.
package writeapi
