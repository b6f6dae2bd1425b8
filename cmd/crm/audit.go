package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
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

const auditUsage = `Usage: crm audit verify [--json] FILE

Checks the hash chains of an export (crm export's NDJSON; FILE "-" reads
stdin) offline, without an event store: per stream, every event must chain
from the previous one (a stream whose export starts after revision 0, e.g.
with --since, chains from its first exported event). Prints one line per
stream (or a JSON array with --json) and exits 0 when every chain holds,
1 when one is broken or the file is not an export, 2 on a usage error.

Flags:
`

// runAudit is "crm audit verify FILE".
func runAudit(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(stderr, "crm audit: expected subcommand \"verify FILE\"\n\n"+auditUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("crm audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the reports as JSON")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), auditUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, "crm audit verify: expected exactly one FILE (\"-\" for stdin)\n")
		return exitUsage
	}
	var in io.Reader = os.Stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "crm audit verify: %v\n", err)
			return exitFailure
		}
		defer f.Close()
		in = f
	}
	reps, err := audit.VerifyNDJSON(bufio.NewReaderSize(in, 1<<20))
	if err != nil {
		fmt.Fprintf(stderr, "crm audit verify: %s: %v\n", fs.Arg(0), err)
		return exitFailure
	}
	broken, events := 0, 0
	for _, r := range reps {
		events += r.Events
		if !r.OK {
			broken++
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if reps == nil {
			reps = []audit.StreamReport{}
		}
		_ = enc.Encode(reps)
	} else {
		for _, r := range reps {
			if r.OK {
				fmt.Fprintf(stdout, "ok      %s  %d events, last revision %d, hash %s\n", r.Stream, r.Events, *r.LastRevision, r.LastHash)
				continue
			}
			b := r.FirstBreak
			fmt.Fprintf(stdout, "BROKEN  %s  at revision %d (%s): expected %q, found %q: %s\n", r.Stream, b.Revision, b.Check, b.Expected, b.Found, b.Reason)
		}
		fmt.Fprintf(stdout, "%d streams, %d events checked, %d broken\n", len(reps), events, broken)
	}
	if broken > 0 {
		return exitFailure
	}
	return exitOK
}
