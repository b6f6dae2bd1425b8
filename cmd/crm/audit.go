package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crm-es/crm/audit"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/httpx"
	"github.com/crm-es/crm/readapi"
)

// auditLinker is the audit linker (package audit) running in the
// background: it keeps the per-customer link streams from $all, with its
// checkpoint in the event store, so it runs with or without Redis.
type auditLinker struct {
	linker *audit.Linker
	cancel context.CancelFunc
	done   chan struct{}
}

// startAuditLinker starts the linker; stop ends it.
func startAuditLinker(ctx context.Context, store *eventstore.Store, logger *slog.Logger) *auditLinker {
	l, err := audit.NewLinker(audit.LinkerConfig{Store: store, Logger: logger})
	if err != nil { // only a missing store; never at run time
		panic(err)
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &auditLinker{linker: l, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		if err := l.Run(lctx); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("audit linker stopped", "err", err)
		}
	}()
	return a
}

// stop ends the linker, waiting at most timeout.
func (a *auditLinker) stop(timeout time.Duration) error {
	a.cancel()
	return closeWithin(timeout, func() error { <-a.done; return nil })
}

// withAuditLinker starts the audit linker and returns closeStore extended
// to stop the linker first.
func withAuditLinker(ctx context.Context, store *eventstore.Store, logger *slog.Logger, timeout time.Duration, closeStore func() error) func() error {
	a := startAuditLinker(ctx, store, logger)
	return func() error { return errors.Join(a.stop(timeout), closeStore()) }
}

// mountAuditAPI mounts the audit endpoints (readapi.RegisterAudit) under
// /v1 behind API-key authentication. They read the event log only.
func mountAuditAPI(keys *httpx.Keys, store *eventstore.Store, logger *slog.Logger) func(*gin.Engine) {
	return func(r *gin.Engine) {
		v1 := r.Group("/v1", httpx.Authenticate(keys))
		if err := readapi.RegisterAudit(v1, readapi.AuditConfig{Log: audit.NewLog(audit.LogConfig{Store: store, Logger: logger}), Logger: logger}); err != nil {
			logger.Error("audit API not mounted", "err", err)
		}
	}
}
