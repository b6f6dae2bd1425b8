package main

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPIDocument is the OpenAPI 3 description of the HTTP API: every
// command, query and audit endpoint under /v1 and the ops endpoints.
// TestOpenAPIMatchesRoutes keeps it in sync with the routes the router of
// crm serve registers (both ways), with the command bodies writeapi
// accepts and with real answers; TestOpenAPIResponseSchemas requires the
// read-model and audit schemas to be the JSON of their Go types. When a
// read model changes, CRM_OPENAPI_SCHEMAS_OUT=FILE go test -run
// TestOpenAPIResponseSchemas ./cmd/crm writes the new schemas to paste into
// components.schemas.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPIHandler serves the document (GET /openapi.json, no API key).
func openAPIHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, "application/json", openAPIDocument)
	}
}
