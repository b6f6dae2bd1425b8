package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/projections"
	"github.com/crm-es/crm/projections/readmodels"
)

// allProjections is every projection the projector runs.
func allProjections() []projections.Projection {
	return readmodels.All()
}

// projectConfig is the configuration of "crm project" and "crm projections".
type projectConfig struct {
	dataDir         string
	httpAddr        string
	eventStoreURL   string
	redisURL        string
	logLevel        slog.Level
	shutdownTimeout time.Duration
	json            bool
}

func parseProjectConfig(name string, args []string, getenv func(string) string, stderr io.Writer, usage string, withHTTP bool) (projectConfig, []string, error) {
	var (
		cfg   projectConfig
		level string
	)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.dataDir, "data", envOr(getenv, "CRM_DATA_DIR", defaultDataDir), "data `directory` (env CRM_DATA_DIR)")
	if withHTTP {
		fs.StringVar(&cfg.httpAddr, "http", envOr(getenv, "CRM_HTTP_ADDR", defaultHTTPAddr), "HTTP listen `address` for /healthz, /readyz and /metrics (env CRM_HTTP_ADDR)")
		fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", defaultShutdownTimeout, "how long to wait for the projectors and the event store on shutdown")
	} else {
		fs.BoolVar(&cfg.json, "json", false, "print JSON instead of a table")
	}
	fs.StringVar(&level, "log-level", envOr(getenv, "CRM_LOG_LEVEL", defaultLogLevel), "log `level`: debug, info, warn or error (env CRM_LOG_LEVEL)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, nil, err
		}
		return cfg, nil, flagError{err}
	}
	cfg.eventStoreURL = strings.TrimSpace(getenv("EVENTSTORE_URL"))
	cfg.redisURL = strings.TrimSpace(getenv("REDIS_URL"))
	var errs []error
	if cfg.redisURL == "" {
		errs = append(errs, errors.New("REDIS_URL must be set (the embedded read store is not available yet)"))
	} else if err := validateRedisURL(cfg.redisURL); err != nil {
		errs = append(errs, err)
	}
	if err := validateEventStoreURL(cfg.eventStoreURL); err != nil {
		errs = append(errs, err)
	}
	if cfg.dataDir == "" {
		errs = append(errs, errors.New("--data (CRM_DATA_DIR) must not be empty"))
	}
	if withHTTP {
		if err := validateListenAddr(cfg.httpAddr); err != nil {
			errs = append(errs, fmt.Errorf("--http (CRM_HTTP_ADDR): %w", err))
		}
		if cfg.shutdownTimeout <= 0 {
			errs = append(errs, errors.New("--shutdown-timeout must be positive"))
		}
	}
	lvl, err := parseLogLevel(level)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.logLevel = lvl
	return cfg, fs.Args(), errors.Join(errs...)
}

const projectUsage = `Usage: crm project [flags]

Runs the projectors alone: every read model is kept up to date in Redis from
the event store's $all. Any number of projector processes may run; per
projection one holds a lease in Redis and the others stand by (taking over
within 10 s after the holder dies). Serves /healthz, /readyz and /metrics.

Environment:
  REDIS_URL        redis:// URL of the read store (required)
  EVENTSTORE_URL   esdb:// connection string (unset: embedded store under DATA)

Flags:
`

// runProject is "crm project".
func runProject(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, rest, err := parseProjectConfig("crm project", args, getenv, stderr, projectUsage, true)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected arguments: %s", strings.Join(rest, " "))
	}
	if code, done := configExit("crm project", err, stderr); done {
		return code
	}
	logger := newLogger(stderr, cfg.logLevel)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := project(ctx, stop, cfg, logger); err != nil {
		logger.Error("crm project failed", "err", err)
		return exitFailure
	}
	return exitOK
}

func project(ctx context.Context, stopSignals func(), cfg projectConfig, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	defer ln.Close()
	store, err := eventstore.Open(ctx, eventstore.Config{URL: cfg.eventStoreURL, DataDir: cfg.dataDir, Logger: logger})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("open event store: %w", err)
	}
	defer func() { _ = closeWithin(cfg.shutdownTimeout, store.Close) }()
	defer startAuditLinker(ctx, store, logger).stop(cfg.shutdownTimeout) // audit link streams (stops before the store closes)
	pr, err := startProjector(ctx, store, cfg.redisURL, logger)
	if err != nil {
		return err
	}
	srv := newHTTPServer(newRouterWithMetrics(logger, append([]readinessCheck{{name: "eventstore", pinger: store}}, pr.readiness()...), []metricsSource{pr.writeMetrics}, pr.mount), logger)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("crm project ready", "http", ln.Addr().String(), "projections", strings.Join(pr.rt.Names(), ","))
	var errs []error
	select {
	case <-ctx.Done():
	case err := <-served:
		errs = append(errs, fmt.Errorf("http: %w", err))
	}
	stopSignals()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := pr.stop(cfg.shutdownTimeout); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// projector is a running projections.Runtime.
type projector struct {
	rt     *projections.Runtime
	rdb    *redis.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func openRedis(redisURL string) (*redis.Client, error) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", stripURL(err))
	}
	return redis.NewClient(opt), nil
}

func newRuntime(store projections.Source, rdb *redis.Client, logger *slog.Logger) (*projections.Runtime, error) {
	return projections.NewRuntime(projections.RuntimeConfig{
		Store: store, Redis: rdb, Codec: commands.NewCodec(),
		Projections: allProjections(), Logger: logger,
	})
}

