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
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/crm-es/crm/demo"
	"github.com/crm-es/crm/eventstore"
)

// demoConfig is the configuration of "crm demo".
type demoConfig struct {
	dataDir       string
	eventStoreURL string // empty: embedded event store under dataDir
	seed          uint64
	customers     int
	file          string // the full Online Retail file; empty = the embedded slice
	workers       int
	progress      string // auto, bar, log, none
	keepDates     bool   // keep the data set's 2010–2011 dates instead of ending the story this week
	logLevel      slog.Level
}

func parseDemoConfig(args []string, getenv func(string) string, stderr io.Writer) (demoConfig, error) {
	var (
		cfg   demoConfig
		level string
		seed  string
	)
	fs := flag.NewFlagSet("crm demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.dataDir, "data", envOr(getenv, "CRM_DATA_DIR", defaultDataDir), "data `directory` of the embedded event store (env CRM_DATA_DIR)")
	fs.StringVar(&seed, "seed", "1", "`seed` of the generated data (an unsigned integer; the same seed, the same data)")
	fs.IntVar(&cfg.customers, "customers", demo.EmbeddedCustomers, "Online Retail customers to import (more than the embedded slice's needs --online-retail)")
	fs.StringVar(&cfg.file, "online-retail", "", "cut the slice from this Online Retail `file` (csv or csv.gz) instead of the embedded slice")
	fs.IntVar(&cfg.workers, "workers", demo.DefaultWorkers, "concurrent writers")
	fs.BoolVar(&cfg.keepDates, "keep-dates", false, "keep the data set's 2010-2011 dates (default: the story is moved by whole weeks to end this week)")
	fs.StringVar(&cfg.progress, "progress", "auto", "progress display: auto (a bar on a terminal, log lines otherwise), bar, log or none")
	fs.StringVar(&level, "log-level", envOr(getenv, "CRM_LOG_LEVEL", defaultLogLevel), "log `level`: debug, info, warn or error (env CRM_LOG_LEVEL)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: crm demo [flags]

Loads the demo data set: a slice of the UCI Online Retail data set (Daqing
Chen, 2015, CC BY 4.0; 250 customers, embedded in the binary) with their
orders, plus generated CRM work around them (owners, profiles, contacts,
interactions, deliveries and payments, opportunities, service requests,
churn warnings), all through the command handlers. The same seed gives the
same data; running it again appends nothing. "crm serve --demo" loads it on
the first start of an empty store.

Environment:
  EVENTSTORE_URL   esdb:// connection string of a KurrentDB node or cluster
                   (unset: the embedded store under DATA/eventstore)

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return cfg, err
	}
	cfg.eventStoreURL = strings.TrimSpace(getenv("EVENTSTORE_URL"))

	var errs []error
	s, err := strconv.ParseUint(strings.TrimSpace(seed), 10, 64)
	if err != nil {
		errs = append(errs, fmt.Errorf("--seed %q: want an unsigned integer such as 1 or 42", seed))
	}
	cfg.seed = s
	switch {
	case cfg.customers < 1:
		errs = append(errs, fmt.Errorf("--customers must be at least 1, not %d", cfg.customers))
	case cfg.customers > demo.EmbeddedCustomers && cfg.file == "":
		errs = append(errs, fmt.Errorf("--customers %d: the embedded slice holds %d customers; give the full file with --online-retail for more", cfg.customers, demo.EmbeddedCustomers))
	}
	if cfg.workers < 1 || cfg.workers > 256 {
		errs = append(errs, errors.New("--workers must be between 1 and 256"))
	}
	lvl, shared := checkStoreCommandFlags(cfg.dataDir, cfg.eventStoreURL, cfg.progress, level)
	cfg.logLevel = lvl
	return cfg, errors.Join(append(errs, shared...)...)
}

// runDemo is "crm demo".
func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseDemoConfig(args, getenv, stderr)
	if code, done := configExit("crm demo", err, stderr); done {
		return code
	}
	logger := newLogger(stderr, cfg.logLevel)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	opts := demo.Options{Seed: cfg.seed, Customers: cfg.customers, Workers: cfg.workers, Logger: logger,
		Progress: progressFor(cfg.progress, stderr, logger)}
	if !cfg.keepDates {
		opts.EndBy = time.Now()
	}
	if cfg.file != "" {
		f, err := os.Open(cfg.file)
		if err != nil {
			logger.Error("crm demo failed", "err", err)
			return exitFailure
		}
		defer f.Close()
		opts.Source = f
	}
	if cfg.eventStoreURL == "" {
		logger.Info("opening event store", "mode", "embedded", "dir", cfg.dataDir+"/eventstore")
	} else {
		logger.Info("opening event store", "mode", "external", "url", redactURL(cfg.eventStoreURL))
	}
	store, err := eventstore.Open(ctx, eventstore.Config{URL: cfg.eventStoreURL, DataDir: cfg.dataDir, Logger: logger})
	if err != nil {
		logger.Error("crm demo failed", "err", fmt.Errorf("open event store: %w", err))
		return exitFailure
	}
	defer func() {
		if err := closeWithin(defaultShutdownTimeout, store.Close); err != nil {
			logger.Warn("close event store", "err", err)
		}
	}()
	sum, err := demo.Load(ctx, store, opts)
	if sum != nil {
		sum.WriteText(stdout)
	}
	if err != nil {
		logger.Error("crm demo failed", "err", err)
		return exitFailure
	}
	return exitOK
}

