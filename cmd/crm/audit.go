package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	closeAll, _ := withAuditLinkerMetrics(ctx, store, logger, timeout, closeStore)
	return closeAll
}

// withAuditLinkerMetrics is withAuditLinker that also returns the linker's
// /metrics source.
func withAuditLinkerMetrics(ctx context.Context, store *eventstore.Store, logger *slog.Logger, timeout time.Duration, closeStore func() error) (func() error, metricsSource) {
	a := startAuditLinker(ctx, store, logger)
	return func() error { return errors.Join(a.stop(timeout), closeStore()) }, a.writeMetrics
}

// writeMetrics writes the linker's gauges and counters (a /metrics source).
func (a *auditLinker) writeMetrics(_ context.Context, w io.Writer) error {
	live := 0
	if a.linker.Live() {
		live = 1
	}
	failing := 0
	if a.linker.Err() != nil {
		failing = 1
	}
	_, err := fmt.Fprintf(w, `# HELP crm_audit_linker_checkpoint $all commit position up to which every customer event is linked (stored checkpoint).
# TYPE crm_audit_linker_checkpoint gauge
crm_audit_linker_checkpoint %d
# HELP crm_audit_linker_live 1 once the audit linker has caught up with $all.
# TYPE crm_audit_linker_live gauge
crm_audit_linker_live %d
# HELP crm_audit_linker_links_total Links appended to customer link streams by this process.
# TYPE crm_audit_linker_links_total counter
crm_audit_linker_links_total %d
# HELP crm_audit_linker_unattributed_total Events of aggregate streams the linker could not give to a customer (each logged).
# TYPE crm_audit_linker_unattributed_total counter
crm_audit_linker_unattributed_total %d
# HELP crm_audit_linker_restarted 1 when the linker's last run failed and it restarted from its checkpoint.
# TYPE crm_audit_linker_restarted gauge
crm_audit_linker_restarted %d
`, a.linker.Saved().Commit, live, a.linker.Linked(), a.linker.Unattributed(), failing)
	return err
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
