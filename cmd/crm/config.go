package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/mattn/go-isatty"
	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/projections"
)

// Defaults shared by the subcommands.
const (
	defaultDataDir         = "./data"
	defaultHTTPAddr        = "127.0.0.1:8080"
	defaultEventStoreAddr  = "127.0.0.1:2113"
	defaultLogLevel        = "info"
	defaultShutdownTimeout = 15 * time.Second
)

// flagError marks a command-line error that the flag package has already
// reported (together with the usage text) on stderr.
type flagError struct{ err error }

func (e flagError) Error() string { return e.err.Error() }
func (e flagError) Unwrap() error { return e.err }

// parseFlags parses args with fs and rejects positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return flagError{err}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return nil
}

// configExit reports a configuration error of command cmd on stderr and
// returns the exit code to use; ok is false when there was no error.
func configExit(cmd string, err error, stderr io.Writer) (code int, ok bool) {
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, flag.ErrHelp):
		return exitOK, true
	}
	var fe flagError
	if !errors.As(err, &fe) {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "%s: %s\n", cmd, line)
		}
	}
	return exitUsage, true
}

// envOr returns the value of the environment variable key, or def when it is
// unset or empty.
func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// serveConfig is the configuration of "crm serve".
type serveConfig struct {
	dataDir         string
	httpAddr        string
	eventStoreURL   string // empty: embedded event store under dataDir
	redisURL        string // empty: embedded read store (in memory, rebuilt at start)
	apiKeysFile     string // empty: DATA/api-keys, created with an admin key on first start
	apiKeys         string // CRM_API_KEYS: the keys themselves (lines separated by newlines or ';')
	logLevel        slog.Level
	shutdownTimeout time.Duration
	demo            bool // load the demo data set when the event store is empty
	churn           churnConfig

	// wrapProjections, when set (tests only), wraps the projections the
	// projector runs (e.g. to slow a rebuild down).
	wrapProjections func([]projections.Projection) []projections.Projection
}

func parseServeConfig(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, error) {
	var (
		cfg   serveConfig
		level string
	)
	fs := flag.NewFlagSet("crm serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.dataDir, "data", envOr(getenv, "CRM_DATA_DIR", defaultDataDir), "data `directory` (env CRM_DATA_DIR)")
	fs.StringVar(&cfg.httpAddr, "http", envOr(getenv, "CRM_HTTP_ADDR", defaultHTTPAddr), "HTTP listen `address` (env CRM_HTTP_ADDR)")
	fs.StringVar(&level, "log-level", envOr(getenv, "CRM_LOG_LEVEL", defaultLogLevel), "log `level`: debug, info, warn or error (env CRM_LOG_LEVEL)")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", defaultShutdownTimeout, "how long to wait for in-flight requests, then for the event store, on shutdown")
	addChurnFlags(fs, &cfg.churn)
	fs.BoolVar(&cfg.demo, "demo", false, "load the demo data set (crm demo) first when the event store is empty (make run sets it)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: crm serve [flags]

Runs the HTTP API. Without EVENTSTORE_URL the event store is embedded and keeps
its files under DATA/eventstore.

Environment:
  EVENTSTORE_URL   esdb:// connection string of a KurrentDB node or cluster,
                   e.g. esdb://localhost:2113?tls=false (unset: embedded store)
  REDIS_URL        redis:// URL of the read store (unset: an embedded
                   in-memory store, the read models rebuilt from the event
                   log at every start); the projectors run in-process
  CRM_API_KEYS_FILE  API keys file, one "<key> <user-id> <role>[,<role>...]"
                   per line (unset: DATA/api-keys, created with one admin key
                   on first start and printed once on stderr)
  CRM_API_KEYS     the keys themselves, same format, lines separated by ';'
                   or newlines (instead of a file, e.g. from a secret store)

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return cfg, err
	}
	cfg.eventStoreURL = strings.TrimSpace(getenv("EVENTSTORE_URL"))
	cfg.redisURL = strings.TrimSpace(getenv("REDIS_URL"))
	cfg.apiKeysFile = strings.TrimSpace(getenv("CRM_API_KEYS_FILE"))
	cfg.apiKeys = getenv("CRM_API_KEYS")

	var errs []error
	if cfg.dataDir == "" {
		errs = append(errs, errors.New("--data (CRM_DATA_DIR) must not be empty"))
	}
	if cfg.apiKeysFile != "" && strings.TrimSpace(cfg.apiKeys) != "" {
		errs = append(errs, errors.New("set either CRM_API_KEYS_FILE or CRM_API_KEYS, not both"))
	}
	if err := validateListenAddr(cfg.httpAddr); err != nil {
		errs = append(errs, fmt.Errorf("--http (CRM_HTTP_ADDR): %w", err))
	}
	if err := validateEventStoreURL(cfg.eventStoreURL); err != nil {
		errs = append(errs, err)
	}
	if err := validateRedisURL(cfg.redisURL); err != nil {
		errs = append(errs, err)
	}
	lvl, err := parseLogLevel(level)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.logLevel = lvl
	if cfg.shutdownTimeout <= 0 {
		errs = append(errs, errors.New("--shutdown-timeout must be positive"))
	}
	errs = append(errs, cfg.churn.validate()...)
	return cfg, errors.Join(errs...)
}

