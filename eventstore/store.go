package eventstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// Config says which event store to use.
type Config struct {
	// URL is a KurrentDB connection string, e.g.
	// "esdb://localhost:2113?tls=false" or
	// "esdb+discover://node1:2113,node2:2113,node3:2113". Empty = start the
	// embedded server in-process.
	URL string
	// DataDir is the application's data directory; the embedded server keeps
	// its files in DataDir/eventstore. Required when URL is empty.
	DataDir string
	// Logger receives this package's and the client's logs (nil = discard).
	Logger *slog.Logger
}

// embeddedServer is what Store needs from the in-process server.
type embeddedServer interface {
	ConnectionString() string
	Close() error
}

// Store is a connection to the event store. It is safe for concurrent use.
type Store struct {
	log      *slog.Logger
	conf     *esdb.Configuration // for re-creating a dead client
	embedded embeddedServer      // nil when connected to an external node
	now      func() time.Time

	// ctx is cancelled when Close starts; every operation's context is
	// bound to it.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	client *esdb.Client
	closed bool
	ops    sync.WaitGroup

	pageSize     uint64
	pingTimeout  time.Duration
	closeTimeout time.Duration
	backoffMin   time.Duration
	backoffMax   time.Duration
}

// errStoreClosing is the cancellation cause of operations cut short by Close.
var errStoreClosing = errors.New("eventstore: store closing")

// Open connects to the event store described by cfg.
//
// With a URL it validates it (esdb.ParseConnectionString) and creates the
// official client; no I/O happens until the first operation (use Ping for
// readiness). Without a URL it starts the embedded server on 127.0.0.1 at a
// free port with its data in DataDir/eventstore, connects to it through the
// official client and pings it, so the returned Store is ready.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	base := cfg.Logger
	if base == nil {
		base = slog.New(slog.DiscardHandler)
	}
	logger := base.With("component", "eventstore")

	var (
		connString string
		embedded   embeddedServer
	)
	if cfg.URL != "" {
		if err := validateURL(cfg.URL); err != nil {
			return nil, err
		}
		connString = cfg.URL
	} else {
		if cfg.DataDir == "" {
			return nil, fmt.Errorf("%w: eventstore.Open: set Config.URL to a KurrentDB connection string (esdb://host:2113?tls=false) or Config.DataDir for the embedded event store", ErrInvalidArgument)
		}
		dir := filepath.Join(cfg.DataDir, "eventstore")
		srv, err := startEmbedded(dir, base.With("component", "eventstore-server"))
		if err != nil {
			return nil, fmt.Errorf("eventstore: start embedded server in %s: %w", dir, err)
		}
		embedded = srv
		connString = srv.ConnectionString()
	}

	conf, err := esdb.ParseConnectionString(connString)
	if err != nil {
		if embedded != nil {
			_ = embedded.Close()
		}
		return nil, urlError(connString, err)
	}
	conf.Logger = clientLogger(base.With("component", "esdb-client"))

	client, err := esdb.NewClient(conf)
	if err != nil {
		if embedded != nil {
			_ = embedded.Close()
		}
		return nil, urlError(connString, err)
	}

	sctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		log:          logger,
		conf:         conf,
		embedded:     embedded,
		now:          time.Now,
		ctx:          sctx,
		cancel:       cancel,
		client:       client,
		pageSize:     512,
		pingTimeout:  2 * time.Second,
		closeTimeout: 10 * time.Second,
		backoffMin:   100 * time.Millisecond,
		backoffMax:   5 * time.Second,
	}

	if embedded != nil {
		if err := s.Ping(ctx); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("eventstore: embedded server not answering: %w", err)
		}
		logger.Info("embedded event store ready", "dir", filepath.Join(cfg.DataDir, "eventstore"), "url", connString)
	} else {
		logger.Info("event store client created", "url", redactURL(connString))
	}
	return s, nil
}

// validateURL checks a connection string before handing it to the client,
// with errors that say what to fix.
func validateURL(raw string) error {
	if strings.TrimSpace(raw) != raw {
		return urlError(raw, errors.New("remove the surrounding white space"))
	}
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok || (scheme != "esdb" && scheme != "esdb+discover") {
		return urlError(raw, errors.New("the scheme must be esdb:// (single node or gossip seeds) or esdb+discover:// (DNS discovery)"))
	}
	if _, err := esdb.ParseConnectionString(raw); err != nil {
		return urlError(raw, err)
	}
	return nil
}