// demoStore is what loading the demo on first start needs.
type demoStore interface {
	demo.Store
	ReadAll(ctx context.Context, after eventstore.Checkpoint, limit int) ([]eventstore.Recorded, error)
}

// demoMarker is the file, in the data directory, that says a first-start
// demo load began and has not finished.
const demoMarker = ".demo-loading"

// demoEndByPrefix starts the marker's line holding the story's end.
const demoEndByPrefix = "end-by: "

// markerEndBy reads the story's end from a demo marker file (an older
// marker has none).
func markerEndBy(path string) (time.Time, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, demoEndByPrefix); ok {
			t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
			return t, err == nil
		}
	}
	return time.Time{}, false
}

// loadDemoIfEmpty loads the demo (crm serve --demo: the defaults, seed 1)
// into an event store that holds no event yet; a store with events is left
// as it is, unless an earlier first-start load was interrupted (its marker
// file DATA/.demo-loading is still there): then the load runs again, which
// completes it (Load is idempotent).
func loadDemoIfEmpty(ctx context.Context, store demoStore, opts demo.Options, dataDir string, logger *slog.Logger, stderr io.Writer) error {
	marker := filepath.Join(dataDir, demoMarker)
	_, statErr := os.Stat(marker)
	interrupted := statErr == nil
	if !interrupted {
		first, err := store.ReadAll(ctx, eventstore.Checkpoint{}, 1)
		if err != nil {
			return fmt.Errorf("demo: read the event store: %w", err)
		}
		if len(first) > 0 {
			logger.Info("demo data not loaded: the event store already holds events")
			return nil
		}
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if opts.EndBy.IsZero() {
			opts.EndBy = time.Now()
		}
		// The marker keeps the story's end, so a completing start moves the
		// dates exactly as the interrupted one did.
		note := "crm serve --demo is loading the demo data; if this file remains, the next start completes it\n" +
			demoEndByPrefix + opts.EndBy.UTC().Format(time.RFC3339Nano) + "\n"
		if err := os.WriteFile(marker, []byte(note), 0o644); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		logger.Info("empty event store: loading the demo data (crm serve --demo)")
	} else {
		logger.Info("completing an interrupted demo load (crm serve --demo)", "marker", marker)
		if t, ok := markerEndBy(marker); ok {
			opts.EndBy = t
		} else if opts.EndBy.IsZero() {
			opts.EndBy = time.Now()
		}
	}
	opts.Logger = logger
	if opts.Progress == nil {
		opts.Progress = progressFor("auto", stderr, logger)
	}
	sum, err := demo.Load(ctx, store, opts)
	if err != nil {
		return fmt.Errorf("load the demo data (the next start with --demo completes it): %w", err)
	}
	if err := os.Remove(marker); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	logger.Info("demo data loaded", "customers", sum.Customers, "orders", sum.Import.Orders, "commands", sum.Recorded,
		"took", sum.Duration.Round(time.Millisecond).String())
	return nil
}