// churnConfig configures the churn-risk scorer run beside the projectors.
// Zero values take the defaults.
// (Exported fields: the config tests compare configs with go-cmp.)
type churnConfig struct {
	Interval   time.Duration // full rescoring; 0 = churn.DefaultScoreInterval
	RuleMonths int           // the N-month rule's N; 0 = churn.DefaultRuleMonths
	NoWarnings bool          // score only, raise no churn warnings
}

func addChurnFlags(fs *flag.FlagSet, c *churnConfig) {
	fs.DurationVar(&c.Interval, "churn-interval", 0, "how often every customer's churn risk is recomputed (0: every hour); changed customers are rescored at once")
	fs.IntVar(&c.RuleMonths, "churn-rule-months", 0, "N of the churn rule: warn an active customer with no order for N months (0: 6)")
	fs.BoolVar(&c.NoWarnings, "no-churn-warnings", false, "compute churn risks but raise and clear no churn warnings (no ChurnWarningRaised or ChurnWarningCleared)")
}

func (c churnConfig) validate() []error {
	var errs []error
	if c.Interval < 0 {
		errs = append(errs, errors.New("--churn-interval must not be negative"))
	} else if c.Interval > 0 && c.Interval < time.Second {
		errs = append(errs, errors.New("--churn-interval must be at least 1s"))
	}
	if c.RuleMonths < 0 || c.RuleMonths > 120 {
		errs = append(errs, errors.New("--churn-rule-months must be from 1 to 120 (0: the default, 6)"))
	}
	return errs
}

// eventStoreServeConfig is the configuration of "crm eventstore serve".
type eventStoreServeConfig struct {
	dataDir         string
	listenAddr      string
	maxAppendSize   int
	logLevel        slog.Level
	shutdownTimeout time.Duration
}

func parseEventStoreServeConfig(args []string, getenv func(string) string, stderr io.Writer) (eventStoreServeConfig, error) {
	var (
		cfg   eventStoreServeConfig
		level string
	)
	fs := flag.NewFlagSet("crm eventstore serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.dataDir, "data", envOr(getenv, "CRM_DATA_DIR", defaultDataDir), "data `directory`; the store keeps its files under DIR/eventstore, as crm serve does (env CRM_DATA_DIR)")
	fs.StringVar(&cfg.listenAddr, "listen", defaultEventStoreAddr, "gRPC listen `address`")
	fs.IntVar(&cfg.maxAppendSize, "max-append-size", 0, "largest accepted append in `bytes` (0: the server's default)")
	fs.StringVar(&level, "log-level", envOr(getenv, "CRM_LOG_LEVEL", defaultLogLevel), "log `level`: debug, info, warn or error (env CRM_LOG_LEVEL)")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", defaultShutdownTimeout, "how long to wait for the server to stop on shutdown")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: crm eventstore serve [flags]

Runs the embedded event store as a standalone server that speaks the KurrentDB
gRPC protocol (insecure, single node). Connect with esdb://ADDRESS?tls=false.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return cfg, err
	}
	var errs []error
	if cfg.dataDir == "" {
		errs = append(errs, errors.New("--data (CRM_DATA_DIR) must not be empty"))
	}
	if err := validateListenAddr(cfg.listenAddr); err != nil {
		errs = append(errs, fmt.Errorf("--listen: %w", err))
	}
	if cfg.maxAppendSize < 0 {
		errs = append(errs, errors.New("--max-append-size must not be negative"))
	}
	lvl, err := parseLogLevel(level)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.logLevel = lvl
	if cfg.shutdownTimeout <= 0 {
		errs = append(errs, errors.New("--shutdown-timeout must be positive"))
	}
	return cfg, errors.Join(errs...)
}

// validateListenAddr checks that addr is host:port with a numeric port.
func validateListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, unwrapAddrError(err))
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: port must be a number from 0 to 65535", addr)
	}
	return nil
}

func unwrapAddrError(err error) error {
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return errors.New(ae.Err)
	}
	return err
}

// validateEventStoreURL checks an EVENTSTORE_URL with the official client's
// parser. The URL itself is never echoed, as it may carry credentials.
func validateEventStoreURL(s string) error {
	if s == "" {
		return nil
	}
	if _, err := esdb.ParseConnectionString(s); err != nil {
		return fmt.Errorf("EVENTSTORE_URL is not a valid KurrentDB connection string (want e.g. esdb://host:2113?tls=false): %w", stripURL(err))
	}
	return nil
}

// validateRedisURL checks a REDIS_URL with go-redis' parser.
func validateRedisURL(s string) error {
	if s == "" {
		return nil
	}
	if _, err := redis.ParseURL(s); err != nil {
		return fmt.Errorf("REDIS_URL is not a valid Redis URL (want e.g. redis://host:6379/0): %w", stripURL(err))
	}
	return nil
}

// stripURL drops the URL from a *url.Error so that credentials in it do not
// end up in messages or logs.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactURL hides the user information (user name and password) of a URL or
// connection string, for logging.
func redactURL(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return s
	}
	return s[:i+3] + "REDACTED@" + rest[at+1:]
}

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return slog.LevelInfo, fmt.Errorf("log level (CRM_LOG_LEVEL) %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// newLogger returns a logger writing to w: text when w is a terminal, JSON
// lines otherwise.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if f, ok := w.(*os.File); ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
