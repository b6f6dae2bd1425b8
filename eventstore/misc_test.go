package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestValidateURL(t *testing.T) {
	tests := []struct {
		url     string
		wantErr string // substring; "" = valid
	}{
		{"esdb://localhost:2113?tls=false", ""},
		{"esdb://admin:changeit@node1:2113", ""},
		{"esdb://node1:2113,node2:2113,node3:2113?tls=false", ""},
		{"esdb+discover://cluster.example:2113", ""},
		{"http://localhost:2113", "scheme must be esdb://"},
		{"localhost:2113", "scheme must be esdb://"},
		{"esdb://", "doesn't have an host"},
		{"esdb://localhost:abc", "port"},
		{"esdb://localhost:2113/path", "unsupported URL path"},
		{" esdb://localhost:2113", "white space"},
		{"esdb://:secret@localhost:2113", "empty username"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := validateURL(tt.url)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "esdb://localhost:2113?tls=false") {
				t.Errorf("error does not say what to fix: %v", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestOpenRejectsMissingConfig(t *testing.T) {
	_, err := Open(context.Background(), Config{})
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "DataDir") {
		t.Fatalf("err = %v", err)
	}
	_, err = Open(context.Background(), Config{URL: "http://x"})
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("err = %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"esdb://admin:changeit@host:2113?tls=true": "esdb://admin:xxxxx@host:2113?tls=true",
		"esdb://host:2113":                         "esdb://host:2113",
		"esdb://u:p@h1:2113,h2:2113":               "esdb://u:xxxxx@h1:2113,h2:2113",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseCurrentRevision(t *testing.T) {
	tests := []struct {
		msg    string
		want   int64
		wantOK bool
	}{
		{"wrong expected version: expecting '3' but got '7'", 7, true},
		{"[ErrorCodeWrongExpectedVersion] x: wrong expected version: expecting 'no_stream' but got '0'", 0, true},
		{"wrong expected version: expecting '3' but got 'no_stream'", -1, true},
		{"wrong expected version: expecting 'any' but got '-5'", 0, false},
		{"something else", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseCurrentRevision(errors.New(tt.msg))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseCurrentRevision(%q) = %d, %v; want %d, %v", tt.msg, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestClassifyRawStatus(t *testing.T) {
	tests := []struct {
		err  error
		want error
	}{
		{status.Error(codes.Unavailable, "transport is closing"), ErrUnavailable},
		{fmt.Errorf("wrapped: %w", status.Error(codes.Unavailable, "x")), ErrUnavailable},
		{status.Error(codes.DeadlineExceeded, "x"), ErrUnavailable},
		{status.Error(codes.PermissionDenied, "x"), ErrAccessDenied},
		{status.Error(codes.InvalidArgument, "x"), ErrInvalidArgument},
		{status.Error(codes.InvalidArgument, "Maximum Append Size of 1048576 Exceeded."), ErrTooLarge},
		{status.Error(codes.Internal, "x"), nil},
		{errors.New("plain"), nil},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestConflictError(t *testing.T) {
	var err error = fmt.Errorf("command: %w", &ConflictError{Stream: "s", Expected: 2, Current: 5})
	var ce *ConflictError
	if !errors.Is(err, ErrConflict) || !errors.Is(err, ErrWrongExpectedVersion) || !errors.As(err, &ce) || ce.Current != 5 {
		t.Fatalf("conflict not recognisable: %v", err)
	}
	if want := `eventstore: wrong expected version on stream "s": expected 2, current 5`; ce.Error() != want {
		t.Errorf("Error() = %q", ce.Error())
	}
	if got := (&ConflictError{Stream: "s", Expected: -1, Current: 0}).Error(); !strings.Contains(got, "expected no stream, current 0") {
		t.Errorf("Error() = %q", got)
	}
}

func TestOpError(t *testing.T) {
	cause := status.Error(codes.Unavailable, "connection refused")
	err := &OpError{Op: "append", Stream: "s", Kind: ErrUnavailable, Err: cause}
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrStreamDeleted) {
		t.Error("kind not matched")
	}
	if st, ok := status.FromError(unwrapStatus(err)); !ok || st.Code() != codes.Unavailable {
		t.Error("cause not reachable")
	}
	if want := `eventstore: append "s": unavailable: rpc error: code = Unavailable desc = connection refused`; err.Error() != want {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestFilterOptions(t *testing.T) {
	tests := []struct {
		name      string
		f         *Filter
		want      *esdb.SubscriptionFilter
		window    int
		interval  int
		wantError bool
	}{
		{name: "nil excludes system events", f: nil, want: esdb.ExcludeSystemEventsFilter(), window: 32, interval: 1},
		{name: "zero excludes system events", f: &Filter{}, want: esdb.ExcludeSystemEventsFilter(), window: 32, interval: 1},
		{name: "everything", f: &Filter{IncludeSystemEvents: true}, want: &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: ".*"}, window: 32, interval: 1},
		{name: "stream prefixes", f: &Filter{StreamPrefixes: []string{"customer-", "order-"}, MaxSearchWindow: 100, CheckpointInterval: 2},
			want: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{"customer-", "order-"}}, window: 100, interval: 2},
		{name: "event type regex", f: &Filter{EventTypeRegex: "^Customer"}, want: &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: "^Customer"}, window: 32, interval: 1},
		{name: "two expressions", f: &Filter{StreamRegex: "x", EventTypePrefixes: []string{"y"}}, wantError: true},
		{name: "negative window", f: &Filter{MaxSearchWindow: -1}, wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, _, err := tt.f.options()
			if tt.wantError {
				if !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, opts.Filter); diff != "" {
				t.Error(diff)
			}
			if opts.MaxSearchWindow != tt.window || opts.CheckpointInterval != tt.interval {
				t.Errorf("window %d interval %d", opts.MaxSearchWindow, opts.CheckpointInterval)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: 5 * time.Second}
	caps := []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000}
	for i, c := range caps {
		c *= time.Millisecond
		d := b.next()
		if d < c/2 || d > c {
			t.Fatalf("attempt %d: delay %v not in [%v, %v]", i, d, c/2, c)
		}
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Fatalf("after reset: %v", d)
	}
}

func TestCheckpoint(t *testing.T) {
	if !(Checkpoint{}).IsZero() || CheckpointAt(5).IsZero() {
		t.Error("IsZero")
	}
	if CheckpointAt(5).String() != "5" || (Checkpoint{Commit: 7, Prepare: 6}).String() != "7/6" {
		t.Error("String")
	}
	r := Recorded{Position: 9}
	if r.Checkpoint() != CheckpointAt(9) {
		t.Error("Recorded.Checkpoint")
	}
}

func TestWrapErrContext(t *testing.T) {
	storeCtx, closeStore := context.WithCancel(context.Background())
	s := &Store{ctx: storeCtx}
	unavailable := status.Error(codes.Unavailable, "x")

	live := context.Background()
	if err := s.wrapErr(live, "read", "s", unavailable); !errors.Is(err, ErrUnavailable) {
		t.Errorf("live ctx: %v", err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.wrapErr(cancelled, "read", "s", status.Error(codes.Canceled, "x")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
	if err := s.wrapErr(cancelled, "read", "s", status.Error(codes.PermissionDenied, "x")); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("a definite error wins over the context: %v", err)
	}
	closing, cancelCause := context.WithCancelCause(context.Background())
	closeStore()
	cancelCause(errStoreClosing)
	if err := s.wrapErr(closing, "read", "s", unavailable); !errors.Is(err, ErrClosed) {
		t.Errorf("store closing: %v", err)
	}
	if err := s.wrapErr(live, "read", "s", nil); err != nil {
		t.Errorf("nil error wrapped: %v", err)
	}
}