func urlError(raw string, err error) error {
	return fmt.Errorf("%w: event store URL %q: %v; expected a KurrentDB connection string such as esdb://localhost:2113?tls=false (insecure node) or esdb://admin:changeit@host:2113 (TLS, the default)",
		ErrInvalidArgument, redactURL(raw), err)
}

var userinfoRE = regexp.MustCompile(`(://[^:@/]*):[^@/]*@`)

// redactURL hides a password in a connection string.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
		return raw
	}
	return userinfoRE.ReplaceAllString(raw, "$1:xxxxx@")
}

// clientLogger routes the official client's printf-style logs to slog. The
// client is chatty: a warning per failed discovery attempt, an error for
// every failed or cancelled call. This package reports failures itself
// (returned errors, warnings on resubscription and client replacement), so
// the client's messages are demoted: errors to info (cancellations to
// debug), everything else to debug.
func clientLogger(l *slog.Logger) esdb.LoggingFunc {
	return func(level esdb.LogLevel, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		lvl := slog.LevelDebug
		if level == esdb.LogError && !strings.Contains(msg, "code = Canceled") && !strings.Contains(msg, "context canceled") {
			lvl = slog.LevelInfo
		}
		l.Log(context.Background(), lvl, msg)
	}
}

// Client returns the official client for operations this package does not
// wrap. Call it for each use rather than keeping the result: if the client
// dies permanently (the official client gives up for good when node
// discovery fails, e.g. while a node restarts), the Store replaces it.
func (s *Store) Client() *esdb.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client
}

// begin registers an operation and returns the client to use, a context
// bound to both ctx and the Store's lifetime, and a release func.
func (s *Store) begin(ctx context.Context) (*esdb.Client, context.Context, func(), error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, nil, ErrClosed
	}
	s.ops.Add(1)
	c := s.client
	s.mu.Unlock()

	opCtx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.ctx, func() { cancel(errStoreClosing) })
	release := func() {
		stop()
		cancel(nil)
		s.ops.Done()
	}
	return c, opCtx, release, nil
}

// noteErr replaces a permanently dead client. The official client closes
// itself for good when node discovery fails (every later call returns
// ErrorCodeConnectionClosed); a node restart must not take the application
// down with it.
func (s *Store) noteErr(c *esdb.Client, err error) {
	if code, ok := esdbCode(err); !ok || code != esdb.ErrorCodeConnectionClosed {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.client != c {
		return
	}
	nc, nerr := esdb.NewClient(s.conf)
	if nerr != nil {
		s.log.Error("cannot re-create event store client", "err", nerr)
		return
	}
	// The dead client is deliberately not closed: its state goroutine has
	// exited, and Close would close the channel other goroutines of the
	// client may still send to (a panic); it holds no live connection.
	s.client = nc
	s.log.Warn("event store client was closed by node discovery failure; created a new one", "err", err)
}

// Ping checks that the event store answers: a one-event backwards read of
// $all, bounded by a short timeout (2 s) or ctx, whichever ends first.
func (s *Store) Ping(ctx context.Context) error {
	c, opCtx, release, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer release()
	// A ping that times out is "unavailable", not the caller's deadline:
	// errors are wrapped against opCtx, not the timeout context.
	pingCtx, cancel := context.WithTimeout(opCtx, s.pingTimeout)
	defer cancel()
	rs, err := c.ReadAll(pingCtx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err == nil {
		defer rs.Close()
		for {
			if _, err = rs.Recv(); err != nil {
				break
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
	}
	s.noteErr(c, err)
	if pingCtx.Err() != nil && opCtx.Err() == nil {
		return &OpError{Op: "ping", Stream: "$all", Kind: ErrUnavailable, Err: err}
	}
	return s.wrapErr(opCtx, "ping", "$all", err)
}

// Close closes the client and then the embedded server, if any. Operations
// in flight (including SubscribeAll) are cancelled and return ErrClosed.
// Close is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	c := s.client
	s.mu.Unlock()

	s.cancel()
	done := make(chan struct{})
	go func() { s.ops.Wait(); close(done) }()
	var errs []error
	select {
	case <-done:
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("eventstore: close client: %w", err))
		}
	case <-time.After(s.closeTimeout):
		// An operation is stuck inside the client (e.g. node discovery, which
		// ignores contexts). Closing the client now could make it panic when
		// that operation completes, so leave it to the process exit.
		s.log.Warn("event store operations still running at close; leaving the client open", "timeout", s.closeTimeout)
	}
	if s.embedded != nil {
		if err := s.embedded.Close(); err != nil {
			errs = append(errs, fmt.Errorf("eventstore: close embedded server: %w", err))
		}
	}
	return errors.Join(errs...)
}
