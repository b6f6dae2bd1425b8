package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/importer"
)

// importConfig is the configuration of "crm import online-retail".
type importConfig struct {
	file          string
	dataDir       string
	eventStoreURL string // empty: embedded event store under dataDir
	workers       int
	progress      string // auto, bar, log, none
	logLevel      slog.Level
}

func parseImportConfig(args []string, getenv func(string) string, stderr io.Writer) (importConfig, error) {
	var (
		cfg   importConfig
		level string
	)
	fs := flag.NewFlagSet("crm import online-retail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.dataDir, "data", envOr(getenv, "CRM_DATA_DIR", defaultDataDir), "data `directory` of the embedded event store (env CRM_DATA_DIR)")
	fs.IntVar(&cfg.workers, "workers", importer.DefaultWorkers, "concurrent writers (each customer's events are written by one of them, in order)")
	fs.StringVar(&cfg.progress, "progress", "auto", "progress display: auto (a bar on a terminal, log lines otherwise), bar, log or none")
	fs.StringVar(&level, "log-level", envOr(getenv, "CRM_LOG_LEVEL", defaultLogLevel), "log `level`: debug, info, warn or error (env CRM_LOG_LEVEL)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: crm import online-retail [flags] FILE

Imports the UCI "Online Retail" data set (Daqing Chen, 2015, CC BY 4.0) from
FILE, plain CSV or gzip-compressed (detected from the content): customers
(region = country), one OrderPlaced per invoice, cancellations ("C" invoices)
as OrderCancelled or OrderReturned on the customer's matching order. Guest
lines (no CustomerID) are counted, not imported. Running it again appends
nothing.

Environment:
  EVENTSTORE_URL   esdb:// connection string of a KurrentDB node or cluster
                   (unset: the embedded store under DATA/eventstore)

Flags:
`)
		fs.PrintDefaults()
	}
	// Accept flags before and after FILE.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, flagError{err}
	}
	rest := fs.Args()
	if len(rest) > 0 {
		cfg.file = rest[0]
		if err := fs.Parse(rest[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return cfg, err
			}
			return cfg, flagError{err}
		}
		if fs.NArg() > 0 {
			return cfg, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
		}
	}
	cfg.eventStoreURL = strings.TrimSpace(getenv("EVENTSTORE_URL"))

	var errs []error
	if cfg.file == "" {
		errs = append(errs, errors.New("missing FILE (the Online Retail CSV or CSV.GZ file)"))
	}
	if cfg.workers < 1 || cfg.workers > 1024 {
		errs = append(errs, errors.New("--workers must be between 1 and 1024"))
	}
	lvl, shared := checkStoreCommandFlags(cfg.dataDir, cfg.eventStoreURL, cfg.progress, level)
	cfg.logLevel = lvl
	return cfg, errors.Join(append(errs, shared...)...)
}

// runImport is "crm import SOURCE ...".
func runImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "online-retail" {
		fmt.Fprint(stderr, "crm import: expected a source: \"online-retail FILE\"\n\n"+usage)
		return exitUsage
	}
	cfg, err := parseImportConfig(args[1:], getenv, stderr)
	if code, done := configExit("crm import online-retail", err, stderr); done {
		return code
	}
	logger := newLogger(stderr, cfg.logLevel)

	// The import holds the whole file's invoices (~150 MB) while it writes:
	// collecting garbage less often saves a third of its CPU time, for
	// about twice the memory.
	defer debug.SetGCPercent(debug.SetGCPercent(400))

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := importOnlineRetail(ctx, cfg, logger, stderr)
	if sum != nil {
		sum.WriteText(stdout)
	}
	if err != nil {
		logger.Error("crm import online-retail failed", "err", err)
		return exitFailure
	}
	return exitOK
}

func importOnlineRetail(ctx context.Context, cfg importConfig, logger *slog.Logger, stderr io.Writer) (*importer.Summary, error) {
	f, err := os.Open(cfg.file)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	if cfg.eventStoreURL == "" {
		logger.Info("opening event store", "mode", "embedded", "dir", cfg.dataDir+"/eventstore")
	} else {
		logger.Info("opening event store", "mode", "external", "url", redactURL(cfg.eventStoreURL))
	}
	store, err := eventstore.Open(ctx, eventstore.Config{URL: cfg.eventStoreURL, DataDir: cfg.dataDir, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	defer func() {
		if err := closeWithin(defaultShutdownTimeout, store.Close); err != nil {
			logger.Warn("close event store", "err", err)
		}
	}()

	sum, err := importer.ImportOnlineRetail(ctx, store, f, importer.Options{
		Workers:  cfg.workers,
		Logger:   logger,
		Progress: progressFor(cfg.progress, stderr, logger),
	})
	return sum, err
}

// checkStoreCommandFlags checks what the offline commands on the event
// store (import, demo, export) share: a data directory unless
// EVENTSTORE_URL names a store, --progress, EVENTSTORE_URL and the log
// level. It returns the log level and the problems found.
func checkStoreCommandFlags(dataDir, eventStoreURL, progress, level string) (slog.Level, []error) {
	var errs []error
	if dataDir == "" && eventStoreURL == "" {
		errs = append(errs, errors.New("--data (CRM_DATA_DIR) must not be empty"))
	}
	if err := validateProgress(progress); err != nil {
		errs = append(errs, err)
	}
	if err := validateEventStoreURL(eventStoreURL); err != nil {
		errs = append(errs, err)
	}
	lvl, err := parseLogLevel(level)
	if err != nil {
		errs = append(errs, err)
	}
	return lvl, errs
}

// validateProgress checks a --progress value (what progressFor takes).
func validateProgress(mode string) error {
	switch mode {
	case "auto", "bar", "log", "none":
		return nil
	}
	return fmt.Errorf("--progress %q: want auto, bar, log or none", mode)
}

// progressFor picks the progress display: a bar on a terminal, log lines
// otherwise (or as asked).
func progressFor(mode string, stderr io.Writer, logger *slog.Logger) importer.Progress {
	if mode == "auto" {
		mode = "log"
		if f, ok := stderr.(*os.File); ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
			mode = "bar"
		}
	}
	switch mode {
	case "bar":
		return importer.NewBar(stderr)
	case "log":
		return importer.NewLogProgress(logger, 2*time.Second)
	}
	return importer.NoProgress{}
}
