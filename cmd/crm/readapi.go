package main

import (
	"log/slog"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/httpx"
	"github.com/crm-es/crm/readapi"
)

// mountQueryAPI mounts the query endpoints (readapi) under /v1, behind
// API-key authentication, over the read models in rdb.
func mountQueryAPI(keys *httpx.Keys, store eventstore.AllReader, rdb redis.UniversalClient, logger *slog.Logger) func(*gin.Engine) {
	return func(r *gin.Engine) {
		v1 := r.Group("/v1", httpx.Authenticate(keys))
		if err := readapi.Register(v1, readapi.Config{Redis: rdb, Store: store, Projections: allProjections(), Logger: logger}); err != nil {
			logger.Error("query API not mounted", "err", err)
		}
	}
}