// startProjector runs the projectors in the background until stop.
func startProjector(ctx context.Context, store projections.Source, redisURL string, logger *slog.Logger) (*projector, error) {
	rdb, err := openRedis(redisURL)
	if err != nil {
		return nil, err
	}
	rt, err := newRuntime(store, rdb, logger)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &projector{rt: rt, rdb: rdb, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(p.done); _ = rt.Run(rctx) }()
	logger.Info("projectors started", "redis", redactURL(redisURL), "projections", strings.Join(rt.Names(), ","))
	return p, nil
}

// stop ends the projectors (releasing their leases) and closes Redis.
func (p *projector) stop(timeout time.Duration) error {
	p.cancel()
	err := closeWithin(timeout, func() error { <-p.done; return nil })
	return errors.Join(err, p.rdb.Close())
}

type pingerFunc func(ctx context.Context) error

func (f pingerFunc) Ping(ctx context.Context) error { return f(ctx) }

// readiness: Redis answers and every projection has a generation to serve.
func (p *projector) readiness() []readinessCheck {
	return []readinessCheck{
		{name: "redis", pinger: pingerFunc(func(ctx context.Context) error { return p.rdb.Ping(ctx).Err() })},
		{name: "projections", pinger: pingerFunc(p.rt.Ready)},
	}
}

// writeMetrics writes the projections' status gauges (a /metrics source).
func (p *projector) writeMetrics(ctx context.Context, w io.Writer) error {
	sts, err := p.rt.Status(ctx)
	if err != nil {
		fmt.Fprintf(w, "# status incomplete: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	}
	return projections.WriteMetrics(w, sts)
}

// mount adds GET /projections (JSON); /metrics takes writeMetrics.
func (p *projector) mount(r *gin.Engine) {
	r.GET("/projections", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Second)
		defer cancel()
		sts, err := p.rt.Status(ctx)
		c.Header("Cache-Control", "no-store")
		if err != nil && len(sts) == 0 {
			writeProblem(c, problem{Status: http.StatusServiceUnavailable, Detail: err.Error()})
			return
		}
		c.JSON(http.StatusOK, gin.H{"projections": sts})
	})
}

const projectionsUsage = `Usage: crm projections list [--json]
       crm projections rebuild NAME

list shows every projection: version, served generation, state, checkpoint,
head of $all, lag and parked events. rebuild asks the projector holding
NAME's lease to rebuild it blue/green: the new generation builds beside the
served one, which keeps answering until the alias switches.

Environment: REDIS_URL (required), EVENTSTORE_URL (list: unset = embedded
store under DATA, which must not be open in another process).

Flags:
`

// runProjections is "crm projections list|rebuild NAME".
func runProjections(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "rebuild") {
		fmt.Fprint(stderr, "crm projections: expected subcommand \"list\" or \"rebuild NAME\"\n\n"+projectionsUsage)
		return exitUsage
	}
	sub := args[0]
	cfg, rest, err := parseProjectConfig("crm projections "+sub, args[1:], getenv, stderr, projectionsUsage, false)
	if err == nil {
		switch {
		case sub == "rebuild" && len(rest) != 1:
			err = errors.New("rebuild takes exactly one projection NAME")
		case sub == "list" && len(rest) > 0:
			err = fmt.Errorf("unexpected arguments: %s", strings.Join(rest, " "))
		}
	}
	if code, done := configExit("crm projections", err, stderr); done {
		return code
	}
	logger := newLogger(stderr, cfg.logLevel)
	rdb, err := openRedis(cfg.redisURL)
	if err != nil {
		fmt.Fprintf(stderr, "crm projections: %v\n", err)
		return exitUsage
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	if sub == "rebuild" {
		name := rest[0]
		known := false
		for _, p := range allProjections() {
			known = known || p.Name() == name
		}
		if !known {
			fmt.Fprintf(stderr, "crm projections: no projection %q\n", name)
			return exitUsage
		}
		if err := projections.RequestRebuild(ctx, rdb, name); err != nil {
			fmt.Fprintf(stderr, "crm projections: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "rebuild of %s requested; the lease holder starts it within a second (see crm projections list)\n", name)
		return exitOK
	}

	store, err := eventstore.Open(ctx, eventstore.Config{URL: cfg.eventStoreURL, DataDir: cfg.dataDir, Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "crm projections: open event store: %v\n", err)
		return exitFailure
	}
	defer store.Close()
	rt, err := newRuntime(store, rdb, logger)
	if err != nil {
		fmt.Fprintf(stderr, "crm projections: %v\n", err)
		return exitFailure
	}
	sts, err := rt.Status(ctx)
	if err != nil && len(sts) == 0 {
		fmt.Fprintf(stderr, "crm projections: %v\n", err)
		return exitFailure
	}
	if cfg.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(sts)
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tVERSION\tACTIVE\tBUILDING\tSTATE\tCHECKPOINT\tHEAD\tLAG\tLAG_S\tPARKED\tERROR")
		for _, s := range sts {
			lag := fmt.Sprint(s.LagEvents)
			if s.LagEventsCapped {
				lag += "+"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%d\t%s\t%.1f\t%d\t%s\n", s.Name, s.Version, dash(s.Active), dash(s.Building),
				s.State, s.Checkpoint, s.Head, lag, s.LagSeconds, s.Parked, s.LastError)
		}
		_ = tw.Flush()
	}
	if err != nil {
		fmt.Fprintf(stderr, "crm projections: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
