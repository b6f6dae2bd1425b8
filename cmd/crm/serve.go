package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/demo"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/memredis"
)

// runServe is "crm serve": the HTTP API over the event store, with the
// projectors and the churn scorer in-process (on REDIS_URL's Redis, or on
// the embedded read store).
func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseServeConfig(args, getenv, stderr)
	if code, done := configExit("crm serve", err, stderr); done {
		return code
	}
	logger := newLogger(stderr, cfg.logLevel)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, stop, cfg, logger, stderr); err != nil {
		logger.Error("crm serve failed", "err", err)
		return exitFailure
	}
	return exitOK
}

// serve runs until ctx is done (a signal), then shuts down gracefully:
// in-flight HTTP requests first, then the event store. stopSignals is called
// once shutdown starts, so that a second signal kills the process.
func serve(ctx context.Context, stopSignals func(), cfg serveConfig, logger *slog.Logger, stderr io.Writer) error {
	// Listen first: a busy or bad address fails before the store is opened.
	ln, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	defer ln.Close()

	keys, err := loadAPIKeys(cfg, logger, stderr)
	if err != nil {
		return err
	}

	if cfg.eventStoreURL == "" {
		logger.Info("opening event store", "mode", "embedded", "dir", filepath.Join(cfg.dataDir, "eventstore"))
	} else {
		logger.Info("opening event store", "mode", "external", "url", redactURL(cfg.eventStoreURL))
	}
	store, err := eventstore.Open(ctx, eventstore.Config{
		URL:     cfg.eventStoreURL,
		DataDir: cfg.dataDir,
		Logger:  logger, // the package tags its lines with its own components
	})
	if err != nil {
		if ctx.Err() != nil {
			logger.Info("stopped before ready: interrupted while opening the event store")
			return nil
		}
		return fmt.Errorf("open event store: %w", err)
	}
	closeStore := func() error {
		if err := closeWithin(cfg.shutdownTimeout, store.Close); err != nil {
			return fmt.Errorf("close event store: %w", err)
		}
		return nil
	}
	closeStore, linkerMetrics := withAuditLinkerMetrics(ctx, store, logger, cfg.shutdownTimeout, closeStore) // audit link streams; runs without Redis too

	if cfg.demo {
		if err := loadDemoIfEmpty(ctx, store, demo.Options{Seed: 1}, cfg.dataDir, logger, stderr); err != nil {
			return errors.Join(err, closeStore())
		}
	}

	checks := []readinessCheck{{name: "eventstore", pinger: store}}
	mounts := []func(*gin.Engine){}
	var metrics []metricsSource
	cmds := commands.New(commands.Config{Store: store, Logger: logger})
	rs, err := openServeReadStore(ctx, cfg, logger)
	if err != nil {
		return errors.Join(err, closeStore())
	}
	pr, err := startProjector(ctx, store, rs, projectorOptions{churn: cfg.churn, warner: commandWarner{cmds}, wrap: cfg.wrapProjections}, logger)
	if err != nil {
		return errors.Join(err, closeStore())
	}
	checks = append(checks, pr.readiness()...)
	mounts = append(mounts, pr.mount)
	mounts = append(mounts, mountQueryAPI(keys, store, pr.rdb, logger))
	metrics = append(metrics, pr.writeMetrics)
	metrics = append(metrics, linkerMetrics)
	closeEventStore := closeStore
	closeStore = func() error { return pr.stop(cfg.shutdownTimeout, closeEventStore) }

	mounts = append(mounts, mountCommandAPI(keys, cmds, logger))
	mounts = append(mounts, mountAuditAPI(keys, store, logger))
	srv := newHTTPServer(newRouterWithMetrics(logger, checks, metrics, mounts...), logger)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("crm serve ready", "http", ln.Addr().String())

	select {
	case <-ctx.Done():
	case err := <-served:
		// The server stopped on its own: report it, but still close the store.
		return errors.Join(fmt.Errorf("http: %w", err), closeStore())
	}
	stopSignals()
	logger.Info("shutting down", "timeout", cfg.shutdownTimeout.String())

	var errs []error
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("http: %w", err))
	}
	if err := closeStore(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		logger.Info("stopped")
	}
	return errors.Join(errs...)
}

// openServeReadStore opens REDIS_URL's Redis, or without it starts the
// embedded in-memory read store (the read models are then rebuilt from
// the event log, as at every start).
func openServeReadStore(ctx context.Context, cfg serveConfig, logger *slog.Logger) (readStore, error) {
	if cfg.redisURL != "" {
		rdb, err := openRedis(cfg.redisURL)
		if err != nil {
			return readStore{}, err
		}
		return readStore{rdb: rdb, close: rdb.Close, desc: redactURL(cfg.redisURL)}, nil
	}
	mem, err := memredis.Start(ctx)
	if err != nil {
		return readStore{}, err
	}
	logger.Info("REDIS_URL is not set: embedded read store in memory (the read models are rebuilt from the event log at every start; production uses Redis)",
		"addr", mem.Addr())
	return readStore{rdb: mem.Client, close: mem.Close, desc: "embedded"}, nil
}

// closeWithin runs closeFn and waits at most timeout for it to return.
func closeWithin(timeout time.Duration, closeFn func() error) error {
	done := make(chan error, 1)
	go func() { done <- closeFn() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("did not finish within %s", timeout)
	}
}
