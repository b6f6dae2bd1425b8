package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/crm-es/crm/eventstore/server"
)

// runEventStoreServe is "crm eventstore serve": the embedded event store as a
// standalone KurrentDB-compatible gRPC server.
func runEventStoreServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseEventStoreServeConfig(args, getenv, stderr)
	if code, done := configExit("crm eventstore serve", err, stderr); done {
		return code
	}
	logger := newLogger(stderr, cfg.logLevel)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serveEventStore(ctx, stop, cfg, logger); err != nil {
		logger.Error("crm eventstore serve failed", "err", err)
		return exitFailure
	}
	return exitOK
}

func serveEventStore(ctx context.Context, stopSignals func(), cfg eventStoreServeConfig, logger *slog.Logger) error {
	dir := filepath.Join(cfg.dataDir, "eventstore")
	logger.Info("opening event store", "dir", dir)
	srv, err := server.Open(server.Config{
		Dir:           dir,
		Logger:        logger.With("component", "eventstore-server"),
		MaxAppendSize: cfg.maxAppendSize,
	})
	if err != nil {
		return fmt.Errorf("open event store: %w", err)
	}
	closeServer := func() error {
		if err := closeWithin(cfg.shutdownTimeout, srv.Close); err != nil {
			return fmt.Errorf("close event store: %w", err)
		}
		return nil
	}

	ln, err := net.Listen("tcp", cfg.listenAddr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen: %w", err), closeServer())
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("event store listening",
		"addr", ln.Addr().String(),
		"connection_string", connectionString(ln.Addr()))

	select {
	case <-ctx.Done():
	case err := <-served:
		return errors.Join(fmt.Errorf("serve: %w", err), closeServer())
	}
	stopSignals()
	logger.Info("shutting down", "timeout", cfg.shutdownTimeout.String())
	// Close stops the gRPC server and the store; Serve's return value after
	// that carries no information.
	if err := closeServer(); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// connectionString is the esdb:// connection string for a server listening
// on addr; an unspecified host (0.0.0.0, ::) is shown as loopback.
func connectionString(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "esdb://" + addr.String() + "?tls=false"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "esdb://" + net.JoinHostPort(host, port) + "?tls=false"
}
