package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/crm-es/crm/audit"
	"github.com/crm-es/crm/eventstore"
)

// exportConfig is the configuration of "crm export".
type exportConfig struct {
	dataDir       string
	eventStoreURL string
	out           string // "" or "-": stdout
	filter        audit.ExportFilter
	progress      string
	logLevel      slog.Level
}

// listFlag is a flag that may be repeated and takes comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return errors.New("empty value")
		}
		*l = append(*l, part)
	}
	return nil
}

// timeFlag is an RFC 3339 time or a date (audit.ParseTime).
type timeFlag struct{ t *time.Time }

func (f timeFlag) String() string {
	if f.t == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339Nano)
}

func (f timeFlag) Set(v string) error {
	t, err := audit.ParseTime(v)
	if err != nil {
		return err
	}
	*f.t = t
	return nil
}

const exportUsage = `Usage: crm export [flags]

Writes the event log as NDJSON: one line per event, in $all order, in the
audit event shape (stream, revision, position, eventId, type, recordedAt,
occurredAt, actor, correlationId, causationId, data, metadata). System
events (links, checkpoints, stream metadata) are left out unless --system.
The hash-chain metadata is exported verbatim, so an exported stream can be
verified elsewhere. Progress goes to stderr.

Environment:
  EVENTSTORE_URL   esdb:// connection string (unset: the embedded store under
                   DATA/eventstore, which must not be open in another process)

Examples:
  crm export --prefix customer-,order- --since 2024-01-01 --out log.ndjson
  crm export --type OrderPlaced --type OrderCancelled --until 2024-07-01T00:00:00Z

Flags:
`

func parseExportConfig(args []string, getenv func(string) string, stderr io.Writer) (exportConfig, error) {
	var (
		cfg      exportConfig
		level    string
		prefixes listFlag
		types    listFlag
	)
	fs := flag.NewFlagSet("crm export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.dataDir, "data", envOr(getenv, "CRM_DATA_DIR", defaultDataDir), "data `directory` of the embedded event store (env CRM_DATA_DIR)")
	fs.Var(&prefixes, "prefix", "export only streams whose name starts with `PREFIX` (repeat or separate with commas)")
	fs.Var(&types, "type", "export only events of `TYPE` (repeat or separate with commas)")
	fs.Var(timeFlag{&cfg.filter.Since}, "since", "export only events recorded at or after `TIME` (RFC 3339 or YYYY-MM-DD, UTC)")
	fs.Var(timeFlag{&cfg.filter.Until}, "until", "export only events recorded before `TIME` (RFC 3339 or YYYY-MM-DD, UTC)")
	fs.BoolVar(&cfg.filter.IncludeSystem, "system", false, "include system events ($-typed events and $-streams)")
	fs.StringVar(&cfg.out, "out", "", "write to `FILE` instead of stdout (written to FILE.tmp, then renamed)")
	fs.StringVar(&cfg.progress, "progress", "auto", "progress display on stderr: auto (a bar on a terminal, log lines otherwise), bar, log or none")
	fs.StringVar(&level, "log-level", envOr(getenv, "CRM_LOG_LEVEL", defaultLogLevel), "log `level`: debug, info, warn or error (env CRM_LOG_LEVEL)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), exportUsage)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return cfg, err
	}
	cfg.filter.StreamPrefixes, cfg.filter.Types = prefixes, types
	cfg.eventStoreURL = strings.TrimSpace(getenv("EVENTSTORE_URL"))
	var errs []error
	if f := cfg.filter; !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		errs = append(errs, fmt.Errorf("--since %s is not before --until %s: the time range is empty", f.Since.Format(time.RFC3339Nano), f.Until.Format(time.RFC3339Nano)))
	}
	lvl, shared := checkStoreCommandFlags(cfg.dataDir, cfg.eventStoreURL, cfg.progress, level)
	cfg.logLevel = lvl
	return cfg, errors.Join(append(errs, shared...)...)
}

// runExport is "crm export".
func runExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseExportConfig(args, getenv, stderr)
	if code, done := configExit("crm export", err, stderr); done {
		return code
	}
	logger := newLogger(stderr, cfg.logLevel)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := exportLog(ctx, cfg, logger, stdout, stderr)
	if err != nil {
		logger.Error("crm export failed", "err", err)
		fmt.Fprintf(stderr, "crm export: %v\n", err)
		return exitFailure
	}
	logger.Info("export done", "events", n)
	return exitOK
}

func exportLog(ctx context.Context, cfg exportConfig, logger *slog.Logger, stdout, stderr io.Writer) (int, error) {
	if cfg.eventStoreURL == "" {
		// Opening the embedded store creates it: a mistyped --data would
		// export an empty log without a word.
		dir := filepath.Join(cfg.dataDir, "eventstore")
		if _, err := os.Stat(dir); err != nil {
			return 0, fmt.Errorf("no event store in %s (check --data / CRM_DATA_DIR, or set EVENTSTORE_URL): %w", dir, err)
		}
	}
	store, err := eventstore.Open(ctx, eventstore.Config{URL: cfg.eventStoreURL, DataDir: cfg.dataDir, Logger: logger})
	if err != nil {
		return 0, fmt.Errorf("open event store: %w", err)
	}
	defer func() {
		if err := closeWithin(defaultShutdownTimeout, store.Close); err != nil {
			logger.Warn("close event store", "err", err)
		}
	}()

	w, commit := stdout, func() error { return nil }
	if cfg.out != "" && cfg.out != "-" {
		tmp := cfg.out + ".tmp"
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return 0, fmt.Errorf("--out: %w", err)
		}
		defer func() { _ = f.Close(); _ = os.Remove(tmp) }()
		bw := bufio.NewWriterSize(f, 1<<20)
		w = bw
		commit = func() error {
			if err := bw.Flush(); err != nil {
				return err
			}
			if err := f.Sync(); err != nil {
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			return os.Rename(tmp, filepath.Clean(cfg.out))
		}
	}

	progress := progressFor(cfg.progress, stderr, logger)
	started, done := false, 0
	n, err := audit.Export(ctx, store, w, cfg.filter, func(p audit.ExportProgress) {
		if !started {
			progress.Start("exporting events", int(p.Head))
			started = true
		}
		progress.Add(int(p.Position) - done)
		done = int(p.Position)
	})
	if started {
		progress.Done()
	}
	if err != nil {
		return n, err
	}
	return n, commit()
}
