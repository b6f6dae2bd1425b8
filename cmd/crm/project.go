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
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/projections"
	"github.com/crm-es/crm/projections/churn"
	"github.com/crm-es/crm/projections/readmodels"
)

// allProjections is every projection the projector runs: the read models
// and the churn signals.
func allProjections() []projections.Projection {
	return append(readmodels.All(), churn.NewProjection())
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
	churn           churnConfig
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
		addChurnFlags(fs, &cfg.churn)
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
		errs = append(errs, errors.New("REDIS_URL must be set: a separate projector process works on a Redis shared with crm serve "+
			"(set REDIS_URL for both); without REDIS_URL, crm serve runs the projectors itself on an embedded in-memory read store"))
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
		errs = append(errs, cfg.churn.validate()...)
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
within 10 s after the holder dies). The churn-risk scorer runs beside them
(several scorers raise at most one warning per customer and day). Serves
/healthz, /readyz and /metrics.

Environment:
  REDIS_URL        redis:// URL of the read store (required: shared with
                   crm serve; crm serve alone needs no Redis)
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
	gcPercent, memLimit := applyProjectorGC(getenv)
	logger.Debug("garbage collector", "gc_percent", gcPercent, "memory_limit_bytes", memLimit)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := project(ctx, stop, cfg, logger); err != nil {
		logger.Error("crm project failed", "err", err)
		return exitFailure
	}
	return exitOK
}

// The garbage collector settings of a projector process (crm project):
// rebuilds allocate briskly, and at Go's default GOGC=100 the collector
// takes about a fifth of the projector's CPU. A dedicated projector lets
// its heap grow 4× between collections instead, under a soft limit that
// keeps it inside its 500 MB budget (the rebuild benchmark runs with the
// same settings). GOGC and GOMEMLIMIT in the environment override them.
const (
	projectorGCPercent   = 400
	projectorMemoryLimit = 400 << 20
)

// applyProjectorGC applies the projector's garbage collector settings
// unless the environment sets GOGC or GOMEMLIMIT, and returns the settings
// in force (memory limit math.MaxInt64 when none).
func applyProjectorGC(getenv func(string) string) (gcPercent int, memoryLimit int64) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(projectorGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(projectorMemoryLimit)
	}
	gcPercent = debug.SetGCPercent(-1)
	debug.SetGCPercent(gcPercent)
	return gcPercent, debug.SetMemoryLimit(-1)
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
	// The audit linker (audit link streams) stops before the store closes.
	closeStore := withAuditLinker(ctx, store, logger, cfg.shutdownTimeout, func() error { return closeWithin(cfg.shutdownTimeout, store.Close) })
	rdb, err := openRedis(cfg.redisURL)
	if err != nil {
		return errors.Join(err, closeStore())
	}
	cmds := commands.New(commands.Config{Store: store, Logger: logger})
	pr, err := startProjector(ctx, store, readStore{rdb: rdb, close: rdb.Close, desc: redactURL(cfg.redisURL)},
		projectorOptions{churn: cfg.churn, warner: commandWarner{cmds}}, logger)
	if err != nil {
		return errors.Join(err, closeStore())
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
	if err := pr.stop(cfg.shutdownTimeout, closeStore); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// projector is a running projections.Runtime with the churn scorer.
type projector struct {
	rt        *projections.Runtime
	rdb       *redis.Client
	closeRead func() error
	cancel    context.CancelFunc
	done      chan struct{} // closed when the runtime, scorer and progress log have stopped
}

// readStore is the Redis the projectors write: an external one (REDIS_URL)
// or the embedded one. close releases it; desc names it in logs.
type readStore struct {
	rdb   *redis.Client
	close func() error
	desc  string
}

// projectorOptions are the projector's settings besides the stores.
type projectorOptions struct {
	churn churnConfig
	// warner raises churn warnings (nil: none).
	warner churn.Warner
	// wrap, when set (tests), wraps the projections run.
	wrap func([]projections.Projection) []projections.Projection
}

// commandWarner raises and clears churn warnings through the command side,
// as the user "churn-scorer".
type commandWarner struct{ h *commands.Handlers }

func (w commandWarner) WarnChurn(ctx context.Context, id uuid.UUID, cw domain.ChurnWarning, key string) (bool, error) {
	res, err := w.h.WarnChurn(ctx, commands.Options{Actor: commands.Actor{UserID: "churn-scorer", Roles: []string{"system"}}, IdempotencyKey: key}, id, cw)
	return res.Changed && !res.Replayed, err
}

func (w commandWarner) ClearChurn(ctx context.Context, id uuid.UUID, reason, key string) (bool, error) {
	res, err := w.h.ClearChurn(ctx, commands.Options{Actor: commands.Actor{UserID: "churn-scorer", Roles: []string{"system"}}, IdempotencyKey: key}, id, reason)
	return res.Changed && !res.Replayed, err
}

func openRedis(redisURL string) (*redis.Client, error) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", stripURL(err))
	}
	return redis.NewClient(opt), nil
}

