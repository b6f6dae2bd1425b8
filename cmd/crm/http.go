package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// readyTimeout bounds one /readyz probe (all checks run concurrently).
const readyTimeout = 2 * time.Second

// pinger is anything /readyz can probe: the event store, later Redis.
type pinger interface {
	Ping(ctx context.Context) error
}

// readinessCheck is one dependency that must answer for the service to be
// ready.
type readinessCheck struct {
	name   string
	pinger pinger
}

// checkResult is the outcome of one readiness check, as reported by /readyz.
type checkResult struct {
	Name   string `json:"name"`
	Status string `json:"status"` // "ok" or "failed"
	Error  string `json:"error,omitempty"`
}

// problem is an RFC 7807 problem detail (application/problem+json).
type problem struct {
	Type   string        `json:"type"`
	Title  string        `json:"title"`
	Status int           `json:"status"`
	Detail string        `json:"detail,omitempty"`
	Checks []checkResult `json:"checks,omitempty"` // extension member of /readyz
}

// writeProblem answers with p as application/problem+json and aborts the
// handler chain.
func writeProblem(c *gin.Context, p problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	c.Header("Content-Type", "application/problem+json")
	c.JSON(p.Status, p)
	c.Abort()
}

// newRouter builds the HTTP handler: the open ops endpoints (/healthz,
// /readyz, /metrics, /openapi.json) and whatever the mount functions add
// (the /v1 API). It switches Gin to release mode (no debug output on
// stdout).
func newRouter(logger *slog.Logger, checks []readinessCheck, mounts ...func(*gin.Engine)) *gin.Engine {
	return newRouterWithMetrics(logger, checks, nil, mounts...)
}

// newRouterWithMetrics is newRouter whose /metrics also writes what the
// sources write (the projectors' status) after the HTTP metrics.
func newRouterWithMetrics(logger *slog.Logger, checks []readinessCheck, sources []metricsSource, mounts ...func(*gin.Engine)) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// Trust no proxy headers: ClientIP is the peer address.
	_ = r.SetTrustedProxies(nil)
	m := newHTTPMetrics()
	// Metrics outermost: a recovered panic is counted as the 500 it answers.
	r.Use(m.middleware(), recoverer(logger), requestLogger(logger))
	r.NoRoute(func(c *gin.Context) {
		writeProblem(c, problem{Status: http.StatusNotFound, Detail: "no such resource: " + c.Request.URL.Path})
	})
	r.NoMethod(func(c *gin.Context) {
		writeProblem(c, problem{Status: http.StatusMethodNotAllowed, Detail: c.Request.Method + " is not allowed on " + c.Request.URL.Path})
	})
	r.GET("/healthz", healthHandler())
	r.GET("/readyz", readyHandler(checks, readyTimeout))
	r.GET("/metrics", metricsHandler(m, sources))
	r.GET("/openapi.json", openAPIHandler())
	for _, mount := range mounts {
		mount(r)
	}
	if logger.Enabled(context.Background(), slog.LevelDebug) {
		routes := make([]string, 0, len(r.Routes()))
		for _, rt := range r.Routes() {
			routes = append(routes, rt.Method+" "+rt.Path)
		}
		slices.Sort(routes)
		logger.Debug("http routes", "routes", routes)
	}
	return r
}

// healthHandler answers 200 while the process is up.
func healthHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	}
}

// readyHandler answers 200 when every check pings within timeout, and a 503
// problem listing the failed checks otherwise.
func readyHandler(checks []readinessCheck, timeout time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), timeout)
		defer cancel()
		results := make([]checkResult, len(checks))
		details := make([]string, len(checks)) // why a reachable check is not ready
		var wg sync.WaitGroup
		for i, chk := range checks {
			wg.Go(func() {
				results[i] = checkResult{Name: chk.name, Status: "ok"}
				if err := ping(ctx, chk.pinger); err != nil {
					results[i].Status = "failed"
					results[i].Error = err.Error()
					var nr interface{ ReadinessDetail() string }
					if errors.As(err, &nr) {
						details[i] = nr.ReadinessDetail()
					}
				}
			})
		}
		wg.Wait()

		c.Header("Cache-Control", "no-store")
		var failed, why []string
		for i, r := range results {
			switch {
			case r.Status == "ok":
			case details[i] != "":
				why = append(why, details[i])
			default:
				failed = append(failed, r.Name)
			}
		}
		if len(failed)+len(why) == 0 {
			c.JSON(http.StatusOK, gin.H{"status": "ready", "checks": results})
			return
		}
		if len(failed) > 0 {
			why = append([]string{strings.Join(failed, ", ") + " unreachable"}, why...)
		}
		writeProblem(c, problem{
			Status: http.StatusServiceUnavailable,
			Detail: "not ready: " + strings.Join(why, "; "),
			Checks: results,
		})
	}
}

// ping runs p.Ping but gives up when ctx ends, even if Ping ignores ctx.
func ping(ctx context.Context, p pinger) error {
	done := make(chan error, 1)
	go func() { done <- p.Ping(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer: %w", ctx.Err())
	}
}

// requestLogger logs one line per request; health probes only at debug level.
// Query strings and headers are not logged.
func requestLogger(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		level := slog.LevelInfo
		path := c.Request.URL.Path
		if path == "/healthz" || path == "/readyz" || path == "/metrics" {
			level = slog.LevelDebug
		}
		logger.LogAttrs(c.Request.Context(), level, "http request",
			slog.String("method", c.Request.Method),
			slog.String("path", path),
			slog.Int("status", c.Writer.Status()),
			slog.Int("bytes", c.Writer.Size()),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("remote", c.ClientIP()),
		)
	}
}

// recoverer turns a panic in a handler into a logged error and a 500 problem.
func recoverer(logger *slog.Logger) gin.HandlerFunc {
	// No writer: Gin's own panic log is replaced by ours. Gin already skips
	// this handler for broken connections (EPIPE, ECONNRESET, ErrAbortHandler).
	return gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, rec any) {
		logger.ErrorContext(c.Request.Context(), "panic in http handler",
			"method", c.Request.Method, "path", c.Request.URL.Path,
			"panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
		writeProblem(c, problem{Status: http.StatusInternalServerError, Detail: "internal error"})
	})
}

// newHTTPServer returns the http.Server for h. There is no write timeout, as
// later endpoints stream (NDJSON export, long polls).
func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}
