package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
)

type pingFunc func(context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func get(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestHealthz(t *testing.T) {
	failing := pingFunc(func(context.Context) error { return errors.New("down") })
	r := newRouter(discardLogger(), []readinessCheck{{name: "eventstore", pinger: failing}})
	rec := get(t, r, http.MethodGet, "/healthz")
	if rec.Code != http.StatusOK {
		t.Fatalf("/healthz = %d, want 200 even when dependencies are down", rec.Code)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}

func TestReadyz(t *testing.T) {
	ok := pingFunc(func(context.Context) error { return nil })
	down := pingFunc(func(context.Context) error { return errors.New("connection refused") })
	hang := pingFunc(func(ctx context.Context) error { select {} }) // ignores ctx

	tests := []struct {
		name       string
		checks     []readinessCheck
		wantStatus int
		wantChecks []checkResult
		wantDetail string
	}{
		{
			name:       "all up",
			checks:     []readinessCheck{{"eventstore", ok}, {"redis", ok}},
			wantStatus: http.StatusOK,
			wantChecks: []checkResult{{Name: "eventstore", Status: "ok"}, {Name: "redis", Status: "ok"}},
		},
		{
			name:       "event store down",
			checks:     []readinessCheck{{"eventstore", down}, {"redis", ok}},
			wantStatus: http.StatusServiceUnavailable,
			wantChecks: []checkResult{{Name: "eventstore", Status: "failed", Error: "connection refused"}, {Name: "redis", Status: "ok"}},
			wantDetail: "not ready: eventstore unreachable",
		},
		{
			name:       "ping ignores its deadline",
			checks:     []readinessCheck{{"eventstore", hang}},
			wantStatus: http.StatusServiceUnavailable,
			wantChecks: []checkResult{{Name: "eventstore", Status: "failed", Error: "no answer: context deadline exceeded"}},
			wantDetail: "not ready: eventstore unreachable",
		},
		{
			name:       "no checks",
			wantStatus: http.StatusOK,
			wantChecks: []checkResult{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRouter(discardLogger(), nil)
			r.GET("/readyz-test", readyHandler(tt.checks, 50*time.Millisecond))
			rec := get(t, r, http.MethodGet, "/readyz-test")
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantStatus == http.StatusOK {
				var body struct {
					Status string        `json:"status"`
					Checks []checkResult `json:"checks"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
					t.Fatalf("body %q: %v", rec.Body, err)
				}
				if diff := cmp.Diff(tt.wantChecks, body.Checks); diff != "" || body.Status != "ready" {
					t.Errorf("status %q, checks (-want +got):\n%s", body.Status, diff)
				}
				return
			}
			var body problem
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if diff := cmp.Diff(tt.wantChecks, body.Checks); diff != "" {
				t.Errorf("checks (-want +got):\n%s", diff)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q, want application/problem+json", ct)
			}
			if body.Status != tt.wantStatus || body.Type != "about:blank" || body.Title != "Service Unavailable" || body.Detail != tt.wantDetail {
				t.Errorf("problem = %+v", body)
			}
		})
	}
}

func TestProblemForUnknownRouteAndMethod(t *testing.T) {
	r := newRouter(discardLogger(), nil)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/no/such/thing", http.StatusNotFound},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed},
	} {
		rec := get(t, r, tc.method, tc.path)
		if rec.Code != tc.status || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s = %d %q, want %d problem+json", tc.method, tc.path, rec.Code, rec.Header().Get("Content-Type"), tc.status)
		}
		var p problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != tc.status || p.Title == "" {
			t.Errorf("%s %s: problem %+v, err %v", tc.method, tc.path, p, err)
		}
	}
}

func TestPanicBecomesProblem(t *testing.T) {
	r := newRouter(discardLogger(), nil)
	r.GET("/boom", func(*gin.Context) { panic("boom") })
	rec := get(t, r, http.MethodGet, "/boom")
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("panic answered %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	b, _ := io.ReadAll(rec.Body)
	var p problem
	if err := json.Unmarshal(b, &p); err != nil || p.Status != 500 {
		t.Fatalf("problem %s: %v", b, err)
	}
}