func newRuntime(store projections.Source, rdb *redis.Client, projs []projections.Projection, logger *slog.Logger) (*projections.Runtime, error) {
	return projections.NewRuntime(projections.RuntimeConfig{
		Store: store, Redis: rdb, Codec: commands.NewCodec(),
		Projections: projs, Logger: logger,
	})
}

// startProjector runs the projectors and the churn scorer on rs in the
// background until stop, which also closes rs.
func startProjector(ctx context.Context, store projections.Source, rs readStore, o projectorOptions, logger *slog.Logger) (*projector, error) {
	projs := allProjections()
	if o.wrap != nil {
		projs = o.wrap(projs)
	}
	rt, err := newRuntime(store, rs.rdb, projs, logger)
	if err != nil {
		_ = rs.close()
		return nil, err
	}
	var w churn.Warner
	if !o.churn.NoWarnings && o.warner != nil {
		w = o.warner
	}
	sc, err := churn.NewScorer(churn.ScorerConfig{Redis: rs.rdb, Warner: w, Interval: o.churn.Interval,
		RuleMonths: o.churn.RuleMonths, Logger: logger})
	if err != nil {
		_ = rs.close()
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &projector{rt: rt, rdb: rs.rdb, closeRead: rs.close, cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(func() { _ = rt.Run(rctx) })
	wg.Go(func() { _ = sc.Run(rctx) })
	wg.Go(func() { p.logProgress(rctx, logger, 5*time.Second) })
	go func() { wg.Wait(); close(p.done) }()
	logger.Info("projectors started", "redis", rs.desc, "projections", strings.Join(rt.Names(), ","),
		"churn_warnings", w != nil)
	return p, nil
}

// stop ends the projectors (releasing their leases) and the scorer, and
// closes the read store. closeSource, when not nil, runs between telling
// them to stop and waiting for them: closing the event store there ends
// calls that would otherwise wait for an unreachable store (the read store
// stays open until they are done, for the lease releases).
func (p *projector) stop(timeout time.Duration, closeSource func() error) error {
	p.cancel()
	var errs []error
	if closeSource != nil {
		errs = append(errs, closeSource())
	}
	errs = append(errs, closeWithin(timeout, func() error { <-p.done; return nil }), p.closeRead())
	return errors.Join(errs...)
}

// buildingError says which projections have no generation to serve yet:
// they are (re)building from the event log (at the first start, after the
// read store lost its data, always with the embedded store).
type buildingError struct{ names []string }

func (e buildingError) Error() string {
	return "rebuilding from the event log: " + strings.Join(e.names, ", ")
}

// ReadinessDetail is what /readyz says about it.
func (e buildingError) ReadinessDetail() string {
	return "read models rebuilding from the event log: " + strings.Join(e.names, ", ")
}

// building reports a buildingError while some projection has no
// generation to serve.
func (p *projector) building(ctx context.Context) error {
	names := p.rt.Names()
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = projections.AliasKey(n)
	}
	vals, err := p.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return err
	}
	var missing []string
	for i, v := range vals {
		if v == nil {
			missing = append(missing, names[i])
		}
	}
	if len(missing) > 0 {
		return buildingError{names: missing}
	}
	return nil
}

// logProgress logs when the read models start (re)building from the log,
// how far they are every interval meanwhile, and when they are ready.
func (p *projector) logProgress(ctx context.Context, logger *slog.Logger, every time.Duration) {
	tick := time.NewTicker(min(every, time.Second))
	defer tick.Stop()
	var since, last time.Time
	for {
		err := p.building(ctx)
		var be buildingError
		switch {
		case ctx.Err() != nil:
			return
		case errors.As(err, &be):
			if since.IsZero() {
				since = time.Now()
				logger.Info("read models rebuilding from the event log; /readyz answers 503 until they have caught up",
					"projections", strings.Join(be.names, ","))
			} else if time.Since(last) >= every {
				last = time.Now()
				sctx, cancel := context.WithTimeout(ctx, every)
				sts, _ := p.rt.Status(sctx)
				cancel()
				for _, s := range sts {
					if s.Active == "" {
						logger.Info("rebuild progress", "projection", s.Name, "position", max(s.Checkpoint, s.BuildCheckpoint), "head", s.Head,
							"state", s.State, "elapsed", time.Since(since).Round(time.Second).String())
					}
				}
			}
		case err == nil && !since.IsZero():
			logger.Info("read models caught up", "elapsed", time.Since(since).Round(time.Millisecond).String())
			since, last = time.Time{}, time.Time{}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

type pingerFunc func(ctx context.Context) error

func (f pingerFunc) Ping(ctx context.Context) error { return f(ctx) }

// readiness: Redis answers and every projection has a generation to serve
// (a buildingError names those still rebuilding).
func (p *projector) readiness() []readinessCheck {
	return []readinessCheck{
		{name: "redis", pinger: pingerFunc(func(ctx context.Context) error { return p.rdb.Ping(ctx).Err() })},
		{name: "projections", pinger: pingerFunc(p.building)},
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
	rt, err := newRuntime(store, rdb, allProjections(), logger)
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
